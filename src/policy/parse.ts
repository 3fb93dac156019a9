// A small reader for AppArmor policy text: enough to find the profiles a policy defines, their modes and
// rules, and to lint it before anything is loaded (SPEC §4). apparmor_parser stays the real compiler on
// securityfs nodes; this parser is what the sim loads and what both backends lint with.

import { LsmnsError, ExitCode } from '../errors.js';
import { escapeValue } from '../schema/names.js';

export type ProfileMode = 'enforce' | 'complain' | 'kill' | 'unconfined' | 'user';

export interface ParsedProfile {
  name: string;
  attachment: string | null;
  flags: string[];
  mode: ProfileMode;
  /** Rule statements, without the trailing comma, in order. */
  rules: string[];
  children: ParsedProfile[];
  line: number;
}

export interface ParsedPolicy {
  profiles: ParsedProfile[];
  preamble: string[];
}

interface Tok {
  text: string;
  end: '{' | '}' | ',' | 'eof';
  line: number;
}

function policyError(where: string, message: string, line?: number): LsmnsError {
  return new LsmnsError({
    code: 'PolicyInvalid',
    exitCode: ExitCode.InvalidInput,
    message: `policy ${where}${line ? ` line ${line}` : ''}: ${message}`,
    remedy: 'fix the policy text (check it with apparmor_parser -Q -K on a node) and publish it again',
    details: { line },
  });
}

/** Splits policy text into statements ended by '{', '}' or ','; comments and quotes are honoured. */
function tokenize(text: string, where: string): Tok[] {
  const toks: Tok[] = [];
  let cur = '';
  let line = 1;
  let startLine = 1;
  let quote = false;
  let depth = 0;
  let paren = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\0') throw policyError(where, 'contains a NUL byte', line);
    if (quote) {
      cur += c;
      if (c === '"') quote = false;
      if (c === '\n') line++;
      continue;
    }
    if (c === '"') {
      quote = true;
      if (cur.trim() === '') startLine = line;
      cur += c;
      continue;
    }
    if (c === '#') {
      // "#include" is a directive, not a comment.
      if (text.startsWith('#include', i)) {
        const nl = text.indexOf('\n', i);
        const stmt = text.slice(i + 1, nl === -1 ? text.length : nl).trim();
        toks.push({ text: stmt, end: ',', line });
        i = nl === -1 ? text.length : nl - 1;
        continue;
      }
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl - 1;
      continue;
    }
    if (c === '\n') {
      line++;
      // include and variable assignment lines end at the newline, without a comma.
      const t = cur.trim();
      if (/^(include|@\{)/.test(t) && !t.endsWith(',')) {
        toks.push({ text: t, end: ',', line: startLine });
        cur = '';
        continue;
      }
      cur += ' ';
      continue;
    }
    if (c === '(') paren++;
    else if (c === ')') paren = Math.max(0, paren - 1);
    if (c === ',' && paren > 0) {
      cur += c;
      continue;
    }
    if (c === '{' || c === '}' || c === ',') {
      // "{" inside an @{VAR} reference or a path alternation such as /{a,b} is part of the statement.
      const prev = text[i - 1] ?? ' ';
      const alternation = depth > 0 && cur.trim() !== '' && !/\s/.test(prev) && !/^(profile|hat|\^)/.test(cur.trim());
      if (c === '{' && (prev === '@' || alternation)) {
        let nest = 0;
        let j = i;
        for (; j < text.length; j++) {
          if (text[j] === '{') nest++;
          else if (text[j] === '}' && --nest === 0) break;
        }
        cur += text.slice(i, j + 1);
        i = j;
        continue;
      }
      if (c === '{') depth++;
      else if (c === '}') depth--;
      toks.push({ text: cur.trim(), end: c, line: startLine });
      cur = '';
      continue;
    }
    if (cur.trim() === '' && !/\s/.test(c)) startLine = line;
    cur += c;
  }
  if (quote) throw policyError(where, 'unterminated quoted string', line);
  if (cur.trim() !== '') toks.push({ text: cur.trim(), end: 'eof', line: startLine });
  return toks;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1) : s;
}

