// AppArmor label syntax (KERNEL-FACTS B3): components joined by "//&", each ":ns:profile", ":ns://profile",
// ":ns:" (that namespace's unconfined) or a bare profile in the viewer's namespace. Pure functions shared by
// the planner (which writes labels), the sim (which composes and prints them as the kernel does) and the agent
// (which matches what /proc shows against the plan).

/** A namespace path relative to the root namespace: [] is root, ["a","b"] is a//b. */
export type NsPath = string[];

export interface LabelComponent {
  /** Namespace as written: null means "the viewer's namespace". */
  ns: string | null;
  profile: string;
}

export interface ParsedLabel {
  /** A leading "&" asks the kernel to stack on the current label instead of replacing it. */
  stack: boolean;
  components: LabelComponent[];
}

/** Parses a label as written to attr/exec; returns null when it is malformed (the kernel's EINVAL). */
export function parseLabel(text: string): ParsedLabel | null {
  let s = text;
  let stack = false;
  if (s.startsWith('&')) {
    stack = true;
    s = s.slice(1);
  }
  if (s.length === 0) return null;
  const parts = s.split('//&');
  const components: LabelComponent[] = [];
  for (const p of parts) {
    if (p.length === 0) return null;
    if (p.startsWith(':')) {
      const end = p.indexOf(':', 1);
      if (end < 0) return null;
      const ns = p.slice(1, end);
      if (ns.length === 0) return null;
      let profile = p.slice(end + 1);
      if (profile.startsWith('//')) profile = profile.slice(2);
      components.push({ ns, profile: profile.length === 0 ? 'unconfined' : profile });
    } else {
      if (/[\s\0]/.test(p)) return null;
      components.push({ ns: null, profile: p });
    }
  }
  return { stack, components };
}

export function nsPathOf(hname: string): NsPath {
  return hname === '' || hname === 'root' ? [] : hname.split('//');
}

export function nsHname(path: NsPath): string {
  return path.join('//');
}

/** A resolved component: an absolute namespace path and a profile in it. */
export interface ResolvedComponent {
  ns: NsPath;
  profile: string;
  mode: string;
}

function cmpPath(a: NsPath, b: NsPath): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** The kernel keeps a label's profiles sorted: shallower namespaces first, then by name (label.c vec_cmp). */
export function sortComponents(c: ResolvedComponent[]): ResolvedComponent[] {
  const out = [...c].sort((x, y) => cmpPath(x.ns, y.ns) || (x.profile < y.profile ? -1 : x.profile > y.profile ? 1 : 0));
  return out.filter((x, i) => i === 0 || cmpPath(x.ns, out[i - 1]!.ns) !== 0 || x.profile !== out[i - 1]!.profile);
}

function isPrefix(prefix: NsPath, path: NsPath): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => p === path[i]);
}

/**
 * Prints a label as a task in namespace `view` reads it from /proc/<pid>/attr/current: components in
 * namespaces the viewer cannot see are left out, sub-namespaces are shown as ":ns:", and the mode is
 * shown once, unless only unconfined profiles are visible ("mixed" when modes differ).
 */
export function renderLabel(components: ResolvedComponent[], view: NsPath): string {
  const visible = components.filter((c) => isPrefix(view, c.ns));
  if (visible.length === 0) return '---';
  const names = visible.map((c) => (c.ns.length === view.length ? c.profile : `:${nsHname(c.ns.slice(view.length))}:${c.profile}`));
  const confined = visible.filter((c) => c.profile !== 'unconfined');
  if (confined.length === 0) return names.join('//&');
  const modes = new Set(confined.map((c) => c.mode));
  return `${names.join('//&')} (${modes.size === 1 ? [...modes][0] : 'mixed'})`;
}

/** The namespace a task "lives in" for lookups and listings: the deepest namespace in its label. */
export function viewOf(components: ResolvedComponent[]): NsPath {
  let best: NsPath = [];
  for (const c of components) if (c.ns.length > best.length) best = c.ns;
  return best;
}

export function isUnconfined(components: ResolvedComponent[]): boolean {
  return components.every((c) => c.profile === 'unconfined');
}

/** The label as /proc/<pid>/attr/apparmor/current reads it from the root namespace, mode excluded. */
export function labelSeenFromRoot(label: string): string {
  return label.startsWith('&') ? `unconfined//${label}` : label;
}

/** A label as /proc shows it, without the mode: "unconfined//&:ns:p (enforce)" -> "unconfined//&:ns:p". */
export function stripMode(label: string): string {
  return label.replace(/\s+\((enforce|complain|kill|unconfined|prompt|mixed)\)$/, '').trim();
}

/**
 * Whether the label the kernel shows is the planned one. A planned "&:NS:P" stacks on whatever confines the
 * runtime (bounded without a declared host profile), so any host part is accepted; the tenant part must match.
 */
export function labelMatches(planned: string, seen: string): boolean {
  const s = stripMode(seen);
  if (s === labelSeenFromRoot(planned)) return true;
  if (planned.startsWith('&:')) return s.endsWith(`//${planned}`) && !s.slice(0, -planned.length - 2).includes('&');
  return false;
}
