/**
 * Multi-head self-attention with optional QK-norm, rotary positions, masks and an explicit
 * KV cache.
 *
 * Shapes: x_BSD (B batch, S sequence, D width); H heads of width Dh = D / H.
 *
 * - `attention(p, x_BSD, opts) → y_BSD`: the training forward (no cache).
 * - `attentionCached(p, x_BSD, cache, opts) → { y_BSD, cache }`: the same computation for new
 *   tokens x_BSD given the keys/values of everything before them (`cache`, or null for none);
 *   returns the cache with the new keys/values appended. Feeding a sequence in pieces through
 *   it equals the full forward with the matching causal / block-causal mask.
 *
 * **Cache layout** (`KVCache`): `{ k, v }`, each (B, H, S_past, Dh), oldest position first.
 * Keys are stored after QK-norm and *before* RoPE; rotations are applied at use time with
 * positions 0..S_total−1 counted from the start of the cache, so `trimCache(cache, keep)` can
 * drop the oldest positions and the window stays exact (scores depend only on distances; see
 * src/nn/position.ts). Queries are the last positions of the window.
 *
 * Masks (src/nn/masks.ts) are boolean (true = attend) or additive float (0 / −Infinity),
 * shaped (S_q, S_k) or broadcastable to (B, H, S_q, S_k). With a cache, S_k = S_past + S_q.
 * Rows with no allowed key produce zeros, never NaN; the softmax is max-shifted.
 *
 * All heads are computed together: one fused QKV matmul, two batched matmuls for the scores
 * and the weighted values, one output matmul. Ownership: every function here consumes its
 * array arguments (pass `tree.ref(p)` to keep parameters).
 */
import { lax, np } from "../core/jax.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { initWeight } from "./linear.js";
import { RMS_NORM_EPS, initRMSNorm, rmsNorm } from "./norm.js";
import type { RMSNormParams } from "./norm.js";
import { divide } from "./ops.js";
import { applyRope } from "./position.js";
import type { RopeOptions } from "./position.js";

export interface AttentionConfig {
  /** Model width D (input and output). */
  dim: number;
  /** Number of heads H; D must be divisible by H unless headDim is given. */
  heads: number;
  /** RMSNorm on queries and keys per head (learned scale of width Dh), as in Genie / Jasmine. */
  qkNorm: boolean;
  /** Width of each head. Default dim / heads. */
  headDim?: number;
  /** Multiplier on the output projection's initial scale (e.g. 1/sqrt(2·layers) in a residual stack). Default 1. */
  outInitScale?: number;
}

export interface AttentionParams {
  /** Fused query/key/value projection, shape (D, 3, H, Dh): [:, 0] queries, [:, 1] keys, [:, 2] values. */
  wqkv: np.Array;
  /** Output projection, shape (H, Dh, D). */
  wo: np.Array;
  /** QK-norm of the queries (present iff qkNorm). */
  qNorm?: RMSNormParams;
  /** QK-norm of the keys (present iff qkNorm). */
  kNorm?: RMSNormParams;
}

/** Past keys and values: each (B, H, S_past, Dh), keys after QK-norm and before RoPE. */
export interface KVCache {
  k: np.Array;
  v: np.Array;
  /**
   * Optional: `k` already rotated at positions −S_past..−1, i.e. relative to the next position
   * (`prepareCache`), for a caller that steps several times over one cache (MaskGIT passes over the same past): the rotation is then
   * computed once instead of once per step. Used only by RoPE attention with one new position.
   */
  kRot?: np.Array;
  /**
   * Optional: which past positions hold a real entry, as an additive (S_past) mask, 0 = real,
   * −Infinity = an empty slot. A cache of a fixed length with its empty slots first (the oldest
   * positions) lets one compiled graph serve every cache length (session-ort.ts); masked slots
   * get probability exactly 0, so the result equals the unpadded cache's. Used only with one new
   * position (the frame-by-frame step); the returned cache does not carry it.
   */
  pastMask?: np.Array;
}

export interface AttentionOptions {
  /** Boolean (true = attend) or additive (0 / −Infinity) mask, (S_q, S_k) or broadcastable to (B, H, S_q, S_k). Default: none (full attention). */
  mask?: np.Array;
  /** Rotary positions on queries and keys (true, or options such as the base). Default false. */
  rope?: boolean | RopeOptions;
  /** Epsilon of the QK-norm. Default 1e-6. */
  eps?: number;
}

/** Initialize attention (deterministic from `key`, which is consumed). */
export function initAttention(key: Key, cfg: AttentionConfig): AttentionParams {
  const H = cfg.heads;
  const dh = cfg.headDim ?? cfg.dim / H;
  if (!Number.isInteger(dh)) throw new Error(`attention: dim ${cfg.dim} is not divisible by heads ${H}`);
  const [k1, k2] = splitKey(key, 2);
  const p: AttentionParams = {
    wqkv: initWeight(k1, [cfg.dim, 3, H, dh], cfg.dim),
    wo: initWeight(k2, [H, dh, cfg.dim], H * dh, "normal", cfg.outInitScale ?? 1),
  };
  if (cfg.qkNorm) {
    p.qNorm = initRMSNorm({ dim: dh });
    p.kNorm = initRMSNorm({ dim: dh });
  }
  return p;
}

