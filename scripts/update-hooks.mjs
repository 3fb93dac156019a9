#!/usr/bin/env node
// Rewrites the oci-hooks JSON shipped under hooks/hooks.d/ from src/install/hooks-d.ts (after `make build`).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { shippedHooksD } = await import('../dist/src/install/hooks-d.js');
const { resolveOptions } = await import('../dist/src/config.js');
for (const f of shippedHooksD(resolveOptions({}, {}), `${root}/hooks`)) {
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(f.path, f.content);
  console.log(f.path.slice(root.length + 1));
}
