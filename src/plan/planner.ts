// The pure planner (SPEC §2): plan(request, nodeFacts) -> Plan. No I/O, no clock, no randomness,
// so the same input always gives the same plan and golden tests can hold it.

import { sha256Hex } from '../hash.js';
import type { Problem } from '../errors.js';
import { FORMAT_VERSION } from '../format.js';
import { Keys, readSpec, type LsmnsSpec } from '../schema/annotations.js';
import { containerNameRuleBroken, escapeValue, nameRuleBroken } from '../schema/names.js';
import { MAX_NS_DEPTH, type NodeFacts } from '../kernel/facts.js';
import { computeLabel } from './label.js';
import type { PlanRequest } from './request.js';
import type { Blocker, ContainerPlan, Plan, Step, StepDraft, Warning } from './types.js';

const UID_SAFE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The key that identifies a pod across its containers: UID, else sandbox id, else container id. */
export function podKeyOf(req: Pick<PlanRequest, 'pod' | 'sandboxId' | 'containerId'>): string {
  if (req.pod.uid) return `uid:${req.pod.uid}`;
  if (req.sandboxId) return `sandbox:${req.sandboxId}`;
  if (req.containerId) return `container:${req.containerId}`;
  return `pod:${req.pod.namespace ?? 'default'}/${req.pod.name ?? 'unnamed'}`;
}

function hashName(seed: string): string {
  return `lsmns-${sha256Hex(seed).slice(0, 32)}`;
}

/** The stable, unique name behind "auto" (SPEC §1): from the pod UID, else the sandbox or container id. */
export function deriveNamespaceName(req: Pick<PlanRequest, 'pod' | 'sandboxId' | 'containerId'>): { name: string; from: string; provisional: boolean } {
  if (req.pod.uid) return { name: UID_SAFE.test(req.pod.uid) ? `lsmns-${req.pod.uid}` : hashName(`uid:${req.pod.uid}`), from: 'pod UID', provisional: false };
  if (req.sandboxId) return { name: hashName(`sandbox:${req.sandboxId}`), from: 'sandbox id', provisional: false };
  if (req.containerId) return { name: hashName(`container:${req.containerId}`), from: 'container id', provisional: false };
  return { name: hashName(`pod:${req.pod.namespace ?? 'default'}/${req.pod.name ?? ''}`), from: 'pod namespace/name (no UID yet)', provisional: true };
}

interface DisplayDecision {
  status: 'planned' | 'skipped';
  reason: string;
  blocker?: Blocker;
  warning?: Warning;
}

/** SPEC §1 display-lsm and KERNEL-FACTS B4: set it only where needed and possible. */
export function displayDecision(mode: LsmnsSpec['displayLsm'], f: NodeFacts): DisplayDecision {
  const reachable = f.attr.sharedLsm === 'apparmor' ? 'the shared /proc/<pid>/attr files already reach AppArmor'
    : f.attr.apparmorDir ? 'the kernel has /proc/<pid>/attr/apparmor/ (5.8+), which runtimes use first'
    : f.syscalls.lsmSelfAttr ? 'the kernel has lsm_set_self_attr (6.8+)'
    : null;
  const iface = f.attr.display;
  const cannot: Blocker = {
    code: 'AppArmorAttrUnreachable',
    message: `the runtime cannot reach AppArmor's attr files: /proc/<pid>/attr/* go to ${f.attr.sharedLsm ?? 'no LSM'}, the kernel has neither /proc/<pid>/attr/apparmor/ (5.8+) nor lsm_set_self_attr (6.8+), ${iface ? `and display-lsm is "none"` : 'and there is no display interface (attr/display or attr/interface_lsm)'}`,
    remedy: iface ? 'set lsmns.io/display-lsm to auto or apparmor' : 'run on a kernel 5.8 or later, or on a kernel that has the attr/display interface (Ubuntu)',
  };
  if (mode === 'none') {
    if (!reachable) return { status: 'skipped', reason: 'disabled by lsmns.io/display-lsm: none', blocker: cannot };
    return { status: 'skipped', reason: `disabled by lsmns.io/display-lsm: none; not needed: ${reachable}` };
  }
  if (iface && (mode === 'apparmor' || !reachable)) {
    return { status: 'planned', reason: mode === 'apparmor' ? `requested by lsmns.io/display-lsm: apparmor; the kernel has attr/${iface}` : `needed: /proc/<pid>/attr/* reach ${f.attr.sharedLsm ?? 'no LSM'}, and the kernel has attr/${iface}` };
  }
  if (!reachable) return { status: 'skipped', reason: 'needed but not possible on this kernel', blocker: cannot };
  if (mode === 'apparmor') {
    return {
      status: 'skipped',
      reason: `not possible: no attr/display or attr/interface_lsm on this kernel (mainline has none); not needed: ${reachable}`,
      warning: { code: 'DisplayLsmUnavailable', message: 'lsmns.io/display-lsm: apparmor was asked for, but this kernel has no display interface; AppArmor is reached without it' },
    };
  }
  return { status: 'skipped', reason: `not needed: ${reachable}` };
}

