/**
 * Normalization over the last axis: LayerNorm (scale and bias) and RMSNorm (scale only).
 *
 * Statistics are computed in the input's dtype (float32). Ownership: apply functions consume
 * `p` and `x`.
 */
import { np } from "../core/jax.js";
import { divide } from "./ops.js";

export interface NormConfig {
  /** Size of the normalized (last) axis. */
  dim: number;
  /** Added to the variance (mean square for RMSNorm) before the square root. Default 1e-5 (LayerNorm), 1e-6 (RMSNorm). */
  eps?: number;
}

export interface LayerNormParams {
  /** Multiplier, shape (dim), initialized to 1. */
  scale: np.Array;
  /** Offset, shape (dim), initialized to 0. */
  bias: np.Array;
}

export interface RMSNormParams {
  /** Multiplier, shape (dim), initialized to 1. */
  scale: np.Array;
}

/** Either norm; `norm()` tells them apart by the presence of `bias`. */
export type NormParams = LayerNormParams | RMSNormParams;

export const LAYER_NORM_EPS = 1e-5;
export const RMS_NORM_EPS = 1e-6;

/** LayerNorm parameters (no randomness, so no key). */
export function initLayerNorm(cfg: NormConfig): LayerNormParams {
  return { scale: np.ones([cfg.dim]), bias: np.zeros([cfg.dim]) };
}

/** RMSNorm parameters (no randomness, so no key). */
export function initRMSNorm(cfg: NormConfig): RMSNormParams {
  return { scale: np.ones([cfg.dim]) };
}

/** (x − mean) / sqrt(var + eps) · scale + bias, over the last axis. */
export function layerNorm(p: LayerNormParams, x: np.Array, eps = LAYER_NORM_EPS): np.Array {
  const mu = x.ref.mean(-1, { keepdims: true });
  const xc = x.sub(mu);
  const variance = np.square(xc.ref).mean(-1, { keepdims: true });
  return divide(xc, np.sqrt(variance.add(eps))).mul(p.scale).add(p.bias);
}

/** x / sqrt(mean(x²) + eps) · scale, over the last axis. */
export function rmsNorm(p: RMSNormParams, x: np.Array, eps = RMS_NORM_EPS): np.Array {
  const ms = np.square(x.ref).mean(-1, { keepdims: true });
  return divide(x, np.sqrt(ms.add(eps))).mul(p.scale);
}

/** LayerNorm if `p` has a bias, RMSNorm otherwise (eps defaults per kind). */
export function norm(p: NormParams, x: np.Array, eps?: number): np.Array {
  return "bias" in p ? layerNorm(p, x, eps) : rmsNorm(p, x, eps);
}

/** Initialize either kind. */
export function initNorm(kind: "layer" | "rms", cfg: NormConfig): NormParams {
  return kind === "layer" ? initLayerNorm(cfg) : initRMSNorm(cfg);
}
