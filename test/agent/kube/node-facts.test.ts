import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeHarness } from './helpers.js';

describe('agent/kube/node-facts', () => {
  const h = nodeHarness();

  it('publishes node facts as labels and an annotation', async () => {
    writeFileSync(join(h.dir, 'shim'), '#!/bin/sh\n');
    await h.startAgent();
    const node = h.srv.getObject('nodes', null, 'node-a')!;
    assert.equal(node.metadata.labels!['lsmns.io/apparmor'], 'true');
    assert.equal(node.metadata.labels!['lsmns.io/shim-installed'], 'true');
    assert.equal(node.metadata.labels!['lsmns.io/hook-installed'], 'false');
    assert.equal(node.metadata.labels!['lsmns.io/runtime-handler'], 'true');
    const facts = JSON.parse(node.metadata.annotations!['lsmns.io/node-facts']!) as { lsms: string[]; kernel: string };
    assert.deepEqual(facts.lsms, (await h.port.probe()).lsms);
  });
});
