/**
 * Token embedding table: int32 ids of any shape → vectors (..., dim).
 *
 * Ownership: `embed` consumes `p` and `ids`.
 */
import { np, random } from "../core/jax.js";
import type { Key } from "../core/keys.js";

export interface EmbeddingConfig {
  /** Number of rows (vocabulary size / codebook size / action count). */
  count: number;
  /** Width of each vector. */
  dim: number;
  /** Std of the normal initialization. Default 1/sqrt(dim), so a row has norm about 1. */
  initStd?: number;
}

export interface EmbeddingParams {
  /** The table, shape (count, dim). */
  table: np.Array;
}

/** Initialize an embedding table (deterministic from `key`, which is consumed). */
export function initEmbedding(key: Key, cfg: EmbeddingConfig): EmbeddingParams {
  const std = cfg.initStd ?? 1 / Math.sqrt(cfg.dim);
  return { table: random.normal(key, [cfg.count, cfg.dim]).mul(std) };
}

/** Rows of the table for `ids` (int32, any shape): shape (...ids.shape, dim). Differentiable w.r.t. the table. */
export function embed(p: EmbeddingParams, ids: np.Array): np.Array {
  const dim = p.table.shape[1];
  const shape = ids.shape;
  return np.take(p.table, ids.astype(np.int32).reshape([-1]), 0).reshape([...shape, dim]);
}

/** Logits against every row (a tied output head): x (..., dim) → (..., count). */
export function unembed(p: EmbeddingParams, x: np.Array): np.Array {
  const [count, dim] = p.table.shape;
  const lead = x.shape.slice(0, -1);
  return np.matmul(x.reshape([-1, dim]), p.table.transpose()).reshape([...lead, count]);
}
