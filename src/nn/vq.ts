/**
 * Vector quantizer (VQ-VAE, van den Oord et al. 2017): each D-vector of the encoder output is
 * replaced by its nearest codebook entry, with a straight-through gradient. The codebook is
 * either learned by gradient (codebook loss) or kept as an exponential moving average of the
 * vectors assigned to each code (EMA, with Laplace smoothing), plus a reset of dead codes to
 * recent encoder outputs, the usual cure for codebook collapse.
 *
 * Dimension keys: N vectors (every leading dim of the input, flattened), D code width,
 * K codebook size.
 *
 * Ownership: every function consumes the arrays it is given, params and state included; pass
 * `tree.ref(x)` to keep them. All functions are pure and traceable (no host reads), so they can
 * sit inside a jitted training step and be exported with `makeJaxpr`.
 */
import { jnn, lax, np, random } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";

export interface VQConfig {
  /** K: number of codebook entries. */
  codes: number;
  /** D: width of each code; must equal the last axis of the quantized input. */
  dim: number;
  /** Weight of the commitment loss β·‖z − sg(e)‖²; 0.25 as in the VQ-VAE paper. */
  beta: number;
  /**
   * "learned": the codebook is a gradient parameter trained by the codebook loss.
   * "ema": it follows the running mean of its assigned vectors (`emaUpdate`); steadier, and
   * the codebook loss is zero (keep the codebook out of the optimizer's params then).
   */
  codebook: "ema" | "learned";
  /** EMA decay per update; 0.99 is the common choice (≈ 100-update memory). */
  emaDecay: number;
  /** Laplace smoothing of EMA cluster sizes, so a code with no assignments never divides by 0. */
  emaEps: number;
  /** A code unused for this many consecutive `updateCodeAge` calls is dead and gets reset. */
  deadCodeSteps: number;
  /** Std of the noise added to a reset code, relative to the RMS of the encoder outputs, so two codes reset to the same vector can still separate. */
  resetNoise: number;
  /** Std of the initial codes (normal); 1 matches unit-variance encoder outputs. */
  initScale: number;
}

export const VQ_DEFAULTS: Readonly<VQConfig> = freezeDeep({
  codes: 1024,
  dim: 32,
  beta: 0.25,
  codebook: "ema",
  emaDecay: 0.99,
  emaEps: 1e-5,
  deadCodeSteps: 200,
  resetNoise: 0.01,
  initScale: 1,
});

export interface VQParams {
  /** The codebook, one code per row, shape (K, D). */
  codebook_KD: np.Array;
}

/** Non-gradient state of an EMA codebook: codebook = embedSum / smoothed(clusterSize). */
export interface VQEmaState {
  /** EMA of the number of vectors assigned to each code, shape (K). */
  clusterSize_K: np.Array;
  /** EMA of the sum of the vectors assigned to each code, shape (K, D). */
  embedSum_KD: np.Array;
}

export interface QuantizeOutput {
  /** Quantized vectors with a straight-through gradient, same shape as the input z. */
  zq: np.Array;
  /** Index of the nearest code, int32, the input's shape without its last axis. */
  indices: np.Array;
  /** β·mean((z − sg(e))²): pulls the encoder towards its codes. */
  commitLoss: np.Array;
  /** mean((sg(z) − e)²): pulls the codes towards the encoder; a constant 0 in EMA mode. */
  codebookLoss: np.Array;
}

function checkConfig(cfg: VQConfig): void {
  for (const key of ["codes", "dim", "deadCodeSteps"] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw new Error(`vq.ts: config "${key}" must be an integer ≥ 1, got ${cfg[key]}`);
  }
  if (cfg.codebook !== "ema" && cfg.codebook !== "learned") {
    throw new Error(`vq.ts: config "codebook" must be "ema" or "learned", got ${JSON.stringify(cfg.codebook)}`);
  }
  if (!(cfg.emaDecay >= 0 && cfg.emaDecay < 1)) throw new Error(`vq.ts: config "emaDecay" must be in [0, 1), got ${cfg.emaDecay}`);
  if (!(cfg.emaEps > 0)) throw new Error(`vq.ts: config "emaEps" must be > 0, got ${cfg.emaEps}`);
}

function checkCodebook(codebook_KD: np.Array, cfg: VQConfig, where: string): void {
  const [k, d] = codebook_KD.shape;
  if (codebook_KD.ndim !== 2 || k !== cfg.codes || d !== cfg.dim) {
    throw new Error(`vq.ts ${where}: codebook shape [${codebook_KD.shape}] != [codes=${cfg.codes}, dim=${cfg.dim}]`);
  }
}

