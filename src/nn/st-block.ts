/**
 * Spatio-temporal (ST) transformer block, as in Genie: attention within each frame, then
 * attention across frames at each spatial position, then an MLP, each a pre-norm residual.
 *
 *   x_BTND ─┬─ norm → spatial attention over N   (B·T, N, D), full mask ──(+)
 *           ├─ norm → temporal attention over T  (B·N, T, D), causal mask ─(+)
 *           └─ norm → MLP ───────────────────────────────────────────────(+)
 *
 * Positions: spatial positions are the caller's (add an embedding before the stack); temporal
 * positions are rotary inside the temporal attention (`rope`, default on), so a sliding-window
 * cache stays exact (see src/nn/position.ts).
 *
 * Cached stepping: `stBlockStep(p, x_B1ND, cache)` runs one new frame. Spatial attention needs
 * no cache (it stays inside the frame); the cache is the temporal attention's `KVCache`, with
 * batch B·N (row b·N + n is spatial position n of batch b): k, v of shape (B·N, H, T_past, Dh).
 * Stepping frame by frame equals the full causal forward. `trimCache(cache, keep)` (from
 * ./attention.js) keeps the last `keep` frames. Note that in a *stack*, trimming by hand is
 * not the same as a fresh forward over the last frames (deeper blocks' cached keys were
 * computed from a longer history); the exact counterpart of a bounded cache is `timeWindow`,
 * a banded causal mask in every block, which `stBlockStep` applies by trimming for you.
 *
 * Ownership: apply functions consume params, inputs and caches.
 */
import { np } from "../core/jax.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { attention, attentionCached, initAttention, prepareCache, trimCache } from "./attention.js";
import type { AttentionParams, KVCache } from "./attention.js";
import { causalMask, slidingCausalMask } from "./masks.js";
import { initMLP, mlp } from "./mlp.js";
import type { MLPParams } from "./mlp.js";
import { initNorm, norm } from "./norm.js";
import type { NormParams } from "./norm.js";
import type { RopeOptions } from "./position.js";

/** Options that change how a block is applied (an `STBlockConfig` can be passed as is). */
export interface STBlockOptions {
  /** Causal temporal attention (frame t sees frames ≤ t). Required for stepping. Default true. */
  causalTime?: boolean;
  /** Rotary frame positions in the temporal attention (true, false, or options). Default true. */
  rope?: boolean | RopeOptions;
  /**
   * Sliding temporal window (causal time only): frame t attends to frames t − timeWindow + 1 .. t.
   * `stBlockStep` then trims the cache it is given to the last timeWindow − 1 frames, so
   * stepping with a bounded cache equals the full forward with this banded mask in every
   * block. Default: unbounded (all past frames).
   */
  timeWindow?: number;
  /** Epsilon of the block norms. Default: 1e-5 for LayerNorm, 1e-6 for RMSNorm. */
  eps?: number;
}

export interface STBlockConfig extends STBlockOptions {
  /** Width D. */
  dim: number;
  /** Attention heads (both attentions). */
  heads: number;
  /** MLP hidden width. */
  mlpHidden: number;
  /** MLP kind. Default "gelu". */
  mlp?: "gelu" | "swiglu";
  /** QK-norm in both attentions. Default true. */
  qkNorm?: boolean;
  /** Norm kind of the three pre-norms. Default "layer". */
  norm?: "layer" | "rms";
  /** Multiplier on the initial scale of the residual output projections. Default 1. */
  outInitScale?: number;
}

export interface STBlockParams {
  spatialNorm: NormParams;
  spatial: AttentionParams;
  temporalNorm: NormParams;
  temporal: AttentionParams;
  mlpNorm: NormParams;
  mlp: MLPParams;
}

/** Initialize one ST block (deterministic from `key`, which is consumed). */
export function initSTBlock(key: Key, cfg: STBlockConfig): STBlockParams {
  const [ks, kt, km] = splitKey(key, 3);
  const normKind = cfg.norm ?? "layer";
  const attnCfg = { dim: cfg.dim, heads: cfg.heads, qkNorm: cfg.qkNorm ?? true, outInitScale: cfg.outInitScale };
  return {
    spatialNorm: initNorm(normKind, { dim: cfg.dim }),
    spatial: initAttention(ks, attnCfg),
    temporalNorm: initNorm(normKind, { dim: cfg.dim }),
    temporal: initAttention(kt, attnCfg),
    mlpNorm: initNorm(normKind, { dim: cfg.dim }),
    mlp: initMLP(km, { dim: cfg.dim, hidden: cfg.mlpHidden, kind: cfg.mlp ?? "gelu", outInitScale: cfg.outInitScale }),
  };
}

function ropeOf(opts: STBlockOptions): boolean | RopeOptions {
  return opts.rope ?? true;
}

/** Temporal mask of a full forward over T frames. */
function temporalMask(T: number, opts: STBlockOptions): np.Array | undefined {
  const causal = opts.causalTime ?? true;
  if (opts.timeWindow !== undefined) {
    if (!causal) throw new Error("stBlock: timeWindow needs causal time");
    return opts.timeWindow >= T ? causalMask(T) : slidingCausalMask(T, opts.timeWindow);
  }
  return causal ? causalMask(T) : undefined;
}

/** Spatial attention residual: x_BTND → x_BTND. */
function spatialPart(p: STBlockParams, x: np.Array, opts: STBlockOptions): np.Array {
  const [B, T, N, D] = x.shape;
  const h = norm(p.spatialNorm, x.ref, opts.eps).reshape([B * T, N, D]);
  return x.add(attention(p.spatial, h).reshape([B, T, N, D]));
}

