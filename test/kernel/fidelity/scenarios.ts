// The differential fidelity suite: one set of scenarios, expressed only through the kernel port, that runs on
// the sim (make test-unit, against captures from real kernels) and on a real AppArmor kernel in the qemu guest
// (make test-qemu, live). What a scenario records is what a user of the port can observe: labels, listings,
// booleans and errnos, never pids or timings. Scenarios run in order on one kernel and clean up after
// themselves, except the root-namespace profile "outer" (the port has no profile removal), which stays.

import { LsmnsError } from '../../../src/errors.js';
import type { KernelPort } from '../../../src/kernel/port.js';
import { digestOf, type PolicySource } from '../../../src/policy/store.js';

export type ObsValue = string | string[] | boolean;
export interface Observation { step: string; value: ObsValue }
export interface ScenarioResult { observations: Observation[]; ms: number; error?: string }

function policy(ref: string, text: string): PolicySource {
  return { ref, path: `/fidelity/${ref}.aa`, text, digest: digestOf(text) };
}

/** A tenant profile, a replacement that turns p to complain and adds q, a host profile for stacking, and a profile without a signal rule. */
const RECV = '  signal (receive) peer=unconfined,\n';
export const TENANT = policy('tenant', `profile p flags=(attach_disconnected) {\n  /** mrwlkix,\n${RECV}  deny /secret r,\n}\n`);
export const TENANT_V2 = policy('tenant-v2', `profile p flags=(attach_disconnected, complain) {\n  /** mrwlkix,\n${RECV}}\n\nprofile q flags=(attach_disconnected) {\n  /** mrwlkix,\n${RECV}}\n`);
export const HOST_OUTER = policy('outer', `profile outer flags=(attach_disconnected) {\n  /** mrwlkix,\n${RECV}  change_profile,\n  deny /outer-secret r,\n}\n`);
export const SEALED = policy('sealed', 'profile sealed flags=(attach_disconnected) {\n  /** mrwlkix,\n}\n');

class Recorder {
  readonly observations: Observation[] = [];
  private tasks: number[] = [];
  constructor(readonly k: KernelPort) {}

  note(step: string, value: ObsValue): void {
    this.observations.push({ step, value });
  }

  /** Records "ok" or the errno the port's LsmnsError carries; anything else is a harness failure. */
  async errno(step: string, p: Promise<unknown>): Promise<boolean> {
    try {
      await p;
      this.note(step, 'ok');
      return true;
    } catch (e) {
      if (e instanceof LsmnsError && e.errno) {
        this.note(step, e.errno);
        return false;
      }
      throw e;
    }
  }

  async value(step: string, p: Promise<ObsValue>): Promise<void> {
    this.note(step, await p);
  }

  /** Starts a task under a label (as a runtime init does) and records the label the root namespace reads. */
  async spawn(step: string, execLabel: string | undefined, via?: 'apparmor/exec' | 'exec' | 'syscall'): Promise<number | null> {
    try {
      const t = await this.k.spawnTask({ comm: 'fidelity', execLabel, via });
      this.tasks.push(t.pid);
      this.note(step, t.label);
      return t.pid;
    } catch (e) {
      if (e instanceof LsmnsError && e.errno) {
        this.note(step, e.errno);
        return null;
      }
      throw e;
    }
  }

  /** Ends one task and records whether the kernel let it. */
  async end(step: string, pid: number): Promise<void> {
    if (await this.errno(step, this.k.endTask(pid))) this.tasks = this.tasks.filter((t) => t !== pid);
  }

  async endAll(): Promise<void> {
    for (const pid of this.tasks.splice(0)) await this.k.endTask(pid).catch(() => {});
  }
}