/** Parses "profile NAME [ATTACH] [flags=(...)]", "hat NAME", "^NAME" or "/attach/path [flags=(...)]". */
function parseHeader(text: string, where: string, line: number, nested: boolean): Omit<ParsedProfile, 'rules' | 'children' | 'line'> {
  let rest = text;
  let flags: string[] = [];
  const fm = /\s*(?:flags\s*=\s*)?\(([^)]*)\)\s*$/.exec(rest);
  if (fm) {
    flags = fm[1]!.split(/[\s,]+/).filter(Boolean);
    rest = rest.slice(0, fm.index).trim();
  }
  const words = rest.match(/"[^"]*"|\S+/g) ?? [];
  let name: string;
  let attachment: string | null = null;
  if (words[0] === 'profile' || words[0] === 'hat') {
    if (!words[1]) throw policyError(where, `"${words[0]}" without a name`, line);
    name = unquote(words[1]);
    attachment = words[2] ? unquote(words[2]) : null;
    if (words.length > 3) throw policyError(where, `unexpected ${escapeValue(words.slice(3).join(' '))} in a profile header`, line);
  } else if (nested && words.length === 1 && words[0]!.startsWith('^')) {
    name = words[0]!.slice(1);
  } else if (words.length === 1 && (words[0]!.startsWith('/') || words[0]!.startsWith('"/') || words[0]!.startsWith(':') || words[0]!.startsWith('@{'))) {
    name = unquote(words[0]!);
    attachment = name;
  } else {
    throw policyError(where, `expected a profile header ("profile NAME {"), found ${escapeValue(text)}`, line);
  }
  if (name.length === 0) throw policyError(where, 'empty profile name', line);
  const mode: ProfileMode = flags.includes('complain') ? 'complain' : flags.includes('kill') ? 'kill' : flags.includes('unconfined') ? 'unconfined' : flags.includes('user') ? 'user' : 'enforce';
  return { name, attachment, flags, mode };
}

export function parsePolicy(text: string, where = 'text'): ParsedPolicy {
  const toks = tokenize(text, where);
  const preamble: string[] = [];
  const profiles: ParsedProfile[] = [];
  const stack: ParsedProfile[] = [];
  for (const t of toks) {
    if (t.end === '{') {
      const p: ParsedProfile = { ...parseHeader(t.text, where, t.line, stack.length > 0), rules: [], children: [], line: t.line };
      if (stack.length === 0) profiles.push(p);
      else stack[stack.length - 1]!.children.push(p);
      stack.push(p);
    } else if (t.end === '}') {
      if (t.text !== '') throw policyError(where, `statement ${escapeValue(t.text)} is not ended by ','`, t.line);
      if (!stack.pop()) throw policyError(where, "unbalanced '}'", t.line);
    } else if (t.end === ',' || t.text !== '') {
      if (t.end === 'eof') throw policyError(where, `statement ${escapeValue(t.text)} is not ended by ','`, t.line);
      if (t.text === '') continue;
      if (stack.length === 0) {
        if (!/^(abi|include|alias|@\{)/.test(t.text)) throw policyError(where, `${escapeValue(t.text)} outside a profile`, t.line);
        preamble.push(t.text);
      }
      else stack[stack.length - 1]!.rules.push(t.text);
    }
  }
  if (stack.length > 0) throw policyError(where, `profile ${escapeValue(stack[stack.length - 1]!.name)} is not closed with '}'`, stack[stack.length - 1]!.line);
  if (profiles.length === 0) throw policyError(where, 'defines no profile');
  return { profiles, preamble };
}

/**
 * Refuses a policy that would reach outside the namespace it is loaded into: a namespaced profile name
 * (":other:x") lands in another namespace, or creates it (KERNEL-FACTS Part A), and ":root:" or a
 * leading ":" could place it in the root namespace. Returns the parsed policy when it is safe.
 */
export function lintPolicy(text: string, where: string): ParsedPolicy {
  const parsed = parsePolicy(text, where);
  const seen = new Set<string>();
  for (const p of parsed.profiles) {
    if (p.name.startsWith(':')) {
      throw policyError(where, `profile ${escapeValue(p.name)} addresses another namespace; a pod's policy may only define profiles in its own namespace`, p.line);
    }
    if (p.name.includes('//')) throw policyError(where, `profile ${escapeValue(p.name)} names a child profile at top level; declare hats inside their profile`, p.line);
    if (seen.has(p.name)) throw policyError(where, `profile ${escapeValue(p.name)} is defined twice`, p.line);
    seen.add(p.name);
  }
  for (const s of parsed.preamble) {
    if (/^(include|#include)\b/.test(s) && /\.\./.test(s)) throw policyError(where, `include ${escapeValue(s)} uses '..'`);
  }
  return parsed;
}