/** (..., D) -> (N, D), checking D. */
function flattenVectors(z: np.Array, cfg: VQConfig, where: string): np.Array {
  if (z.ndim < 1 || z.shape[z.ndim - 1] !== cfg.dim) {
    throw new Error(`vq.ts ${where}: input shape [${z.shape}] must end in dim=${cfg.dim}`);
  }
  return z.reshape([-1, cfg.dim]); // (..., D) -> (N, D)
}

/** A fresh codebook, normal with std `initScale` (key consumed). */
export function initVQ(key: Key, cfg: VQConfig): VQParams {
  checkConfig(cfg);
  return { codebook_KD: random.normal(key, [cfg.codes, cfg.dim]).mul(cfg.initScale) };
}

/**
 * EMA state matching `codebook_KD` (consumed): every code counted once with itself as the sum,
 * so `embedSum / clusterSize` starts equal to the codebook.
 */
export function initVQEma(codebook_KD: np.Array, cfg: VQConfig): VQEmaState {
  checkCodebook(codebook_KD, cfg, "initVQEma");
  return { clusterSize_K: np.ones([cfg.codes]), embedSum_KD: codebook_KD.astype(np.float32) };
}

/** Quantize z (any leading dims, last axis D) to its nearest codes. Consumes `p` and `z`. */
export function quantize(p: VQParams, z: np.Array, cfg: VQConfig): QuantizeOutput {
  checkCodebook(p.codebook_KD, cfg, "quantize");
  const K = cfg.codes;
  const lead = z.shape.slice(0, -1);
  const z_ND = flattenVectors(z, cfg, "quantize");
  const e_KD = p.codebook_KD;

  // ‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖², with one matmul. ‖z‖² is the same for every code, so it is
  // left out: it cannot change the argmin, and adding a large constant would only cost float32
  // precision in the comparison. No gradient flows through the choice.
  const zs_ND = lax.stopGradient(z_ND.ref);
  const es_KD = lax.stopGradient(e_KD.ref);
  const eSq_1K = np.square(es_KD.ref).sum(1).reshape([1, K]); // (K) -> (1, K)
  const dist_NK = eSq_1K.sub(np.matmul(zs_ND, es_KD.transpose()).mul(2));
  const indices_N = np.argmin(dist_NK, 1).astype(np.int32);

  const q_ND = np.take(e_KD, indices_N.ref, 0);
  const commitLoss = np.square(z_ND.ref.sub(lax.stopGradient(q_ND.ref))).mean().mul(cfg.beta);
  const codebookLoss =
    cfg.codebook === "learned" ? np.square(lax.stopGradient(z_ND.ref).sub(q_ND.ref)).mean() : np.zeros([]);
  // Straight-through: the value is the code, the gradient passes to z unchanged.
  const zq_ND = z_ND.ref.add(lax.stopGradient(q_ND.sub(z_ND)));
  return {
    zq: zq_ND.reshape([...lead, cfg.dim]), // (N, D) -> (..., D)
    indices: indices_N.reshape(lead), // (N) -> (...)
    commitLoss,
    codebookLoss,
  };
}

/**
 * One EMA step towards the mean of the vectors assigned to each code. Consumes `state`, `z`
 * (any leading dims, last axis D) and `indices` (z's shape without D); returns the new codebook
 * and state. A code with no assignments keeps its direction while its counts decay; dead-code
 * reset handles those.
 */
export function emaUpdate(state: VQEmaState, z: np.Array, indices: np.Array, cfg: VQConfig): { codebook_KD: np.Array; state: VQEmaState } {
  const K = cfg.codes;
  const d = cfg.emaDecay;
  const z_ND = lax.stopGradient(flattenVectors(z, cfg, "emaUpdate").astype(np.float32));
  // jax-js 0.1.25 reads uninitialized memory when reducing a zero-size array, so refuse N = 0.
  if (z_ND.shape[0] === 0) throw new Error(`vq.ts emaUpdate: got no input vectors (shape [${z.shape}])`);
  if (indices.size !== z_ND.shape[0]) {
    throw new Error(`vq.ts emaUpdate: indices shape [${indices.shape}] does not match ${z_ND.shape[0]} input vectors`);
  }
  const onehot_NK = jnn.oneHot(indices.reshape([-1]).astype(np.int32), K); // (...) -> (N) -> (N, K)
  const counts_K = onehot_NK.ref.sum(0);
  const sums_KD = np.matmul(onehot_NK.transpose(), z_ND);
  const clusterSize_K = state.clusterSize_K.mul(d).add(counts_K.mul(1 - d));
  const embedSum_KD = state.embedSum_KD.mul(d).add(sums_KD.mul(1 - d));
  // Laplace smoothing: (c_k + ε) / (n + Kε) · n keeps the total n and every size > 0.
  const n = clusterSize_K.ref.sum();
  const smoothed_K = clusterSize_K.ref.add(cfg.emaEps).div(n.ref.add(K * cfg.emaEps)).mul(n);
  const codebook_KD = embedSum_KD.ref.div(smoothed_K.reshape([K, 1])); // (K) -> (K, 1)
  return { codebook_KD, state: { clusterSize_K, embedSum_KD } };
}

