// Writes oclif.manifest.json (generated, never committed). Without it, oclif imports every command file to
// find the one it runs, so `lsmns plan` would load the Kubernetes client that `lsmns controller` needs.
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
writeFileSync(`${root}/oclif.manifest.json`, `${JSON.stringify(plugin.manifest)}\n`);
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
