import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimKernel } from '../../../src/kernel/sim/port.js';
import { errnoOf, fileBytes, tempDir } from './helpers.js';

const PORT_JS = fileURLToPath(new URL('../../../src/kernel/sim/port.js', import.meta.url));

/** A separate Node process that creates namespaces through the port: the store must serialise them. */
function worker(path: string, prefix: string, n: number): Promise<number> {
  const code = `const { SimKernel } = await import(${JSON.stringify(PORT_JS)});
    const k = new SimKernel({ path: ${JSON.stringify(path)} });
    for (let i = 0; i < ${n}; i++) await k.createNamespace('${prefix}' + i);`;
  return new Promise((resolve) => spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' }).on('exit', (c) => resolve(c ?? 1)));
}

describe('kernel/sim/store', () => {
  it('shares one kernel between processes without losing updates', async function () {
    this.timeout(60_000);
    const path = join(tempDir(), 'sim.json');
    const codes = await Promise.all(['a', 'b', 'c', 'd'].map((p) => worker(path, p, 15)));
    assert.deepEqual(codes, [0, 0, 0, 0]);
    const k = new SimKernel({ path });
    const names = await k.listNamespaces();
    assert.equal(names.length, 60);
    const ids = new Set(Object.values(k.store.read().root.children).map((n) => n.id));
    assert.equal(ids.size, 60, 'every namespace got its own id');
  });

  it('writes nothing when an operation fails', async () => {
    const path = join(tempDir(), 'sim.json');
    const k = new SimKernel({ path });
    await k.createNamespace('a');
    const before = fileBytes(path);
    assert.equal(await errnoOf(k.createNamespace('a')), 'EEXIST');
    assert.equal(await errnoOf(k.removeNamespace('zzz')), 'ENOENT');
    assert.equal(fileBytes(path), before);
  });

  it('reads a missing file as a fresh boot without creating it', async () => {
    const path = join(tempDir(), 'sim.json');
    const f = await new SimKernel({ path, boot: { kernel: '6.12.0' } }).probe();
    assert.equal(f.kernel.release, '6.12.0');
    assert.equal(fileBytes(path), '<missing>');
  });

  it('refuses boot flags that differ from the running sim', async () => {
    const path = join(tempDir(), 'sim.json');
    await new SimKernel({ path }).createNamespace('a');
    await assert.rejects(new SimKernel({ path, boot: { lsm: 'capability,selinux' } }).probe(), /was booted with lsm=lockdown/);
  });
});