/** Largest magnitude used to keep the softmax shift finite when a whole row is masked. */
const FINITE_FLOOR = -1e30;

/**
 * Numerically stable softmax over the last axis with an optional mask (boolean: true = keep;
 * or additive float). Entries that are −Infinity (or masked) get probability 0; a row with no
 * finite entry gives all zeros instead of NaN, and its gradient is zero. Consumes its arguments.
 */
export function maskedSoftmax(logits: np.Array, mask?: np.Array): np.Array {
  let x = logits;
  if (mask !== undefined) x = mask.dtype === np.bool ? np.where(mask, x, -Infinity) : x.add(mask);
  // Shift by the row max (treated as a constant: softmax is shift invariant), floored so a
  // fully masked row shifts by a finite number and exp gives exact zeros.
  const m = np.maximum(lax.stopGradient(x.ref.max(-1, { keepdims: true })), FINITE_FLOOR);
  const e = np.exp(x.sub(m));
  // Rows with any allowed key have a sum >= 1 (the max contributes exp(0)), which the tiny
  // term does not change; an empty row divides 0 by 1e-30.
  const den = e.ref.sum(-1, { keepdims: true }).add(1e-30);
  return divide(e, den);
}

/** Project x_BSD to q, k, v (B, H, S, Dh); q and k QK-normed, q not yet scaled or rotated. */
function project(p: AttentionParams, x: np.Array, eps: number): { q: np.Array; k: np.Array; v: np.Array } {
  const [B, S, D] = x.shape;
  const [Dw, three, H, dh] = p.wqkv.shape;
  if (D !== Dw || three !== 3) throw new Error(`attention: input [${x.shape}] does not match wqkv [${p.wqkv.shape}]`);
  const qkv = np
    .matmul(x.reshape([B * S, D]), p.wqkv.reshape([D, 3 * H * dh]))
    .reshape([B, S, 3, H, dh])
    .transpose([2, 0, 3, 1, 4]); // (3, B, H, S, Dh)
  const [q3, k3, v3] = np.split(qkv, [1, 2], 0);
  let q = q3.reshape([B, H, S, dh]);
  let k = k3.reshape([B, H, S, dh]);
  const v = v3.reshape([B, H, S, dh]);
  if (p.qNorm) q = rmsNorm(p.qNorm, q, eps);
  if (p.kNorm) k = rmsNorm(p.kNorm, k, eps);
  return { q, k, v };
}

/**
 * Attend with queries (B, H, Sq, Dh) over keys/values (B, H, Sk, Dh), queries being the last
 * Sq positions; returns y_BSD through the output projection.
 */
function attend(wo: np.Array, q: np.Array, k: np.Array, v: np.Array, opts: AttentionOptions): np.Array {
  const [B, H, Sq, dh] = q.shape;
  const Sk = k.shape[2];
  const D = wo.shape[2];
  if (opts.rope) {
    const ropeOpts = opts.rope === true ? {} : opts.rope;
    q = applyRope(q, Sk - Sq, ropeOpts);
    k = applyRope(k, 0, ropeOpts);
  }
  const scores = np.matmul(q.mul(1 / Math.sqrt(dh)), np.swapaxes(k, 2, 3)); // (B, H, Sq, Sk)
  const probs = maskedSoftmax(scores, opts.mask);
  const o = np.matmul(probs, v); // (B, H, Sq, Dh)
  const o2 = o.transpose([0, 2, 1, 3]).reshape([B * Sq, H * dh]);
  return np.matmul(o2, wo.reshape([H * dh, D])).reshape([B, Sq, D]);
}

/** Self-attention over x_BSD → y_BSD (training forward; no cache). */
export function attention(p: AttentionParams, x_BSD: np.Array, opts: AttentionOptions = {}): np.Array {
  const { q, k, v } = project(p, x_BSD, opts.eps ?? RMS_NORM_EPS);
  return attend(p.wo, q, k, v, opts);
}

/**
 * Self-attention of new tokens x_BSD over the cached past and themselves. `cache` (consumed)
 * holds the past keys/values (or is null: no past); the returned cache has the new ones
 * appended. `opts.mask`, if given, is (S_new, S_past + S_new); for one new frame or token under
 * a causal / block-causal mask no mask is needed (every new query may see the whole cache).
 */