export interface Scenario {
  name: string;
  covers: string;
  run(r: Recorder): Promise<void>;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'namespace-lifecycle',
    covers: 'create, EEXIST, missing parent, nesting, listings, recursive remove, ENOENT on a missing namespace',
    async run(r) {
      await r.errno('create a', r.k.createNamespace('a'));
      await r.errno('create a again', r.k.createNamespace('a'));
      await r.errno('create the root namespace', r.k.createNamespace(''));
      await r.errno('create x//y (no parent)', r.k.createNamespace('x//y'));
      await r.errno('create a//b', r.k.createNamespace('a//b'));
      await r.errno('create a//b//c', r.k.createNamespace('a//b//c'));
      await r.value('list root', r.k.listNamespaces(''));
      await r.value('list a', r.k.listNamespaces('a'));
      await r.value('a//b//c exists', r.k.namespaceExists('a//b//c'));
      await r.errno('remove a (with children)', r.k.removeNamespace('a'));
      await r.value('a exists after remove', r.k.namespaceExists('a'));
      await r.value('a//b exists after remove', r.k.namespaceExists('a//b'));
      await r.errno('remove a again', r.k.removeNamespace('a'));
      await r.errno('remove a missing namespace', r.k.removeNamespace('nope'));
      await r.value('list root at the end', r.k.listNamespaces(''));
    },
  },
  {
    name: 'nest-to-depth-limit',
    covers: 'nesting until the kernel refuses: the deepest level and the errno',
    async run(r) {
      const parts: string[] = [];
      let refused = 'none';
      for (let level = 1; level <= 40; level++) {
        parts.push(`d${level}`);
        try {
          await r.k.createNamespace(parts.join('//'));
        } catch (e) {
          if (!(e instanceof LsmnsError && e.errno)) throw e;
          refused = `level ${level}: ${e.errno}`;
          parts.pop();
          break;
        }
      }
      r.note('deepest level created', String(parts.length));
      r.note('first refusal', refused);
      await r.value('deepest exists', r.k.namespaceExists(parts.join('//')));
      await r.errno('remove d1 (the whole chain)', r.k.removeNamespace('d1'));
      await r.value('d1 exists after remove', r.k.namespaceExists('d1'));
    },
  },
  {
    name: 'policy-load-replace-remove',
    covers: 'load into a namespace, replace (mode change, new profile), reload, listings, load into a missing namespace, remove',
    async run(r) {
      await r.errno('create t', r.k.createNamespace('t'));
      await r.value('load tenant', r.k.loadPolicy('t', TENANT));
      await r.value('profiles in t', r.k.listProfiles('t'));
      await r.value('profiles listing', r.k.profilesListing());
      await r.value('replace with tenant-v2', r.k.loadPolicy('t', TENANT_V2));
      await r.value('profiles in t after replace', r.k.listProfiles('t'));
      await r.value('profiles listing after replace', r.k.profilesListing());
      await r.value('load tenant again', r.k.loadPolicy('t', TENANT));
      await r.value('profiles listing after reload', r.k.profilesListing());
      await r.errno('load into a missing namespace', r.k.loadPolicy('nope', TENANT));
      await r.errno('remove t', r.k.removeNamespace('t'));
      await r.value('profiles in t after remove', r.k.listProfiles('t'));
      await r.value('profiles listing after remove', r.k.profilesListing());
    },
  },
  {
    name: 'transitions',
    covers: 'exec transitions through attr/apparmor/exec, attr/exec and lsm_set_self_attr; namespace unconfined; a profile missing in the root namespace',
    async run(r) {
      await r.errno('create t', r.k.createNamespace('t'));
      await r.value('load tenant', r.k.loadPolicy('t', TENANT));
      await r.spawn('no label', undefined);
      await r.spawn('exec :t:p via attr/apparmor/exec', ':t:p', 'apparmor/exec');
      await r.spawn('exec :t:p via attr/exec', ':t:p', 'exec');
      await r.spawn('exec :t:p via lsm_set_self_attr', ':t:p', 'syscall');
      await r.spawn('exec :t://p (explicit separator)', ':t://p');
      await r.spawn('exec :t:unconfined', ':t:unconfined');
      await r.spawn('exec p (bare name, root namespace has no p)', 'p');
      await r.endAll();
      await r.errno('remove t', r.k.removeNamespace('t'));
    },
  },
  {
    name: 'stacked-transitions',
    covers: 'stacking on unconfined and under a root-namespace host profile, two namespaces in one stack, the listing with a host profile',
    async run(r) {
      await r.errno('create t', r.k.createNamespace('t'));
      await r.errno('create u', r.k.createNamespace('u'));
      await r.value('load tenant into t', r.k.loadPolicy('t', TENANT));
      await r.value('load tenant-v2 into u', r.k.loadPolicy('u', TENANT_V2));
      await r.value('load outer into the root namespace', r.k.loadPolicy('', HOST_OUTER));
      await r.spawn('exec &:t:p (stack on unconfined)', '&:t:p');
      await r.spawn('exec outer', 'outer');
      await r.spawn('exec outer//&:t:p', 'outer//&:t:p');
      await r.spawn('exec :t:p//&outer (unsorted)', ':t:p//&outer');
      await r.spawn('exec outer//&:t:p//&:u:q', 'outer//&:t:p//&:u:q');
      await r.spawn('exec outer//&:u:p (complain under enforce)', 'outer//&:u:p');
      await r.spawn('exec &outer', '&outer');
      await r.value('profiles listing', r.k.profilesListing());
      await r.endAll();
      await r.errno('remove t', r.k.removeNamespace('t'));
      await r.errno('remove u', r.k.removeNamespace('u'));
    },
  },
  {
    name: 'write-other-task-attr',
    covers: 'writes to another task\'s attr files are refused even for root; its label stays',
    async run(r) {
      await r.errno('create t', r.k.createNamespace('t'));
      await r.value('load tenant', r.k.loadPolicy('t', TENANT));
      const pid = await r.spawn('start an unconfined task', undefined);
      if (pid === null) return;
      await r.errno('write its attr/apparmor/exec', r.k.writeTaskAttr(pid, 'apparmor/exec', 'exec :t:p'));
      await r.errno('write its attr/exec', r.k.writeTaskAttr(pid, 'exec', 'exec :t:p'));
      await r.errno('write its attr/current', r.k.writeTaskAttr(pid, 'current', 'changeprofile :t:p'));
      await r.errno('write its attr/apparmor/current', r.k.writeTaskAttr(pid, 'apparmor/current', 'changeprofile :t:p'));
      await r.value('its label after the writes', r.k.readTaskLabel(pid));
      await r.endAll();
      await r.errno('remove t', r.k.removeNamespace('t'));
    },
  },
  {
    name: 'rmdir-with-task-inside',
    covers: 'rmdir succeeds with confined tasks inside; their labels fall back to the namespace\'s unconfined, stacked or not',
    async run(r) {
      await r.errno('create busy', r.k.createNamespace('busy'));
      await r.errno('create busy2', r.k.createNamespace('busy2'));
      await r.value('load tenant into busy', r.k.loadPolicy('busy', TENANT));
      await r.value('load tenant into busy2', r.k.loadPolicy('busy2', TENANT));
      const a = await r.spawn('exec :busy:p', ':busy:p');
      const b = await r.spawn('exec outer//&:busy2:p', 'outer//&:busy2:p');
      const c = await r.spawn('exec &:busy2:p (stack on unconfined)', '&:busy2:p');
      await r.errno('remove busy with a task inside', r.k.removeNamespace('busy'));
      await r.errno('remove busy2 with a task inside', r.k.removeNamespace('busy2'));
      if (a !== null) await r.value('label of the task that was in busy', r.k.readTaskLabel(a));
      if (b !== null) await r.value('label of the stacked task that was in busy2', r.k.readTaskLabel(b));
      if (c !== null) await r.value('label of the task stacked on unconfined that was in busy2', r.k.readTaskLabel(c));
      await r.value('busy exists', r.k.namespaceExists('busy'));
      await r.value('namespaces at the end', r.k.listNamespaces(''));
      await r.endAll();
    },
  },
  {
    name: 'end-tasks',
    covers: 'ending a confined task (root may, even under a profile without signal rules), then it is gone',
    async run(r) {
      await r.errno('create s', r.k.createNamespace('s'));
      await r.value('load sealed', r.k.loadPolicy('s', SEALED));
      const pid = await r.spawn('exec :s:sealed', ':s:sealed');
      if (pid === null) return;
      await r.end('end the sealed task', pid);
      await r.errno('read its label after the end', r.k.readTaskLabel(pid));
      await r.errno('end it again', r.k.endTask(pid));
      await r.errno('remove s', r.k.removeNamespace('s'));
    },
  },
  {
    // Last: a write to this task's own attr that the kernel accepted would confine the runner's next exec.
    name: 'bad-label-missing-namespace-missing-profile',
    covers: 'malformed commands and labels, a missing namespace, a missing profile, the display interface on mainline',
    async run(r) {
      await r.errno('create t', r.k.createNamespace('t'));
      await r.value('load tenant', r.k.loadPolicy('t', TENANT));
      await r.errno('self: bogus command', r.k.writeTaskAttr('self', 'apparmor/exec', 'bogus'));
      await r.errno('self: changeprofile on the exec file', r.k.writeTaskAttr('self', 'apparmor/exec', 'changeprofile :t:p'));
      await r.errno('self: exec :nons:x (missing namespace)', r.k.writeTaskAttr('self', 'apparmor/exec', 'exec :nons:x'));
      await r.errno('self: exec &:nons:x (missing namespace, stacked)', r.k.writeTaskAttr('self', 'apparmor/exec', 'exec &:nons:x'));
      await r.errno('self: exec :t:missing (missing profile)', r.k.writeTaskAttr('self', 'apparmor/exec', 'exec :t:missing'));
      await r.errno('self: exec :t:missing via attr/exec', r.k.writeTaskAttr('self', 'exec', 'exec :t:missing'));
      await r.errno('self: set the display LSM', r.k.writeTaskAttr('self', 'display', 'apparmor'));
      await r.spawn('task: exec :nons:p', ':nons:p');
      await r.spawn('task: exec :t:missing', ':t:missing');
      await r.spawn('task: exec outer//&:t:missing', 'outer//&:t:missing');
      await r.value('profiles in a missing namespace', r.k.listProfiles('nope'));
      await r.value('namespaces under a missing namespace', r.k.listNamespaces('nope'));
      await r.endAll();
      await r.errno('remove t', r.k.removeNamespace('t'));
    },
  },
];

