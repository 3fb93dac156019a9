// Run in the guest as its own process (a pending exec label would confine whatever it runs next): the shim's
// path, a synchronous write of "exec LABEL" to its own attr from the main thread, then a child that reads its
// label; and the same write from a libuv worker thread, which AppArmor refuses.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { SecurityfsKernel } from '../../../src/kernel/securityfs/port.js';
import { LsmnsError } from '../../../src/errors.js';

const label = process.argv[2]!;
const k = new SecurityfsKernel({ securityfs: '/sys/kernel/security', stateDir: '/tmp/lsmns-self' });
let asyncWorker: string;
try {
  await writeFile('/proc/thread-self/attr/apparmor/exec', `exec ${label}`);
  asyncWorker = 'ok';
} catch (e) {
  asyncWorker = (e as NodeJS.ErrnoException).code ?? String(e);
}
let mainThread: string;
try {
  await k.writeTaskAttr('self', 'apparmor/exec', `exec ${label}`);
  mainThread = 'ok';
} catch (e) {
  mainThread = e instanceof LsmnsError ? e.errno ?? e.message : String(e);
}
// The child writes its label to a file: its inherited stdout would not survive the profile's revalidation.
spawnSync('/bin/sh', ['-c', 'cat /proc/self/attr/current > /tmp/lsmns-self-label'], { stdio: 'ignore' });
const childLabel = readFileSync('/tmp/lsmns-self-label', 'utf8').trim();
process.stdout.write(JSON.stringify({ asyncWorker, mainThread, childLabel, ownLabel: await k.readTaskLabel(process.pid) }));
