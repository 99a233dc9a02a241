/**
 * Shared pieces of the behaviour policies: random choices with persistence. A person holds a key
 * for a while rather than mashing a new one every frame, and the latent action model needs to see
 * each action's effect over several consecutive frames, so choices are held for 3–15 steps.
 */

/** Pick an index with probability proportional to `weights` (all ≥ 0, not all 0). */
export function pickWeighted(rng: () => number, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  if (!(total > 0)) throw new Error(`policy.ts pickWeighted: weights must have a positive sum, got [${weights}]`);
  let u = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i];
    if (u < 0) return i;
  }
  return weights.length - 1;
}

/** A uniform integer in [lo, hi] (inclusive). */
export function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Bounds of how long a choice is held, in steps. */
export const HOLD_MIN = 3;
export const HOLD_MAX = 15;

/**
 * A choice held for a random number of steps. `next(choose)` returns the held value, calling
 * `choose` for a fresh one (and drawing a fresh hold length) only when the hold has run out;
 * `hold` lets a reactive rule (jump at a gap, turn at a wall) take over for a set time.
 */
export class Persistent<T> {
  private value: T | undefined;
  private left = 0;

  constructor(
    private readonly rng: () => number,
    private readonly minHold = HOLD_MIN,
    private readonly maxHold = HOLD_MAX,
  ) {}

  next(choose: () => T): T {
    if (this.left <= 0 || this.value === undefined) this.hold(choose());
    this.left--;
    return this.value as T;
  }

  /** Replace the held value; `steps` defaults to a fresh random hold length. */
  hold(value: T, steps = randInt(this.rng, this.minHold, this.maxHold)): void {
    this.value = value;
    this.left = steps;
  }

  /** The value being held, if any. */
  get current(): T | undefined {
    return this.left > 0 ? this.value : undefined;
  }
}

/**
 * A well-mixed 32-bit seed from a user seed and a per-use salt. mulberry32's first draws are
 * correlated for small consecutive seeds (seeds 1..6 all start above 0.5), which would give
 * neighbouring seeds the same theme; hashing first (murmur3's finaliser) decorrelates them, and
 * the salt keeps a world's layout and its policy's choices independent.
 */
export function mixSeed(seed: number, salt: number): number {
  let h = (seed ^ Math.imul(salt, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
