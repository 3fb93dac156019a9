// The AppArmor policy AST. Raw* nodes are what the generated grammar returns for one file; the parser
// (parser.ts) turns them into a Policy: includes spliced in, variables collected, every node placed by file,
// line and column.

export interface Pos { file: string; line: number; column: number }
interface RawPos { line: number; column: number }

export type Qualifier = 'audit' | 'deny' | 'allow' | 'owner' | 'other' | `priority=${string}`;

export interface RawInclude { kind: 'include'; name: string; angle: boolean; ifExists: boolean; pos: RawPos }
export interface RawAbi { kind: 'abi'; ref: { name: string; angle: boolean }; pos: RawPos }
export interface RawVar { kind: 'var'; name: string; append: boolean; values: string[]; pos: RawPos }
export interface RawBool { kind: 'bool'; name: string; value: boolean; pos: RawPos }
export interface RawAlias { kind: 'alias'; from: string; to: string; pos: RawPos }
export interface RawProfile {
  kind: 'profile'; keyword: 'profile' | 'hat' | '^' | null; name: string; attachment: string | null;
  flags: string[]; xattrs: string[]; body: RawItem[]; pos: RawPos;
}
export interface RawBlock { kind: 'block'; qual: Qualifier[]; rules: RawRule[]; pos: RawPos }
export type GenericKind = 'signal' | 'ptrace' | 'unix' | 'dbus' | 'mqueue' | 'io_uring' | 'userns' | 'mount' | 'remount' | 'umount' | 'pivot_root';
export type GArg = { key: string; op: '=' | '!=' | 'in'; value: string[] } | { items: string[] } | { word: string };
type RawRuleBody =
  | { kind: 'file'; path: string | null; perms: string; target: string | null }
  | { kind: 'capability'; names: string[] }
  | { kind: 'network'; words: string[] }
  | { kind: 'link'; subset: boolean; path: string; target: string }
  | { kind: 'change_profile'; mode: 'safe' | 'unsafe' | null; path: string | null; target: string | null }
  | { kind: 'rlimit'; resource: string; value: string }
  | { kind: GenericKind; args: GArg[]; target: string | null };
export type RawRule = RawRuleBody & { qual: Qualifier[]; text: string; pos: RawPos };
export type RawItem = RawInclude | RawAbi | RawVar | RawBool | RawAlias | RawProfile | RawBlock | RawRule;

/** A rule's qualifiers, normalised. */
export interface Quals { audit: boolean; deny: boolean; owner: 'any' | 'owner' | 'other' }

interface RuleBase { qual: Quals; text: string; pos: Pos }
export interface FileRule extends RuleBase { kind: 'file'; path: string | null; perms: string; target: string | null }
export interface CapabilityRule extends RuleBase { kind: 'capability'; names: string[] }
export interface NetworkRule extends RuleBase { kind: 'network'; domain: string | null; type: string | null; protocol: string | null }
export interface LinkRule extends RuleBase { kind: 'link'; subset: boolean; path: string; target: string }
export interface ChangeProfileRule extends RuleBase { kind: 'change_profile'; mode: 'safe' | 'unsafe' | null; path: string | null; target: string | null }
export interface RlimitRule extends RuleBase { kind: 'rlimit'; resource: string; value: string }
/** signal, ptrace, unix, dbus, mount and the like: permissions (bare words or a list) and conditionals. */
export interface GenericRule extends RuleBase { kind: GenericKind; perms: string[]; conds: { key: string; op: string; value: string[] }[]; words: string[]; target: string | null }
export type Rule = FileRule | CapabilityRule | NetworkRule | LinkRule | ChangeProfileRule | RlimitRule | GenericRule;

export interface Profile {
  /** As declared, without the leading "^" of a hat. */
  name: string;
  /** apparmor_parser -N's name: parent//child for children and hats. */
  fullName: string;
  keyword: 'profile' | 'hat' | '^' | null;
  hat: boolean;
  attachment: string | null;
  flags: string[];
  xattrs: string[];
  rules: Rule[];
  children: Profile[];
  pos: Pos;
}

export interface Include { name: string; angle: boolean; ifExists: boolean; pos: Pos; files: string[] }

export interface Policy {
  file: string;
  profiles: Profile[];
  /** Variables after every "=" and "+=" (tunables included), values unexpanded. */
  variables: Map<string, string[]>;
  booleans: Map<string, boolean>;
  aliases: { from: string; to: string; pos: Pos }[];
  abi: { name: string; pos: Pos } | null;
  includes: Include[];
}