/** Runs every scenario in order on one kernel. A harness failure (not an errno) is recorded, not thrown. */
export async function runScenarios(k: KernelPort, only?: string[]): Promise<Record<string, ScenarioResult>> {
  const out: Record<string, ScenarioResult> = {};
  for (const s of SCENARIOS) {
    if (only && !only.includes(s.name)) continue;
    const r = new Recorder(k);
    const t0 = performance.now();
    try {
      await s.run(r);
      out[s.name] = { observations: r.observations, ms: Math.round(performance.now() - t0) };
    } catch (e) {
      await r.endAll();
      out[s.name] = { observations: r.observations, ms: Math.round(performance.now() - t0), error: (e as Error).message };
    }
  }
  return out;
}

export interface Disagreement { scenario: string; step: string; kernel: ObsValue | undefined; sim: ObsValue | undefined }

/** Compares two runs step by step; agreement is the share of observations that are identical. */
export function compareRuns(kernel: Record<string, ScenarioResult>, sim: Record<string, ScenarioResult>): { total: number; agreed: number; disagreements: Disagreement[] } {
  let total = 0;
  let agreed = 0;
  const disagreements: Disagreement[] = [];
  for (const name of Object.keys(kernel)) {
    const a = kernel[name]!.observations;
    const b = sim[name]?.observations ?? [];
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      total++;
      const x = a[i];
      const y = b[i];
      if (x && y && x.step === y.step && JSON.stringify(x.value) === JSON.stringify(y.value)) agreed++;
      else disagreements.push({ scenario: name, step: x?.step ?? y?.step ?? `#${i}`, kernel: x?.value, sim: y?.value });
    }
    if (kernel[name]!.error || sim[name]?.error) disagreements.push({ scenario: name, step: 'harness', kernel: kernel[name]!.error ?? 'ok', sim: sim[name]?.error ?? 'ok' });
  }
  return { total, agreed, disagreements };
}
