// Types of the parser that peggy generates from grammar.peggy at build time (dist/src/policy/grammar.js).
import type { RawItem } from './ast.js';

export interface PeggyLocation { source: unknown; start: { offset: number; line: number; column: number }; end: { offset: number; line: number; column: number } }
export class SyntaxError extends Error {
  location: PeggyLocation;
  expected: { type: string; description?: string; text?: string }[] | null;
  found: string | null;
}
export function parse(input: string, options?: { grammarSource?: string; startRule?: 'Policy' | 'Body' }): RawItem[];
