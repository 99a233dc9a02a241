/**
 * One MaskGIT iteration of a live session, the same rule as src/models/maskgit.ts
 * `maskgitIteration` (every hidden token is sampled from softmax(logits / temperature), then the
 * `hiddenAfter` least confident of them are hidden again), in a form that costs little noise and
 * exports to ONNX, so both session backends run it (session-jax.ts jitted, session-ort.ts inside
 * the exported pass) and agree token for token:
 *
 * - Sampling by inverse CDF, one uniform per token (drawn on the host), instead of Gumbel-max, which needs one per
 *   token and code: at 256 tokens × 1,024 codes × 4 passes that is a million random numbers per
 *   frame, 30–35 ms of jax-js's threefry on this 2-core machine, more than the whole onnxruntime
 *   step. Same distribution; different draws for a given seed. The CDF is a blocked cumulative
 *   sum (two small matmuls with triangular constants), as the exporter has no cumsum.
 * - The re-hiding rank by pairwise comparisons (N² per frame) instead of argsort(argsort(·)),
 *   which has no ONNX lowering; ties go to the lower index, as a stable argsort's do.
 *
 * - The choice temperature (optional): the confidence that decides which tokens are hidden again is
 *   log p(sampled) + scale · Gumbel, the Gumbel from a second host uniform per token.
 *
 * Temperature 0 is argmax (no uniforms). Dimension keys: B batch · N tokens · K codebook size.
 */
import { np } from "../core/jax.js";
import { hostRng } from "../core/keys.js";
import { boolArray, logSoftmax } from "../models/dynamics.js";

/** Stable rank of each value within its row (0 = smallest; equal values by index). Consumes x. */
export function stableRank(x_BN: np.Array): np.Array {
  const [B, N] = x_BN.shape;
  const xi_BN1 = x_BN.ref.reshape([B, N, 1]); // (B,N) -> (B,N,1)
  const xj_B1N = x_BN.reshape([B, 1, N]); // (B,N) -> (B,1,N)
  const before_NN = boolArray(Uint8Array.from({ length: N * N }, (_, k) => (k % N < Math.floor(k / N) ? 1 : 0)), [N, N]); // [i, j] = j < i
  const ahead = np.logicalOr(xj_B1N.ref.less(xi_BN1.ref), np.logicalAnd(xj_B1N.equal(xi_BN1), before_NN));
  return ahead.astype(np.int32).sum(-1);
}

/** Largest divisor of K that is at most √K: the block of the two-level cumulative sum. */
function blockOf(K: number): number {
  let b = Math.floor(Math.sqrt(K));
  while (K % b !== 0) b--;
  return b;
}

/** (n, n) float32 with ones where row ≤ column (inclusive) or row < column (strict). */
function upperOnes(n: number, inclusive: boolean): np.Array {
  const data = Float32Array.from({ length: n * n }, (_, k) => {
    const [r, c] = [Math.floor(k / n), k % n];
    return r < c || (inclusive && r === c) ? 1 : 0;
  });
  return np.array(data, { shape: [n, n] });
}

/**
 * A code per token drawn from softmax(logp / temperature) with one uniform u ∈ (0, 1) per token:
 * the first code whose cumulative weight exceeds u × total. Consumes logp and u. Int32 (B, N).
 */
export function sampleInverseCdf(logp_BNK: np.Array, u_BN: np.Array, temperature: number): np.Array {
  const [B, N, K] = logp_BNK.shape;
  const b = blockOf(K);
  const nb = K / b;
  // logp ≤ 0 with its max at 0, so the weights are in (0, 1] and need no normalising.
  const w_BNnb = np.exp(logp_BNK.mul(1 / temperature)).reshape([B, N, nb, b]); // (B,N,K) -> (B,N,nb,b)
  const within = np.matmul(w_BNnb.ref, upperOnes(b, true)); // cumulative inside each block
  const before_BNn = np.matmul(w_BNnb.sum(-1), upperOnes(nb, false)); // total of the blocks before
  const cdf_BNK = within.add(before_BNn.reshape([B, N, nb, 1])).reshape([B, N, K]); // (B,N,nb,b) -> (B,N,K)
  const total_BN1 = cdf_BNK.ref.slice([], [], [K - 1, K]);
  const target_BN1 = u_BN.reshape([B, N, 1]).mul(total_BN1); // (B,N) -> (B,N,1)
  // Counted in float32 (exact below 2^24): jax-js 0.1.25's wasm codegen fails on an int32 sum over
  // a fused comparison of this size ("can't tee local to this value").
  const below_BN = cdf_BNK.less(target_BN1).astype(np.float32).sum(-1);
  return np.minimum(below_BN, K - 1).astype(np.int32);
}

