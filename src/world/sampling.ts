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
 *   step. Same distribution; different draws for a given seed. The CDF is searched in two levels
 *   (blocks, then codes in the block; small matmuls with triangular constants), as the exporter
 *   has no cumsum.
 * - The re-hiding rank by pairwise comparisons (N² per frame) instead of argsort(argsort(·)),
 *   which has no ONNX lowering; ties go to the lower index, as a stable argsort's do.
 *
 * - The choice temperature (optional): the confidence that decides which tokens are hidden again is
 *   log p(sampled) + scale · Gumbel, the Gumbel from a second host uniform per token.
 *
 * Temperature 0 is argmax (no uniforms). Dimension keys: B batch · N tokens · K codebook size.
 */
import { lax, np } from "../core/jax.js";
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
 * A code per token drawn from softmax(logits / temperature) with one uniform u ∈ (0, 1) per token:
 * the first code whose cumulative weight exceeds u × total, found in two levels so that nothing
 * but the exponential touches all K weights twice: the block of b codes whose running total
 * passes the target (from the blocks' sums), then the code inside that block (from its b
 * weights, picked out by a one-hot matmul). With `withLogp`, also the sampled code's log-
 * probability under softmax(logits) (temperature 1: the MaskGIT confidence). Consumes logits and
 * u. Codes int32 (B, N); logp float32 (B, N) or null.
 *
 * Measured in onnxruntime-web (wasm, 1 thread) on the 2-layer default world's sample graph: the
 * full-K cumulative sum this replaces (a (B·N·K/b, b) × (b, b) matmul, which int8 export also
 * quantized, activation and all) and the one-hot gather of the sampled log-probability were
 * ~4 of a pass's ~15 ms.
 */
export function sampleInverseCdf(logits_BNK: np.Array, u_BN: np.Array, temperature: number, withLogp = false): { codes_BN: np.Array; logp_BN: np.Array | null } {
  const [B, N, K] = logits_BNK.shape;
  const b = blockOf(K);
  const nb = K / b;
  const z_BNK = logits_BNK.sub(lax.stopGradient(logits_BNK.ref.max(-1, { keepdims: true }))); // ≤ 0, max 0
  // Weights in (0, 1]; they need no normalising for the draw.
  const w_BNK = np.exp(temperature === 1 ? z_BNK.ref : z_BNK.ref.mul(1 / temperature));
  const w_BNnb = w_BNK.reshape([B, N, nb, b]); // (B,N,K) -> (B,N,nb,b)
  const blockSum_BNn = w_BNnb.ref.sum(-1);
  const upTo_BNn = np.matmul(blockSum_BNn.ref, upperOnes(nb, true)); // running total through each block
  const total_BN1 = upTo_BNn.ref.slice([], [], [nb - 1, nb]);
  const target_BN1 = u_BN.reshape([B, N, 1]).mul(total_BN1.ref); // (B,N) -> (B,N,1)
  // Counted in float32 (exact below 2^24): jax-js 0.1.25's wasm codegen failed on an int32 sum over a fused comparison.
  const block_BN = np.minimum(upTo_BNn.less(target_BN1.ref).astype(np.float32).sum(-1), nb - 1);
  const blockIds = np.arange(nb).astype(np.float32).reshape([1, 1, nb]); // (nb) -> (1,1,nb)
  const isBlock_BNn = block_BN.ref.reshape([B, N, 1]).equal(blockIds.ref).astype(np.float32); // (B,N) -> (B,N,1)
  const before_BN1 = blockSum_BNn.mul(block_BN.ref.reshape([B, N, 1]).greater(blockIds).astype(np.float32)).sum(-1, { keepdims: true }); // the blocks before it
  const row_BNb = np.matmul(isBlock_BNn.reshape([B * N, 1, nb]), w_BNnb.reshape([B * N, nb, b])).reshape([B, N, b]); // that block's weights
  const within_BNb = np.matmul(row_BNb.ref, upperOnes(b, true)).add(before_BN1);
  const inBlock_BN = np.minimum(within_BNb.less(target_BN1).astype(np.float32).sum(-1), b - 1);
  const code_BN = block_BN.mul(b).add(inBlock_BN.ref);
  let logp_BN: np.Array | null = null;
  if (withLogp) {
    // log p(code) = z_code − log Σ exp(z); z_code = T · log w_code, and at T = 1 the sum is the total already at hand.
    const pick_BNb = inBlock_BN.reshape([B, N, 1]).equal(np.arange(b).astype(np.float32).reshape([1, 1, b])).astype(np.float32); // (B,N) -> (B,N,1)
    const zCode_BN = np.log(row_BNb.mul(pick_BNb).sum(-1)).mul(temperature);
    const logTotal_BN = temperature === 1 ? np.log(total_BN1.reshape([B, N])) : np.log(np.exp(z_BNK.ref).sum(-1));
    if (temperature !== 1) total_BN1.dispose();
    logp_BN = zCode_BN.sub(logTotal_BN);
  } else {
    inBlock_BN.dispose();
    row_BNb.dispose();
    total_BN1.dispose();
  }
  z_BNK.dispose();
  return { codes_BN: code_BN.astype(np.int32), logp_BN };
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
  const rehide = hiddenAfter > 0;
  let sampled_BN: np.Array;
  let logpSampled_BN: np.Array | null = null;
  if (temperature > 0) {
    if (!u_BN) throw new Error("sampling.ts: temperature > 0 needs the uniforms u_BN");
    ({ codes_BN: sampled_BN, logp_BN: logpSampled_BN } = sampleInverseCdf(logits_BNK, u_BN, temperature, rehide));
  } else {
    u_BN?.dispose();
    const logp = logSoftmax(logits_BNK);
    sampled_BN = np.argmax(logp.ref, -1).astype(np.int32);
    if (rehide) {
      const classes = np.arange(K).astype(np.int32).reshape([1, 1, K]); // (K) -> (1,1,K)
      logpSampled_BN = logp.mul(sampled_BN.ref.reshape([B, N, 1]).equal(classes).astype(np.float32)).sum(-1); // (B,N) -> (B,N,1)
    } else logp.dispose();
  }
  const tokens = np.where(mask_BN.ref, sampled_BN, tokens_BN.astype(np.int32));
  if (!rehide) {
    choice?.u_BN.dispose();
    return { tokens_BN: tokens, mask_BN: np.logicalAnd(mask_BN, false) };
  }
  let conf_BN = logpSampled_BN!;
  if (choice) {
    // Gumbel(0, 1) = −log(−log u); u ∈ [1e-7, 1) from frameUniforms.
    const gumbel_BN = np.log(np.log(choice.u_BN).neg()).neg();
    conf_BN = conf_BN.add(gumbel_BN.mul(choice.scale));
  }
  // Visible tokens are never hidden again: infinite confidence ranks them last.
  conf_BN = np.where(mask_BN.ref, conf_BN, Infinity);
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