export function attentionCached(
  p: AttentionParams,
  x_BSD: np.Array,
  cache: KVCache | null,
  opts: AttentionOptions = {},
): { y_BSD: np.Array; cache: KVCache } {
  const proj = project(p, x_BSD, opts.eps ?? RMS_NORM_EPS);
  if (cache && proj.q.shape[2] === 1 && opts.mask === undefined) return attendOne(p.wo, proj, cache, opts);
  if (cache?.pastMask) throw new Error("attentionCached: a cache with pastMask (padded) takes one new position and no mask");
  cache?.kRot?.dispose();
  let k = proj.k;
  let v = proj.v;
  if (cache) {
    k = np.concatenate([cache.k, k], 2);
    v = np.concatenate([cache.v, v], 2);
  }
  const y_BSD = attend(p.wo, proj.q, k.ref, v.ref, opts);
  return { y_BSD, cache: { k, v } };
}

/**
 * `attentionCached` for one new position over a non-empty cache and no mask (every step of a
 * frame-by-frame rollout): the same numbers as concatenating and calling `attend`, computed so a
 * step costs little beyond its matmuls. Scores and weighted values are element-wise products
 * and sums (onnxruntime runs (B·H) batched 1×Dh by Dh×S matmuls several times slower), the past
 * and the new key are scored separately so the past is read in place (no concatenated copy per
 * call: only the returned cache concatenates, and a caller that drops it drops that too), and
 * only the past is rotated, relative to the new position, so a caller stepping several times
 * over one cache can rotate it once (`prepareCache`).
 */
function attendOne(wo: np.Array, proj: { q: np.Array; k: np.Array; v: np.Array }, cache: KVCache, opts: AttentionOptions): { y_BSD: np.Array; cache: KVCache } {
  const [B, H, , dh] = proj.q.shape;
  const Sp = cache.k.shape[2];
  const D = wo.shape[2];
  const q = proj.q.mul(1 / Math.sqrt(dh));
  const kNew = proj.k.ref;
  let kPast: np.Array;
  if (opts.rope) {
    // Scores depend only on distances: rotating the query and the new key at position Sp and the
    // past at 0..Sp−1 equals rotating nothing new and the past at −Sp..−1.
    kPast = cache.kRot ?? applyRope(cache.k.ref, -Sp, opts.rope === true ? {} : opts.rope);
  } else {
    cache.kRot?.dispose();
    kPast = cache.k.ref;
  }
  let sPast = q.ref.mul(kPast).sum(-1); // (B,H,1,Dh)·(B,H,Sp,Dh) -> (B,H,Sp)
  if (cache.pastMask) {
    if (cache.pastMask.shape.join() !== String(Sp)) throw new Error(`attention: pastMask [${cache.pastMask.shape}] does not match the cache's ${Sp} positions`);
    sPast = sPast.add(cache.pastMask);
  }
  const sNew = q.mul(kNew).sum(-1); // (B,H,1,Dh)·(B,H,1,Dh) -> (B,H,1)
  const probs = maskedSoftmax(np.concatenate([sPast, sNew], -1)); // (B,H,Sp+1)
  const [pPast, pNew] = np.split(probs, [Sp], -1);
  const oPast = pPast.reshape([B, H, Sp, 1]).mul(cache.v.ref).sum(2); // (B,H,Sp) -> (B,H,Sp,1); sum over Sp -> (B,H,Dh)
  const o = oPast.add(pNew.mul(proj.v.ref.reshape([B, H, dh]))); // (B,H,1,Dh) -> (B,H,Dh)
  const y_BSD = np.matmul(o.reshape([B, H * dh]), wo.reshape([H * dh, D])).reshape([B, 1, D]); // (B,H,Dh) -> (B,H·Dh)
  return { y_BSD, cache: { k: np.concatenate([cache.k, proj.k], 2), v: np.concatenate([cache.v, proj.v], 2) } };
}

/**
 * The cache trimmed to its newest `keep` positions (Infinity: all) with its keys' rotation precomputed (`kRot`,
 * RoPE at −S..−1, relative to the next position), for several single-position steps over the same past. Consumes `cache`.
 */
export function prepareCache(cache: KVCache, keep: number, rope: boolean | RopeOptions): KVCache {
  if (cache.kRot) throw new Error("prepareCache: the cache is already prepared");
  const c = Number.isFinite(keep) ? trimCache(cache, keep) : cache;
  if (!rope) return c;
  return { ...c, kRot: applyRope(c.k.ref, -c.k.shape[2], rope === true ? {} : rope) };
}

/** Number of positions held in a cache (does not consume). */
export function cacheLength(cache: KVCache | null): number {
  return cache ? cache.k.shape[2] : 0;
}

/** Keep only the newest `keep` positions of a cache (consumed). */
export function trimCache(cache: KVCache, keep: number): KVCache {
  const S = cache.k.shape[2];
  if (!Number.isInteger(keep) || keep < 0) throw new Error(`trimCache: keep must be a non-negative integer, got ${keep}`);
  if (keep >= S) return cache;
  if (cache.kRot) throw new Error("trimCache: a prepared cache (with kRot) is trimmed by prepareCache, not after");
  const mask = cache.pastMask ? { pastMask: cache.pastMask.slice([S - keep, S]) } : {};
  return { k: cache.k.slice([], [], [S - keep, S]), v: cache.v.slice([], [], [S - keep, S]), ...mask };
}