/** MLP residual. */
function mlpPart(p: STBlockParams, x: np.Array, opts: STBlockOptions): np.Array {
  return x.ref.add(mlp(p.mlp, norm(p.mlpNorm, x, opts.eps)));
}

/** One ST block over x_BTND (B batch, T frames, N tokens per frame, D width) → same shape. */
export function stBlock(p: STBlockParams, x_BTND: np.Array, opts: STBlockOptions = {}): np.Array {
  if (x_BTND.ndim !== 4) throw new Error(`stBlock: expected x_BTND of rank 4, got [${x_BTND.shape}]`);
  const [B, T, N, D] = x_BTND.shape;
  let x = spatialPart(p, x_BTND, opts);
  const h = norm(p.temporalNorm, x.ref, opts.eps).transpose([0, 2, 1, 3]).reshape([B * N, T, D]);
  const t = attention(p.temporal, h, { mask: temporalMask(T, opts), rope: ropeOf(opts) });
  x = x.add(t.reshape([B, N, T, D]).transpose([0, 2, 1, 3]));
  return mlpPart(p, x, opts);
}

/**
 * One new frame x_B1ND through the block, given the temporal cache of the frames before it
 * (null for none; consumed). Returns the output frame and the cache with this frame appended
 * (with `timeWindow`, the past is first trimmed to timeWindow − 1 frames, so the returned cache
 * holds at most timeWindow frames). Equals the matching frame of `stBlock` with causal time
 * and the same `timeWindow`.
 */
export function stBlockStep(
  p: STBlockParams,
  x_B1ND: np.Array,
  cache: KVCache | null,
  opts: STBlockOptions = {},
): { y_B1ND: np.Array; cache: KVCache } {
  if (x_B1ND.ndim !== 4 || x_B1ND.shape[1] !== 1) throw new Error(`stBlockStep: expected x_B1ND, got [${x_B1ND.shape}]`);
  if (opts.causalTime === false) throw new Error("stBlockStep: stepping needs causal time (causalTime: false given)");
  const [B, , N, D] = x_B1ND.shape;
  let x = spatialPart(p, x_B1ND, opts);
  const h = norm(p.temporalNorm, x.ref, opts.eps).reshape([B * N, 1, D]);
  const past = cache && opts.timeWindow !== undefined ? trimCache(cache, opts.timeWindow - 1) : cache;
  const r = attentionCached(p.temporal, h, past, { rope: ropeOf(opts) });
  x = x.add(r.y_BSD.reshape([B, 1, N, D]));
  return { y_B1ND: mlpPart(p, x, opts), cache: r.cache };
}

/**
 * Each block's cache made ready for several `stStackStep` calls over the same past (the MaskGIT
 * passes of one frame): trimmed to the window and its keys' rotation computed once
 * (`prepareCache`). Stepping with prepared caches gives the same numbers. Consumes `caches`.
 */
export function prepareStackCaches(caches: KVCache[], opts: STBlockOptions = {}): KVCache[] {
  const keep = opts.timeWindow !== undefined ? opts.timeWindow - 1 : Infinity;
  return caches.map((c) => prepareCache(c, keep, ropeOf(opts)));
}

export interface STStackConfig extends STBlockConfig {
  /** Number of blocks. */
  layers: number;
  /** Norm at the end of the stack (the residual stream is otherwise unnormalized). Default true. */
  finalNorm?: boolean;
}

export interface STStackParams {
  blocks: STBlockParams[];
  /** Present iff finalNorm. */
  final?: NormParams;
}

/**
 * Initialize a stack of ST blocks (deterministic from `key`, which is consumed). Residual output
 * projections start scaled by 1/sqrt(3·layers) (three residual branches per block) unless
 * `outInitScale` is given.
 */
export function initSTStack(key: Key, cfg: STStackConfig): STStackParams {
  const keys = splitKey(key, cfg.layers);
  const outInitScale = cfg.outInitScale ?? 1 / Math.sqrt(3 * cfg.layers);
  const blocks = keys.map((k) => initSTBlock(k, { ...cfg, outInitScale }));
  return cfg.finalNorm ?? true ? { blocks, final: initNorm(cfg.norm ?? "layer", { dim: cfg.dim }) } : { blocks };
}

/** The stack over x_BTND → same shape. */
export function stStack(p: STStackParams, x_BTND: np.Array, opts: STBlockOptions = {}): np.Array {
  let x = x_BTND;
  for (const b of p.blocks) x = stBlock(b, x, opts);
  return p.final ? norm(p.final, x, opts.eps) : x;
}

/**
 * One new frame through the stack. `caches` has one temporal cache per block (null entries, or
 * null for all, when starting); all are consumed and returned updated.
 */
export function stStackStep(
  p: STStackParams,
  x_B1ND: np.Array,
  caches: (KVCache | null)[] | null,
  opts: STBlockOptions = {},
): { y_B1ND: np.Array; caches: KVCache[] } {
  if (caches && caches.length !== p.blocks.length) {
    throw new Error(`stStackStep: ${caches.length} caches for ${p.blocks.length} blocks`);
  }
  let x = x_B1ND;
  const out: KVCache[] = [];
  p.blocks.forEach((b, i) => {
    const r = stBlockStep(b, x, caches ? caches[i] : null, opts);
    x = r.y_B1ND;
    out.push(r.cache);
  });
  return { y_B1ND: p.final ? norm(p.final, x, opts.eps) : x, caches: out };
}