/** Per-code age (steps since last use), all zero: int32, shape (K). */
export function initCodeAge(cfg: VQConfig): np.Array {
  return np.zeros([cfg.codes], { dtype: np.int32 });
}

/** Ages after one step whose code choices were `indices` (consumed, any shape): used codes go to 0, the rest grow by 1. */
export function updateCodeAge(age_K: np.Array, indices: np.Array, cfg: VQConfig): np.Array {
  const used_K = jnn.oneHot(indices.reshape([-1]).astype(np.int32), cfg.codes).sum(0).greater(0); // (...) -> (N)
  return np.where(used_K, 0, age_K.add(1)).astype(np.int32);
}

/**
 * Move every code whose age is ≥ `deadCodeSteps` to a randomly chosen recent encoder output
 * (rows of `z_ND`, distinct when there are at least K of them) plus a little noise, and zero its
 * age. With an EMA state, the state is reset to match (one assignment, the new code as its sum)
 * so the next `emaUpdate` does not undo the move. Consumes everything it is given.
 */
export function resetDeadCodes(
  codebook_KD: np.Array,
  age_K: np.Array,
  z_ND: np.Array,
  key: Key,
  cfg: VQConfig,
  ema?: VQEmaState,
): { codebook_KD: np.Array; age_K: np.Array; ema?: VQEmaState } {
  checkCodebook(codebook_KD, cfg, "resetDeadCodes");
  const K = cfg.codes;
  const D = cfg.dim;
  const samples_ND = lax.stopGradient(flattenVectors(z_ND, cfg, "resetDeadCodes").astype(np.float32));
  const N = samples_ND.shape[0];
  const [kPick, kNoise] = splitKey(key, 2);
  const rows_K =
    N >= K ? random.permutation(kPick, N).slice([0, K]) : random.randint(kPick, { minval: 0, maxval: N, shape: [K] });
  const rms = np.sqrt(np.square(samples_ND.ref).mean());
  const noise_KD = random.normal(kNoise, [K, D]).mul(rms.mul(cfg.resetNoise));
  const fresh_KD = np.take(samples_ND, rows_K.astype(np.int32), 0).add(noise_KD);

  const dead_K = age_K.ref.greaterEqual(cfg.deadCodeSteps);
  const dead_K1 = dead_K.ref.reshape([K, 1]); // (K) -> (K, 1)
  const newCodebook_KD = np.where(dead_K1.ref, fresh_KD.ref, codebook_KD);
  const newAge_K = np.where(dead_K.ref, 0, age_K).astype(np.int32);
  if (!ema) {
    dead_K.dispose();
    dead_K1.dispose();
    fresh_KD.dispose();
    return { codebook_KD: newCodebook_KD, age_K: newAge_K };
  }
  return {
    codebook_KD: newCodebook_KD,
    age_K: newAge_K,
    ema: {
      clusterSize_K: np.where(dead_K, 1, ema.clusterSize_K),
      embedSum_KD: np.where(dead_K1, fresh_KD, ema.embedSum_KD),
    },
  };
}

/**
 * Codebook health from the chosen `indices` (consumed, any shape): `usage` is the fraction of
 * the K codes chosen at least once, `perplexity` is exp(entropy of the code histogram), between
 * 1 (one code) and K (all equally often). Float32 scalars.
 */
export function codebookStats(indices: np.Array, K: number): { usage: np.Array; perplexity: np.Array } {
  const idx_N = indices.reshape([-1]).astype(np.int32); // (...) -> (N)
  const N = idx_N.shape[0];
  if (N === 0) throw new Error(`vq.ts codebookStats: got no indices (shape [${indices.shape}])`);
  const counts_K = jnn.oneHot(idx_N, K).sum(0);
  const usage = counts_K.ref.greater(0).astype(np.float32).mean();
  const p_K = counts_K.div(N);
  // p·log(max(p, tiny)) is exactly 0 for unused codes, where p·log(p) would be 0·(−∞) = NaN.
  const entropy = p_K.ref.mul(np.log(np.maximum(p_K, 1e-30))).sum().neg();
  return { usage, perplexity: np.exp(entropy) };
}
