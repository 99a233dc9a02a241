/**
 * Attention masks built from static shapes.
 *
 * A mask is a boolean array of shape (queries, keys), true where the query may attend to the
 * key; it broadcasts over batch and heads. `attention` also takes an additive float mask
 * (0 where allowed, −Infinity where not), as made by `toAdditive`.
 *
 * Queries are aligned to the *end* of the keys: when there are more keys than queries (a KV
 * cache holds the past), query i sits at absolute position keys − queries + i. So the same
 * builders serve the full forward pass (queries = keys) and cached decoding (a few new
 * queries against a longer key sequence).
 *
 * Rows with no allowed key are legal; `attention` returns zeros for them (never NaN).
 */
import { np } from "../core/jax.js";

/** Boolean (queries, keys) mask. */
export type Mask = np.Array;

/** Build a boolean mask from a host predicate allowed(queryIndex, keyIndex). */
export function maskFromPredicate(queries: number, keys: number, allowed: (q: number, k: number) => boolean): Mask {
  const out = new Array<boolean>(queries * keys);
  for (let q = 0; q < queries; q++) for (let k = 0; k < keys; k++) out[q * keys + k] = allowed(q, k);
  return np.array(out, { shape: [queries, keys], dtype: np.bool });
}

/** Every query attends to every key. */
export function fullMask(queries: number, keys = queries): Mask {
  return np.full([queries, keys], true, { dtype: np.bool });
}

/** Query i (absolute position keys − queries + i) attends to key j iff j ≤ its position. */
export function causalMask(queries: number, keys = queries): Mask {
  if (keys < queries) throw new Error(`causalMask: keys (${keys}) < queries (${queries})`);
  const off = keys - queries;
  return maskFromPredicate(queries, keys, (q, k) => k <= q + off);
}

/**
 * Causal within a sliding window: query i (absolute position keys − queries + i) attends to key
 * j iff position − window < j ≤ position, i.e. to itself and the `window − 1` positions before.
 */
export function slidingCausalMask(queries: number, window: number, keys = queries): Mask {
  if (keys < queries) throw new Error(`slidingCausalMask: keys (${keys}) < queries (${queries})`);
  if (!Number.isInteger(window) || window < 1) throw new Error(`slidingCausalMask: window must be a positive integer, got ${window}`);
  const off = keys - queries;
  return maskFromPredicate(queries, keys, (q, k) => k <= q + off && k > q + off - window);
}

/**
 * Block-causal over frames of `tokensPerFrame` tokens: token i may attend to token j iff
 * frame(j) ≤ frame(i) (all tokens of the same frame see each other). The queries are the last
 * `frames` frames of `keyFrames` (default: the same frames), for cached decoding.
 */
export function blockCausalMask(frames: number, tokensPerFrame: number, keyFrames = frames): Mask {
  if (keyFrames < frames) throw new Error(`blockCausalMask: keyFrames (${keyFrames}) < frames (${frames})`);
  const off = keyFrames - frames;
  const n = tokensPerFrame;
  return maskFromPredicate(frames * n, keyFrames * n, (q, k) => Math.floor(k / n) <= Math.floor(q / n) + off);
}

/** Additive form of a boolean mask: 0 where allowed, −Infinity where not (float32). Consumes `mask`. */
export function toAdditive(mask: Mask): np.Array {
  return np.where(mask, 0, -Infinity).astype(np.float32);
}
