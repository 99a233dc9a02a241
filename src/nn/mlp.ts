/**
 * Position-wise MLP over the last axis, in two kinds:
 *
 * - "gelu":   down(gelu(up(x)))                    (up, down with biases; tanh-approximate GELU)
 * - "swiglu": down(silu(gate(x)) · up(x))          (no biases; gate and up fused in one matmul)
 *
 * The kind is fixed by the parameters' structure (`up` vs `gateUp`), so apply needs no config.
 * Ownership: `mlp` consumes `p` and `x`.
 */
import { jnn, np } from "../core/jax.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { initLinear, linear } from "./linear.js";
import type { LinearParams } from "./linear.js";

export interface MLPConfig {
  /** Input and output width. */
  dim: number;
  /** Hidden width (for "swiglu", the width of each of the gate and up branches). */
  hidden: number;
  /** Activation: "gelu" (up → GELU → down) or "swiglu" (SiLU-gated). */
  kind: "gelu" | "swiglu";
  /** Multiplier on the output projection's initial scale (e.g. 1/sqrt(2·layers) in a residual stack). Default 1. */
  outInitScale?: number;
}

export interface GeluMLPParams {
  /** dim → hidden, with bias. */
  up: LinearParams;
  /** hidden → dim, with bias. */
  down: LinearParams;
}

export interface SwiGLUMLPParams {
  /** dim → 2·hidden (gate columns first, then up), no bias. */
  gateUp: LinearParams;
  /** hidden → dim, no bias. */
  down: LinearParams;
}

export type MLPParams = GeluMLPParams | SwiGLUMLPParams;

/** Initialize an MLP (deterministic from `key`, which is consumed). */
export function initMLP(key: Key, cfg: MLPConfig): MLPParams {
  const [k1, k2] = splitKey(key, 2);
  const outInitScale = cfg.outInitScale ?? 1;
  if (cfg.kind === "swiglu") {
    return {
      gateUp: initLinear(k1, { inDim: cfg.dim, outDim: 2 * cfg.hidden, bias: false }),
      down: initLinear(k2, { inDim: cfg.hidden, outDim: cfg.dim, bias: false, initScale: outInitScale }),
    };
  }
  if (cfg.kind !== "gelu") throw new Error(`initMLP: unknown kind "${cfg.kind as string}" (expected "gelu" or "swiglu")`);
  return {
    up: initLinear(k1, { inDim: cfg.dim, outDim: cfg.hidden }),
    down: initLinear(k2, { inDim: cfg.hidden, outDim: cfg.dim, initScale: outInitScale }),
  };
}

/** The MLP applied over the last axis: (..., dim) → (..., dim). */
export function mlp(p: MLPParams, x: np.Array): np.Array {
  if ("gateUp" in p) {
    const hidden = p.down.w.shape[0];
    const gu = linear(p.gateUp, x);
    const [gate, up] = np.split(gu, [hidden], -1);
    return linear(p.down, jnn.silu(gate).mul(up));
  }
  return linear(p.down, jnn.gelu(linear(p.up, x)));
}
