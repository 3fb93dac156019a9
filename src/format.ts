// The version of every format lsmns writes (plans, apply results, ownership markers, node facts, the sim's state,
// the install manifest): one type, so a reader checks them all the same way. Zero imports.

export type FormatVersion = '1';
export const FORMAT_VERSION: FormatVersion = '1';

/** The version a document declares, upgraded into the current type: earlier writers wrote the number 1. */
export function formatVersionOf(v: unknown): FormatVersion | null {
  return v === FORMAT_VERSION || v === 1 ? FORMAT_VERSION : null;
}
