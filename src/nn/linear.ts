/**
 * Dense (fully connected) layer: y = x W + b over the last axis, any leading dims.
 *
 * Ownership: like every apply function in worldkit, `linear` consumes `p` and `x`; pass
 * `tree.ref(p)` (or use `borrow`) to keep the parameters.
 */
import { np, random } from "../core/jax.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";

export interface LinearConfig {
  /** Size of the input's last axis. */
  inDim: number;
  /** Size of the output's last axis. */
  outDim: number;
  /** Whether to add a learned bias (initialized to zero). Default true. */
  bias?: boolean;
  /**
   * Weight initialization: "normal" is a normal with std `initScale / sqrt(inDim)` truncated at
   * two standard deviations (LeCun normal); "uniform" is uniform on ±initScale/sqrt(inDim)
   * (PyTorch's default). Default "normal".
   */
  init?: "normal" | "uniform";
  /** Multiplier on the initial weight scale (e.g. 1/sqrt(2·layers) for residual outputs). Default 1. */
  initScale?: number;
}

export interface LinearParams {
  /** Weight, shape (inDim, outDim). */
  w: np.Array;
  /** Bias, shape (outDim); absent when `bias: false`. */
  b?: np.Array;
}

/**
 * A weight array of `shape` whose fan-in is `fanIn`, initialized as `LinearConfig.init` says.
 * The normal variant is truncated at ±2σ (by redrawing out-of-range values from a second
 * draw, then clipping the rare remainder) and rescaled so its std is exactly `scale/sqrt(fanIn)`.
 */
export function initWeight(key: Key, shape: number[], fanIn: number, init: "normal" | "uniform" = "normal", scale = 1): np.Array {
  const std = scale / Math.sqrt(fanIn);
  if (init === "uniform") return random.uniform(key, shape, { minval: -std, maxval: std });
  const [k1, k2] = splitKey(key, 2);
  const a = random.normal(k1, shape);
  const b = random.normal(k2, shape);
  const inRange = np.abs(a.ref).lessEqual(2);
  const t = np.clip(np.where(inRange, a, b), -2, 2);
  // Std of a standard normal truncated at ±2.
  return t.mul(std / 0.8796256610342398);
}

/** Initialize a Linear layer (deterministic from `key`, which is consumed). */
export function initLinear(key: Key, cfg: LinearConfig): LinearParams {
  const w = initWeight(key, [cfg.inDim, cfg.outDim], cfg.inDim, cfg.init ?? "normal", cfg.initScale ?? 1);
  return cfg.bias ?? true ? { w, b: np.zeros([cfg.outDim]) } : { w };
}

/** y_(...,out) = x_(...,in) W + b. One matmul over all leading dims. */
export function linear(p: LinearParams, x: np.Array): np.Array {
  const [inDim, outDim] = p.w.shape;
  if (x.shape[x.ndim - 1] !== inDim) {
    throw new Error(`linear: input last axis ${x.shape[x.ndim - 1]} != inDim ${inDim} (input shape [${x.shape}])`);
  }
  const lead = x.shape.slice(0, -1);
  let y = np.matmul(x.reshape([-1, inDim]), p.w);
  if (p.b) y = y.add(p.b);
  return y.reshape([...lead, outDim]);
}