/** Why this node cannot host the request, each with a remedy. Empty means feasible. */
export function feasibility(spec: LsmnsSpec, f: NodeFacts): Blocker[] {
  const b: Blocker[] = [];
  const lsms = f.lsms.join(',');
  if (!f.securityfs.mounted) {
    b.push({ code: 'SecurityfsNotMounted', message: 'securityfs is not mounted', remedy: 'mount it: mount -t securityfs securityfs /sys/kernel/security' });
  }
  if (!f.lsms.includes('apparmor') || !f.apparmor.enabled) {
    const major = f.lsms.find((l) => l === 'selinux' || l === 'smack');
    b.push({
      code: 'AppArmorNotActive',
      message: `AppArmor is not among the active LSMs (${lsms})${major ? `; ${major === 'selinux' ? 'SELinux' : 'Smack'} is the active major LSM, and AppArmor, SELinux and Smack exclude each other` : ''}`,
      remedy: major
        ? `run this pod on a node that boots with AppArmor as its major LSM (for example lsm=landlock,lockdown,yama,apparmor,bpf, or apparmor=1 security=apparmor on Debian)`
        : 'boot a kernel built with AppArmor and list it in lsm= (for example lsm=landlock,lockdown,yama,apparmor,bpf, or apparmor=1 security=apparmor on Debian)',
    });
    return b;
  }
  if (!f.apparmor.policyNamespaces) {
    b.push({ code: 'NoPolicyNamespaces', message: `this kernel (${f.kernel.release}) does not offer AppArmor policy namespaces (features/namespaces)`, remedy: 'use a kernel with AppArmor 3 policy namespaces (4.11 or later)' });
  }
  if (spec.stacking === 'bounded' && !f.apparmor.stacking) {
    b.push({ code: 'NoStacking', message: `this kernel (${f.kernel.release}) cannot stack AppArmor labels (features/domain/stack, version ${f.apparmor.domainVersion ?? 'absent'})`, remedy: 'use a kernel with domain/stack and domain version 1.2 or later (4.11+)' });
  }
  if (!f.apparmor.policyAdmin) {
    b.push({ code: 'NotPolicyAdmin', message: 'this process may not administer AppArmor policy', remedy: 'run lsmns as root with CAP_MAC_ADMIN in the initial user namespace (the agent DaemonSet grants it)' });
  }
  if (f.apparmor.nsLevel + 1 > MAX_NS_DEPTH) {
    b.push({ code: 'NamespaceDepthExceeded', message: `lsmns runs in AppArmor namespace level ${f.apparmor.nsLevel}; a child would be level ${f.apparmor.nsLevel + 1}, over the limit of ${MAX_NS_DEPTH}`, remedy: 'run lsmns from a shallower AppArmor namespace' });
  }
  return b;
}

