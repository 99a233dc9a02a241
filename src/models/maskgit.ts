/**
 * MaskGIT sampling of one frame (Chang et al. 2022), as Genie samples its dynamics: start with
 * every token of the new frame hidden; each iteration predicts all hidden tokens at once, keeps
 * the most confident ones and hides the rest again, until after the last iteration none is
 * hidden. The schedule (how many stay hidden after each iteration) is host-side numbers; each
 * iteration is a pure function of arrays (the noise is an input), so it can be jitted or
 * exported like the model.
 *
 * Dimension keys: B batch · N tokens per frame · K codebook size.
 */
import { np, random } from "../core/jax.js";
import type { Key } from "../core/keys.js";
import { logSoftmax } from "./dynamics.js";

/** How the hidden tokens shrink over a frame's MaskGIT iterations. */
export type MaskgitScheduleKind = "cosine" | "geometric";

export const SCHEDULE_KINDS: readonly MaskgitScheduleKind[] = ["cosine", "geometric"];

/**
 * Tokens still hidden after each of `steps` iterations, ending at 0 (decreasing for frames of
 * more than a few tokens, so every iteration reveals some).
 *
 * - cosine (MaskGIT's): floor(N·cos(π/2 · (i+1)/steps)). For N = 256 and 4 steps: 236, 181,
 *   97, 0 — the last iteration samples the 97 least confident tokens at once, independently.
 * - geometric: floor(N^(1 − (i+1)/steps)): 64, 16, 4, 0. Most of a next frame is nearly certain
 *   (the background moves predictably); what is uncertain is a few tokens (a moving sprite),
 *   and this decides them over several iterations, each conditioned on the ones kept before,
 *   instead of all in the last.
 */
export function maskgitSchedule(N: number, steps: number, kind: MaskgitScheduleKind = "cosine"): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`maskgit.ts: sampleSteps must be a positive integer, got ${steps}`);
  if (!SCHEDULE_KINDS.includes(kind)) throw new Error(`maskgit.ts: schedule must be ${SCHEDULE_KINDS.join(" or ")}, got "${kind}"`);
  const fraction = (i: number) => (i + 1) / steps;
  const hidden = (i: number) => (kind === "cosine" ? Math.floor(N * Math.cos((Math.PI / 2) * fraction(i))) : Math.floor(N ** (1 - fraction(i))));
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 ? 0 : hidden(i)));
}

/** Standard Gumbel noise of `shape` from `key` (consumed): −log(−log(u)), u ∈ (0, 1). */
export function gumbelNoise(key: Key, shape: number[]): np.Array {
  const u = random.uniform(key, shape, { minval: 1e-7, maxval: 1 - 1e-7 });
  return np.log(np.log(u).neg()).neg();
}

/**
 * One iteration. Every hidden token is sampled from softmax(logits / temperature) (Gumbel-max
 * with the given noise; temperature 0 = argmax, the noise is then unused); visible tokens stay.
 * Of the tokens hidden before, the `hiddenAfter` whose sampled token had the lowest probability
 * are hidden again. Consumes logits, tokens, mask and noise. Returns int32 tokens and a bool mask.
 */
export function maskgitIteration(
  logits_BNK: np.Array,
  tokens_BN: np.Array,
  mask_BN: np.Array,
  gumbel_BNK: np.Array,
  temperature: number,
  hiddenAfter: number,
): { tokens_BN: np.Array; mask_BN: np.Array } {
  const K = logits_BNK.shape[2];
  const logp = logSoftmax(logits_BNK);
  let score: np.Array;
  if (temperature > 0) score = logp.ref.mul(1 / temperature).add(gumbel_BNK);
  else {
    gumbel_BNK.dispose();
    score = logp.ref;
  }
  const sampled_BN = np.argmax(score, -1).astype(np.int32);
  const classes = np.arange(K).astype(np.int32).reshape([1, 1, K]); // (K) -> (1,1,K)
  const chosen_BNK = sampled_BN.ref.reshape([...sampled_BN.shape, 1]).equal(classes).astype(np.float32); // (B,N) -> (B,N,1)
  const conf_BN = np.where(mask_BN.ref, logp.mul(chosen_BNK).sum(-1), Infinity);
  const tokens = np.where(mask_BN.ref, sampled_BN, tokens_BN.astype(np.int32));
  if (hiddenAfter <= 0) {
    conf_BN.dispose();
    return { tokens_BN: tokens, mask_BN: np.logicalAnd(mask_BN, false) };
  }
  // Rank of each confidence within its frame (0 = least confident); visible ones rank last.
  const rank_BN = np.argsort(np.argsort(conf_BN, -1), -1);
  return { tokens_BN: tokens, mask_BN: np.logicalAnd(mask_BN, rank_BN.less(hiddenAfter)) };
}
