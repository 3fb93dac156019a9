// How many runs each property test makes: LSMNS_FUZZ_RUNS (`make fuzz` sets 10,000), else a few hundred, so
// that `make test-unit` stays fast and still exercises every property.

export const DEFAULT_FUZZ_RUNS = 300;

export function fuzzRuns(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.LSMNS_FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_FUZZ_RUNS;
}