/** Fixes the key order of a plan's JSON form, so that it reads top-down: verdict, input, then the work. */
function ordered(p: Plan): Plan {
  return {
    formatVersion: p.formatVersion, outcome: p.outcome, feasible: p.feasible, input: p.input, namespace: p.namespace, containers: p.containers,
    steps: p.steps, warnings: p.warnings, conflicts: p.conflicts, blockers: p.blockers, problems: p.problems,
  };
}

function noop(base: Omit<Plan, 'outcome' | 'steps' | 'feasible' | 'blockers'>): Plan {
  return ordered({ ...base, outcome: 'noop', steps: [], feasible: true, blockers: [] });
}

export function plan(req: PlanRequest, facts: NodeFacts): Plan {
  const specResult = readSpec(req.annotations);
  const base: Omit<Plan, 'outcome' | 'steps' | 'feasible' | 'blockers'> = {
    formatVersion: FORMAT_VERSION,
    input: {
      source: req.source,
      pod: req.pod,
      podKey: podKeyOf(req),
      sandboxId: req.sandboxId,
      containerId: req.containerId,
      annotations: specResult.annotations,
      spec: specResult.status === 'ok' ? specResult.spec : null,
      delivery: req.delivery,
      node: { source: facts.source, kernel: facts.kernel.release, lsms: facts.lsms },
    },
    namespace: null,
    containers: [],
    warnings: [],
    conflicts: [],
    problems: [],
  };
  if (specResult.status === 'absent') return noop(base);

  const problems: Problem[] = [...req.problems];
  // A loop, not push(...spread): spreading a huge array overflows the stack.
  if (specResult.status === 'invalid') for (const x of specResult.problems) problems.push(x);
  const spec = specResult.status === 'ok' ? specResult.spec : null;
  const warnings: Warning[] = [];
  if (req.wholePod) {
    // A per-container override for a container the pod does not have is a typo: report it with the rest.
    const names = new Set(req.containers.map((c) => c.name));
    for (const e of specResult.entries) {
      if (e.kind !== 'container' || names.has(e.container!) || containerNameRuleBroken(e.container!)) continue;
      problems.push({ key: e.key, value: escapeValue(String(e.value)), rule: `the pod has no container named ${escapeValue(e.container!)} (it has ${[...names].map((n) => escapeValue(n)).join(', ') || 'none'})`, example: `container.lsmns.io/${req.containers[0]?.name ?? 'app'}` });
    }
  }

  /** Advice that only matters when the plan can run. */
  const advisories: Warning[] = [];
  let nsName: string | null = null;
  let derivedFrom: string | null = null;
  const containers: ContainerPlan[] = [];
  if (spec) {
    if (spec.namespace.kind === 'named') nsName = spec.namespace.name;
    else if (req.delivery === 'field') {
      // The label must be final at admission, and the UID that "auto" derives the name from is assigned after it.
      problems.push({ key: Keys.namespace, value: '"auto"', rule: '"auto" cannot be used with label delivery "field": the pod\'s UID, which "auto" derives the name from, is assigned after admission, so the label written into the pod would be wrong', example: 'tenant-a (a named namespace), or label delivery shim' });
    } else {
      const d = deriveNamespaceName(req);
      nsName = d.name;
      derivedFrom = d.from;
      if (d.provisional) warnings.push({ code: 'AutoNameProvisional', message: `the pod has no metadata.uid yet, so "auto" is shown as ${d.name}; on the cluster the name comes from the pod's UID` });
    }
    const undeclared: string[] = [];
    for (const c of req.containers) {
      if (c.role === 'sandbox') {
        containers.push({ name: c.name, role: 'sandbox', profile: null, hostProfile: c.hostProfile?.value ?? null, hostProfileFrom: c.hostProfile?.from ?? null, label: null });
        continue;
      }
      const profile = spec.containerProfiles[c.name] ?? spec.profile;
      let host: string | null = spec.hostProfile;
      let hostFrom: string | null = host ? Keys.hostProfile : null;
      if (!host && c.hostProfile) {
        const broken = nameRuleBroken(c.hostProfile.value, 'host profile name');
        if (broken) {
          problems.push({ key: c.hostProfile.from, value: escapeValue(c.hostProfile.value), rule: `${broken}; it would become the host part of the label`, example: 'cri-containerd.apparmor.d' });
        } else {
          host = c.hostProfile.value;
          hostFrom = c.hostProfile.from;
        }
      }
      if (!c.hostProfile && !spec.hostProfile && req.source.kind === 'pod') undeclared.push(c.name);
      if (spec.stacking === 'none' && host && hostFrom !== Keys.hostProfile) {
        problems.push({ key: Keys.stacking, value: '"none"', rule: `"none" would replace the host profile ${escapeValue(host)} that ${hostFrom} assigns to container ${escapeValue(c.name)}; the container must not escape host policy`, example: 'bounded' });
      }
      containers.push({ name: c.name, role: 'app', profile, hostProfile: host, hostProfileFrom: hostFrom, label: nsName ? computeLabel({ namespace: nsName, profile, stacking: spec.stacking, hostProfile: host }) : null });
    }
    if (undeclared.length > 0 && spec.stacking === 'bounded' && req.delivery === 'shim') {
      advisories.push({ code: 'RuntimeDefaultBound', message: `${undeclared.join(', ')} declare${undeclared.length === 1 ? 's' : ''} no AppArmor profile; where the runtime assigns its default (containerd: cri-containerd.apparmor.d), the shim keeps it as the host bound at create` });
    }
    if (!spec.policy) advisories.push({ code: 'NoPolicy', message: `no lsmns.io/apparmor-policy: the namespace holds no profiles, so the containers get only its "unconfined" profile${spec.stacking === 'bounded' ? ' under the host bound' : ''}` });
  }
  const namespace = nsName ? { name: nsName, derivedFrom } : null;
  if (problems.length > 0 || !spec || !nsName) {
    return ordered({ ...base, namespace, containers, warnings, problems, outcome: 'invalid', steps: [], feasible: false, blockers: [] });
  }

  const display = displayDecision(spec.displayLsm, facts);
  if (display.warning) warnings.push(display.warning);
  const blockers = feasibility(spec, facts);
  if (display.blocker && facts.lsms.includes('apparmor')) blockers.push(display.blocker);
  if (blockers.length > 0) {
    return ordered({ ...base, namespace, containers, warnings, problems, outcome: 'infeasible', steps: [], feasible: false, blockers });
  }

  warnings.push(...advisories);
  const steps: Step[] = [];
  const add = (s: StepDraft) => steps.push({ id: steps.length + 1, ...s } as Step);
  const level = facts.apparmor.nsLevel + 1;
  add({
    kind: 'checkNode', action: 'check', status: 'planned', stage: 'createRuntime', realizedBy: 'hook',
    reason: `AppArmor is active (${facts.lsms.join(',')}); policy namespaces${spec.stacking === 'bounded' ? ', stacking' : ''} and policy admin rights are needed; the new namespace is level ${level} of at most ${MAX_NS_DEPTH}`,
    args: { securityfs: true, apparmor: true, policyNamespaces: true, stacking: spec.stacking === 'bounded', policyAdmin: true, level, maxDepth: MAX_NS_DEPTH },
    undo: null,
  });
  add({
    kind: 'createNamespace', action: 'create', status: 'planned', stage: 'createRuntime', realizedBy: 'hook',
    reason: `the pod's own AppArmor policy namespace${derivedFrom ? ` (auto, from the ${derivedFrom})` : ''}; reused if lsmns created it for this pod, refused if anyone else owns it`,
    args: { namespace: nsName, path: `policy/namespaces/${nsName}`, owner: base.input.podKey },
    undo: { kind: 'removeNamespace', note: 'rmdir, only if this run created it' },
  });
  if (spec.policy) {
    const profiles = [...new Set(containers.filter((c) => c.profile && c.profile !== 'unconfined').map((c) => c.profile!))].sort();
    add({
      kind: 'loadPolicy', action: 'load', status: 'planned', stage: 'createRuntime', realizedBy: 'hook',
      reason: `load policy ${spec.policy.ref} into :${nsName}: with replace semantics; a re-run with the same digest is a no-op`,
      args: { namespace: nsName, policy: spec.policy.ref, scope: spec.policy.scope, podNamespace: spec.policy.scope === 'cluster' ? null : req.pod.namespace, profiles },
      undo: { kind: 'none', note: 'removed with the namespace if this run created it; in a namespace the pod already had, the policy stays replaced' },
    });
  }
  add({
    kind: 'setDisplayLsm', action: 'set', status: display.status, stage: 'create', realizedBy: 'shim',
    reason: display.reason,
    args: display.status === 'planned' && facts.attr.display ? { lsm: 'apparmor', interface: facts.attr.display } : {},
    undo: display.status === 'planned' ? { kind: 'none', note: 'it only affects the shim and the runtime it execs' } : null,
  });
  for (const c of containers) {
    if (c.role === 'sandbox') {
      add({
        kind: 'transitionRootTask', action: 'transition', status: 'skipped', stage: 'create', realizedBy: 'shim',
        reason: 'the pod sandbox keeps the profile the runtime gave it and only holds a reference on the namespace; app containers are moved',
        args: { container: c.name, role: 'sandbox' }, undo: null,
      });
      continue;
    }
    const via = req.delivery === 'field' ? 'securityContext.appArmorProfile (Localhost)' : 'process.apparmorProfile in config.json';
    add({
      kind: 'transitionRootTask', action: 'transition', status: 'planned', stage: req.delivery === 'field' ? 'admission' : 'create', realizedBy: req.delivery === 'field' ? 'webhook' : 'shim',
      reason: `${c.hostProfile ? `bounded by host profile ${c.hostProfile} (from ${c.hostProfileFrom})` : spec.stacking === 'bounded' ? 'stacked under whatever confines the runtime (bounded)' : 'replaces the host confinement (stacking: none)'}; the runtime applies ${via} from inside its init`,
      args: { container: c.name, role: 'app', profile: c.profile!, hostProfile: c.hostProfile, label: c.label!, via },
      undo: { kind: 'none', note: 'a failed start leaves no task behind' },
    });
  }
  add({
    kind: 'removeNamespace', action: 'remove', status: 'planned', stage: 'poststop', realizedBy: 'hook',
    reason: 'when the last of the pod\'s containers (the sandbox included) stops; only a namespace lsmns created',
    args: { namespace: nsName, refCounted: true, owner: base.input.podKey },
    undo: null,
  });
  return ordered({ ...base, namespace, containers, warnings, problems, outcome: 'ready', steps, feasible: true, blockers: [] });
}

/** A plan for input that could not even be read as a pod or bundle: outcome invalid, with its problems. */
export function invalidPlan(ref: string, problems: Problem[], facts: NodeFacts, delivery: PlanRequest['delivery'] = 'shim'): Plan {
  return ordered({
    formatVersion: FORMAT_VERSION,
    outcome: 'invalid',
    input: {
      source: { kind: 'pod', ref }, pod: { name: null, namespace: null, uid: null }, podKey: `input:${ref}`, sandboxId: null, containerId: null,
      annotations: {}, spec: null, delivery, node: { source: facts.source, kernel: facts.kernel.release, lsms: facts.lsms },
    },
    namespace: null, containers: [], steps: [], warnings: [], conflicts: [], feasible: false, blockers: [], problems,
  });
}
