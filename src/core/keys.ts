/**
 * Seeded PRNG keys. All randomness in worldkit comes from an explicit key made from a seed,
 * so the same seed gives the same parameters, data order and rollouts.
 *
 * Keys are jax-js arrays and follow its ownership rules: `splitKey` consumes its input.
 */
import { np, random } from "./jax.js";

export type Key = np.Array;

/** A key from a 32-bit integer seed. */
export function makeKey(seed: number): Key {
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  return random.key(seed >>> 0);
}

/** Split `key` (consumed) into `n` independent keys. */
export function splitKey(key: Key, n = 2): Key[] {
  const keys_N2 = random.split(key, n);
  const out: Key[] = [];
  for (let i = 0; i < n; i++) out.push(keys_N2.ref.slice(i));
  keys_N2.dispose();
  return out;
}

/**
 * A deterministic non-array PRNG (mulberry32) for host-side work: data shuffling, world
 * generation, behaviour policies. Returns floats in [0, 1).
 */
export function hostRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
