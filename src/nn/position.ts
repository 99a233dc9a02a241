/**
 * Position information.
 *
 * worldkit's convention (used by the ST block and the models built on it):
 *
 * - **Spatial** positions (the N tokens of a frame) are absolute: a learned or sinusoidal
 *   embedding added to the tokens before the first block. They never change, so they are
 *   safe to bake into cached keys.
 * - **Temporal** positions (frames) are relative: rotary embeddings (RoPE) applied to queries
 *   and keys inside the temporal attention. Attention scores then depend only on the frame
 *   *distance* t_q − t_k. That is what makes a sliding-window KV cache exact: after
 *   `trimCache` drops the oldest frames, the remaining ones are re-rotated from position 0 at
 *   the next step (the cache stores keys *before* rotation), and every query–key pair still
 *   sees the same distance as in training on a window of that length. Absolute frame
 *   embeddings added before the block would instead bake the frame index into cached keys
 *   and make a window that slides past the trained length see unseen positions.
 *
 * All tables are built on the host in float64 and rounded once to float32, so the same
 * position always gets bit-identical values (full forward vs. cached steps).
 */
import { np, random } from "../core/jax.js";
import type { Key } from "../core/keys.js";

/**
 * Sinusoidal position table (Vaswani et al.), shape (count, dim), as a constant array:
 * row p is [sin(p·ω_0), …, sin(p·ω_{dim/2−1}), cos(p·ω_0), …], ω_i = base^(−2i/dim).
 * `offset` shifts the first position.
 */
export function sinusoidalPositions(count: number, dim: number, { offset = 0, base = 10000 } = {}): np.Array {
  if (dim % 2 !== 0) throw new Error(`sinusoidalPositions: dim must be even, got ${dim}`);
  const half = dim / 2;
  const out = new Float32Array(count * dim);
  for (let p = 0; p < count; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (p + offset) * Math.pow(base, (-2 * i) / dim);
      out[p * dim + i] = Math.sin(angle);
      out[p * dim + half + i] = Math.cos(angle);
    }
  }
  return np.array(out, { shape: [count, dim] });
}

export interface LearnedPositionConfig {
  /** Number of positions (e.g. tokens per frame, or the longest sequence). */
  count: number;
  /** Embedding width. */
  dim: number;
  /** Std of the normal initialization. Default 0.02. */
  initStd?: number;
}

export interface LearnedPositionParams {
  /** Table, shape (count, dim). */
  table: np.Array;
}

/** Learned position table (deterministic from `key`, which is consumed). */
export function initLearnedPositions(key: Key, cfg: LearnedPositionConfig): LearnedPositionParams {
  return { table: random.normal(key, [cfg.count, cfg.dim]).mul(cfg.initStd ?? 0.02) };
}

/** Rows [offset, offset + count) of a learned table: shape (count, dim). Consumes `p`. */
export function learnedPositions(p: LearnedPositionParams, count: number, offset = 0): np.Array {
  const total = p.table.shape[0];
  if (offset < 0 || offset + count > total) {
    throw new Error(`learnedPositions: positions [${offset}, ${offset + count}) outside the table's ${total}`);
  }
  if (offset === 0 && count === total) return p.table;
  return p.table.slice([offset, offset + count]);
}

/**
 * Add a (count, dim) position table to x along axis `axis` (negative counts from the end;
 * the last axis is the width). E.g. spatial positions on x_BTND: `addPositions(x, pos_ND, 2)`.
 * Consumes both.
 */
export function addPositions(x: np.Array, pos: np.Array, axis: number): np.Array {
  const ax = axis < 0 ? x.ndim + axis : axis;
  const shape = x.shape.map((_, i) => (i === ax ? x.shape[i] : i === x.ndim - 1 ? x.shape[i] : 1));
  if (pos.shape[0] !== x.shape[ax] || pos.shape[1] !== x.shape[x.ndim - 1]) {
    throw new Error(`addPositions: table [${pos.shape}] does not fit axis ${ax} and width of [${x.shape}]`);
  }
  return x.add(pos.reshape(shape));
}

/** Options of rotary position embeddings. */
export interface RopeOptions {
  /** Frequency base. Default 10000. */
  base?: number;
}

/**
 * cos and sin tables for RoPE at positions start..start+count−1, each (count, headDim/2),
 * ω_i = base^(−2i/headDim).
 */
export function ropeTables(start: number, count: number, headDim: number, { base = 10000 }: RopeOptions = {}): { cos: np.Array; sin: np.Array } {
  if (headDim % 2 !== 0) throw new Error(`rope: head dim must be even, got ${headDim}`);
  const half = headDim / 2;
  const c = new Float32Array(count * half);
  const s = new Float32Array(count * half);
  for (let p = 0; p < count; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + p) * Math.pow(base, (-2 * i) / headDim);
      c[p * half + i] = Math.cos(angle);
      s[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: np.array(c, { shape: [count, half] }), sin: np.array(s, { shape: [count, half] }) };
}

/**
 * Rotate x (..., S, headDim) by RoPE at positions start..start+S−1 (rotate-half layout: the
 * first and second halves of the head dim are the pair components). Consumes x.
 */
export function applyRope(x: np.Array, start: number, opts: RopeOptions = {}): np.Array {
  const S = x.shape[x.ndim - 2];
  const dh = x.shape[x.ndim - 1];
  const { cos, sin } = ropeTables(start, S, dh, opts);
  const [x1, x2] = np.split(x, [dh / 2], -1);
  const a = x1.ref.mul(cos.ref).sub(x2.ref.mul(sin.ref));
  const b = x2.mul(cos).add(x1.mul(sin));
  return np.concatenate([a, b], -1);
}
