// The static helper (native/lsmns-task.c, built by make build into dist/native/): it probes the LSM syscalls
// and starts tasks that set their own exec label and then exec, which is the only way AppArmor lets a label be
// applied to a task (a write to another task's attr is EPERM, even for root).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ExitCode, LsmnsError } from '../../errors.js';
import { kernelError } from '../port.js';

const LSM_ID_APPARMOR = 104;

/** dist/native/lsmns-task next to dist/src/kernel/securityfs/; LSMNS_TASK_HELPER overrides it. */
export function helperPath(): string {
  return process.env.LSMNS_TASK_HELPER || fileURLToPath(new URL('../../../native/lsmns-task', import.meta.url));
}

export interface SyscallProbe {
  ran: boolean;
  works: boolean;
  /** lsm_list_modules ids, or its errno. */
  listModules: { ids?: number[]; errno?: string } | null;
  getSelfAttr: { count?: number; errno?: string } | null;
  note: string;
}

let cachedProbe: SyscallProbe | null = null;

export function probeSyscalls(): SyscallProbe {
  if (cachedProbe) return cachedProbe;
  let path: string;
  try {
    path = helperPath();
  } catch {
    // A bundle without import.meta.url (and no LSMNS_TASK_HELPER): probe without the helper.
    path = '(unknown location)';
  }
  if (!existsSync(path)) {
    cachedProbe = { ran: false, works: false, listModules: null, getSelfAttr: null, note: `helper ${path} is missing (run make build); inferred from the kernel release` };
    return cachedProbe;
  }
  const r = spawnSync(path, ['probe'], { encoding: 'utf8', timeout: 10_000 });
  try {
    const j = JSON.parse(r.stdout) as { listModules: SyscallProbe['listModules']; getSelfAttr: SyscallProbe['getSelfAttr'] };
    const works = Boolean(j.listModules?.ids?.includes(LSM_ID_APPARMOR) && j.getSelfAttr?.count !== undefined);
    cachedProbe = { ran: true, works, listModules: j.listModules, getSelfAttr: j.getSelfAttr, note: works ? 'lsm_list_modules lists apparmor and lsm_get_self_attr works' : 'the syscalls are absent or do not reach AppArmor' };
  } catch {
    cachedProbe = { ran: false, works: false, listModules: null, getSelfAttr: null, note: `helper ${path} failed (${r.error?.message ?? `exit ${r.status}`})` };
  }
  return cachedProbe;
}

export interface StartTaskOptions {
  label?: string;
  via: 'apparmor/exec' | 'exec' | 'syscall';
  /** display or interface_lsm, and the LSM to set there. */
  display?: { file: string; lsm: string };
  timeoutMs?: number;
}

/** Starts `lsmns-task exec ... -- lsmns-task pause` and resolves once the task runs under its new label. */
export function startTask(o: StartTaskOptions): Promise<ChildProcess> {
  const path = helperPath();
  const args = ['exec', '--via', o.via];
  if (o.display) args.push('--display', `${o.display.file}:${o.display.lsm}`);
  if (o.label !== undefined) args.push('--label', o.label);
  args.push('--', path, 'pause');
  const execed = `${path}\0pause\0`;
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let settled = false;
    const t0 = Date.now();
    const done = (e: Error | null) => {
      if (settled) return;
      settled = true;
      if (e) reject(e);
      else {
        child.stderr!.destroy();
        resolve(child);
      }
    };
    // The exec (and with it the label) is done once the task's cmdline is the pause program's.
    const poll = () => {
      if (settled) return;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
      } catch {
        // not started yet, or gone: the exit handler reports it
      }
      if (cmdline === execed) return done(null);
      if (Date.now() - t0 > timeoutMs) {
        child.kill('SIGKILL');
        return done(new LsmnsError({ code: 'TaskStartTimeout', exitCode: ExitCode.ApplyFailed, message: `task helper ${path} did not start within ${timeoutMs} ms`, remedy: 'check the node load and the kernel log' }));
      }
      setTimeout(poll, 2);
    };
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('spawn', poll);
    child.on('error', (e) => done(new LsmnsError({ code: 'TaskHelperMissing', exitCode: ExitCode.NotPossible, message: `cannot run ${path}: ${e.message}`, remedy: 'build it with make build (needs gcc and libc6-dev)' })));
    child.on('close', (code) => {
      const m = /^lsmns-task: (E[A-Z0-9]+) (\S+) (.*)$/m.exec(err);
      if (m) done(kernelError(m[2]!, m[3]!, m[1]!));
      else done(new LsmnsError({ code: 'TaskStartFailed', exitCode: ExitCode.ApplyFailed, message: `task helper exited with ${code}: ${err.trim() || 'no message'}`, remedy: 'check the kernel log (dmesg) for AppArmor denials' }));
    });
  });
}