/**
 * One iteration: consumes logits, tokens, mask (bool; true = hidden), u (the uniforms; null at
 * temperature 0) and `choice` (uniforms for the choice noise and its scale at this pass; null =
 * none). Returns int32 tokens and the bool mask after it.
 */
export function sessionIteration(
  logits_BNK: np.Array,
  tokens_BN: np.Array,
  mask_BN: np.Array,
  u_BN: np.Array | null,
  temperature: number,
  hiddenAfter: number,
  choice: { u_BN: np.Array; scale: number } | null = null,
): { tokens_BN: np.Array; mask_BN: np.Array } {
  const [B, N, K] = logits_BNK.shape;
  const logp = logSoftmax(logits_BNK);
  let sampled_BN: np.Array;
  if (temperature > 0) {
    if (!u_BN) throw new Error("sampling.ts: temperature > 0 needs the uniforms u_BN");
    sampled_BN = sampleInverseCdf(logp.ref, u_BN, temperature);
  } else {
    u_BN?.dispose();
    sampled_BN = np.argmax(logp.ref, -1).astype(np.int32);
  }
  const tokens = np.where(mask_BN.ref, sampled_BN.ref, tokens_BN.astype(np.int32));
  if (hiddenAfter <= 0) {
    logp.dispose();
    sampled_BN.dispose();
    choice?.u_BN.dispose();
    return { tokens_BN: tokens, mask_BN: np.logicalAnd(mask_BN, false) };
  }
  const classes = np.arange(K).astype(np.int32).reshape([1, 1, K]); // (K) -> (1,1,K)
  const chosen_BNK = sampled_BN.reshape([B, N, 1]).equal(classes).astype(np.float32); // (B,N) -> (B,N,1)
  // Visible tokens are never hidden again: infinite confidence ranks them last.
  let logpSampled_BN = logp.mul(chosen_BNK).sum(-1);
  if (choice) {
    // Gumbel(0, 1) = −log(−log u); u ∈ [1e-7, 1) from frameUniforms.
    const gumbel_BN = np.log(np.log(choice.u_BN).neg()).neg();
    logpSampled_BN = logpSampled_BN.add(gumbel_BN.mul(choice.scale));
  }
  const conf_BN = np.where(mask_BN.ref, logpSampled_BN, Infinity);
  return { tokens_BN: tokens, mask_BN: np.logicalAnd(mask_BN, stableRank(conf_BN).less(hiddenAfter)) };
}

/**
 * The uniforms of a frame's passes, passes × N values in (0, 1), drawn on the host (mulberry32):
 * a thousand numbers, which jax-js would spend milliseconds of eager dispatch on. With `choice`,
 * passes × N more follow for the choice noise (the first passes × N are the same either way).
 */
export function frameUniforms(seed: number, passes: number, N: number, choice = false): Float32Array {
  const rng = hostRng(seed);
  return Float32Array.from({ length: (choice ? 2 : 1) * passes * N }, () => Math.max(rng(), 1e-7));
}

/**
 * The choice noise's scale at each pass: `choiceTemperature` × (1 − (i + 1) / passes), MaskGIT's
 * annealing (0 at the last pass, which hides nothing anyway).
 */
export function choiceScales(choiceTemperature: number, passes: number): number[] {
  return Array.from({ length: passes }, (_, i) => choiceTemperature * (1 - (i + 1) / passes));
}
