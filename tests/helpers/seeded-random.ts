import { randomInt } from 'node:crypto';

/**
 * A repeatable source of random numbers in [0, 1) (mulberry32): a test that draws its random
 * moments from it prints the seed, and `envVar` set to that seed replays the same draws.
 */
export function seededRandom(envVar: string): { seed: number; next: () => number } {
  const given = process.env[envVar];
  const seed = given ? Number(given) : randomInt(2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`${envVar}=${given} is not an integer seed`);
  let state = seed >>> 0;
  return {
    seed,
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
