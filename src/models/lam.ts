/**
 * Phase 2: the latent action model (LAM), as in Genie. From frames alone it learns a small
 * vocabulary of discrete actions: an encoder sees x_≤t+1 and names what changed between x_t and
 * x_t+1 with one of A codes (p(a_t | x_≤t, x_t+1)); a decoder must rebuild x_t+1 from x_t and
 * that code alone. At play time a person's key presses pick the codes.
 *
 *   x_BTHWC → patches → Linear → +pos → ST encoder (causal time) → h_BTND
 *   (h_t, h_t+1, Linear(patch_t+1 − patch_t)) per token → Linear → GELU → mean‖max over N
 *     → Linear → normalize → z_BUd → VQ (A codes) → a_BU
 *   x_t → patches → Linear → +pos → +Linear(zq) → ST decoder (one frame) → Linear → Δ → x̂_t+1 = x_t + Δ
 *
 * The decoder sees x_t and the last motion x_t − x_t−1 (`decoderMotion`): without the motion,
 * momentum (a fall, the rise of a jump) is unpredictable from x_t and the few codes were spent
 * on vertical velocity instead of the action (measured on the platformer: right and right+jump
 * spread evenly over four codes, purity 0.59). With one frame of motion, physics is the
 * decoder's job and the codes name what the player did. Held actions could still leak through
 * the motion, so the decoder never sees more than one step of it. The decoder also predicts
 * the change Δ rather than the frame, so "copy x_t" costs nothing and the code is what pays; and
 * the reconstruction error is weighted towards pixels that changed (`changeWeight`), so the few
 * pixels a jump moves count as much as a scrolling background.
 *
 * Dimension keys: B batch · T frames · U = T − 1 transitions · H,W pixels · C channels ·
 * N tokens per frame · Q values per patch · D model width · d code width · A action codes.
 */
import { jnn, lax, np, tree } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { initLinear, linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { addPositions, initLearnedPositions } from "../nn/position.js";
import type { LearnedPositionParams } from "../nn/position.js";
import { initSTStack, stBlock, stStack } from "../nn/st-block.js";
import { norm } from "../nn/norm.js";
import { divide } from "../nn/ops.js";
import type { STStackParams } from "../nn/st-block.js";
import { VQ_DEFAULTS, initCodeAge, initVQ, initVQEma, quantize } from "../nn/vq.js";
import type { VQConfig, VQEmaState } from "../nn/vq.js";
import { gridOf, patchify, unpatchify } from "./patches.js";
import { globalWarp, offsetDistribution, poolFrames, unpoolFrames } from "./motion.js";
import { explainLoss } from "./lam-explain.js";
import type { ExplainHeads } from "./lam-explain.js";

export interface LamConfig {
  /** Frame height in pixels (a multiple of `patch`). */
  height: number;
  /** Frame width in pixels. */
  width: number;
  /** 3 (RGB) or 4 (RGB-D, depth last). RGB is enough to tell these actions apart, and cheaper. */
  channels: number;
  /** Patch side P (64×64 frames, P = 8 → 64 tokens: small enough for a CPU). */
  patch: number;
  /** Model width D of both stacks. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** ST blocks in the encoder. */
  encoderLayers: number;
  /** ST blocks in the decoder. */
  decoderLayers: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /** A: the number of latent actions (codes). */
  codes: number;
  /** Code width d; small, as in Genie, so the bottleneck is the choice of code, not its vector. */
  codeDim: number;
  /** β of the commitment term. */
  beta: number;
  /** EMA decay of the codebook. */
  emaDecay: number;
  /** A code unused for this many steps is reset to a recent encoder output (collapse cure). */
  deadCodeSteps: number;
  /** Whether the decoder also sees the last motion x_t − x_t−1 (momentum), not only x_t. */
  decoderMotion: boolean;
  /** Extra weight of pixels that changed: w = 1 + changeWeight·|x_t+1 − x_t| (mean over channels). */
  changeWeight: number;
  /**
   * The LAM works on frames averaged over pool×pool pixel blocks (1: full size); `patch` counts
   * pooled pixels. Actions are whole-frame motions, and a small decoder cannot rebuild a
   * first-person view shifted by a turn at full size: measured on maze3d at 64×64, its
   * predictions under every code were the same blur of x_t and the codes carried nothing.
   */
  pool: number;
  /**
   * How the action enters the decoder's blocks: "add" (x + a before each block) or "film"
   * (x·(1 + γ(a)) + β(a): the action scales features, so each code can select its own map of
   * x_t). Measured with the true action given to a 1-token decoder on maze3d (8×8 pooled,
   * 600 steps): additive conditioning left turns at the copy-x_t error (0.0053 vs 0.0056),
   * FiLM brought them to 0.0043–0.0049.
   */
  decoderAction: "add" | "film";
  /**
   * What the code is computed from, per token: "frames" (the encoder features of x_t and x_t+1
   * and the raw patch change) or "change" (only their differences: h_t+1 − h_t and the raw patch
   * change). The EMA codebook is an online k-means of the latents; with whole frames in them its
   * clusters followed the scene (maze3d: wall colours) instead of what changed.
   */
  codeFrom: "frames" | "change";
  /**
   * Radius r of the decoder's global warp (0: none). With r > 0 each code also picks a
   * (2r+1)² kernel (softmax) that moves all of x_t at once, x̂ = Σ_j K_j(a)·shift_j(x_t) + Δ,
   * as in Finn et al.'s CDNA video predictor: a camera turn moves every pixel, which a small
   * transformer decoder did not learn to do even when told the true action (maze3d: turns
   * stayed at the copy-x_t error), so the codes carried nothing.
   */
  decoderWarp: number;
  /**
   * The warp's kernels per code form a g×g grid over the frame (1: one global kernel). Moving
   * forward or back in a first-person view expands or contracts the image about its centre:
   * the left of the frame moves left, the right right, which one global shift cannot say, so
   * walking, backing and standing stayed one code on maze3d. With g > 1 each region of the
   * frame moves by its own kernel (a piecewise-translation of the flow), as in CDNA's several
   * masked kernels but with fixed, regular masks.
   */
  warpRegions: number;
  /**
   * Radius r of the encoder's cost volume (0: none): for every offset (dy, dx) ∈ [−r, r]² the
   * squared error between x_t+1 and x_t shifted by it, per token, normalised and turned into a
   * distribution over offsets (softmin) — where each token's content moved, whatever it shows
   * (the correlation layer of FlowNet). Without it the codes told turns from walking on maze3d
   * but not left from right: the encoder compares a token only with the same token a frame
   * earlier, and a turn moves content by about a token.
   */
  costVolume: number;
  /**
   * Weight of a second thing the quantized action must explain (0: none; needs costVolume): every
   * token's offset distribution, predicted from the code alone (cross-entropy) — where the frame's
   * content moved (a turn shifts it all, walking spreads it out from the centre). On maze3d the
   * codes split turning from walking but not left from right (latents of the two 0.12 apart
   * against a spread of 0.18–0.2): a decoder that has not yet learnt the direction gives the
   * encoder no reason to keep it, and without it in the code the decoder never learns it.
   */
  flowWeight: number;
  /**
   * Weight of a third thing the code must explain (0: none): for every token and channel, whether
   * its mean value went down, stayed (within `signThreshold`) or went up from x_t to x_t+1,
   * predicted from the code alone (cross-entropy). Walking forward, backing and standing still
   * look alike to the offset distribution (nothing moves by a whole pooled pixel) and cost the
   * decoder little to confuse, so they shared codes on maze3d; in depth they differ in sign
   * (every wall nearer, farther, the same), which this term makes the code carry.
   */
  signWeight: number;
  /**
   * Radius r of a second cost volume taken on the full-size frames (0: none), per token of the
   * pooled grid (each token covers pool·patch pixels): an encoder input and, with flowWeight, a
   * second flow target the code must explain. The pooled cost volume sees turns (about a token)
   * but not a step forward or back far from a wall, whose floor and side walls move 1–4 full-size
   * pixels outward or inward: under a pooled pixel. On maze3d the codes split each move by the
   * distance to the wall ahead, and a step back shared the forward code at the same distance.
   */
  fineFlow: number;
  /**
   * Fraction of the decoder's input tokens (patches of x_t and of the last motion) zeroed in
   * training, each transition its own random set (0: none; inference always sees all). What the
   * decoder cannot see in x_t, the code must tell it: a key whose effect persists (the
   * platformer's jump pose while the key is held) otherwise shows in x_t on every step but the one
   * it was pressed on, so a LAM that codes what changed does not code the key — the decoder that
   * ignores the action because the past frames tell it enough (measured: purity against the keys
   * 0.66, against the keys' effects 0.97).
   */
  decoderDrop: number;
  /**
   * What sets the warp's kernels (with decoderWarp): "code" (the code alone), or "decoder" (the
   * code's kernels plus a correction read from the decoder's output tokens of each region, which
   * see x_t, its depth included, and the code). A step's effect on the view depends on where the
   * walker stands (a step towards a near wall expands the view far more than one down a long
   * corridor); with kernels from the code alone the codes had to say how far (maze3d: forward got
   * three codes by the distance ahead, turns two) and a step back found none of its own.
   */
  warpFrom: "code" | "decoder";
  /**
   * Weight of a term that teaches the encoder to pick the code under which the decoder predicts
   * x_t+1 best (0: none): a cross-entropy of the encoder's soft choice, softmax of −‖z − e_k‖²
   * times assignSharpness, against that code (found by decoding under all A codes, no gradient
   * through the search). The straight-through gradient of VQ only nudges z within its code's
   * cell; it never says that another code would rebuild the frame better. Measured on a maze3d
   * LAM trained without it: its decoder had codes for standing still and for a step back (the
   * code that rebuilt a step back best was one that backs), but its encoder put steps back on
   * forward codes (purity against the effective actions 0.83 by the encoder's codes, 0.86 by the
   * decoder's best). It is a second stage: from scratch the untrained decoder's best code is
   * arbitrary and the term locks that in (maze3d purity 0.66 at 2,500 steps); 1,000 steps of it
   * on a trained LAM took maze3d from 0.773 to 0.876 (weight 0.3; another seed 0.747 → 0.855),
   * with turns no longer sharing codes. Training the decoder on its own best codes instead
   * (hard EM) collapsed onto two codes within 750 steps.
   */
  assignWeight: number;
  /** Scale of −‖z − e_k‖² in the assignWeight term's softmax (z and the codes are near the unit sphere). */
  assignSharpness: number;
  /** |mean change| of a token's channel below which it counts as "same" (values in [0, 1]). */
  signThreshold: number;
  /**
   * The per-token transition features reach the code through a mean and a max over tokens; with
   * g > 1 the mean is taken in each cell of a g×g grid of tokens instead (the max stays global).
   * A mean over the whole frame forgets where each token is: walking forward moves the left of
   * the view left and the right right, backing the reverse, and a mean over all tokens of either
   * is the same (maze3d: forward and back shared codes).
   */
  codeRegions: number;
  /**
   * ε of a per-transition normalisation of the reconstruction error (0: none): each clip step's
   * error is divided by its own mean squared change (x_t+1 − x_t)² + ε, the weights scaled to
   * mean 1 over the batch. Without it a step that changes a lot outweighs one that changes a
   * little: on maze3d a step near a wall changes the view ~10× more than one far from it
   * (mean squared change 1e-2 against 1e-3), and the codes split each move by that distance
   * while a step back far from a wall shared the far forward code.
   */
  changeNorm: number;
}

export const LAM_DEFAULTS: Readonly<LamConfig> = freezeDeep({
  height: 64,
  width: 64,
  channels: 3,
  patch: 8,
  dim: 64,
  heads: 4,
  encoderLayers: 2,
  decoderLayers: 2,
  mlpRatio: 2,
  codes: 8,
  codeDim: 16,
  beta: 0.25,
  emaDecay: 0.95,
  deadCodeSteps: 50,
  changeWeight: 4,
  decoderMotion: true,
  pool: 1,
  decoderAction: "add",
  codeFrom: "frames",
  decoderWarp: 0,
  warpRegions: 1,
  costVolume: 0,
  flowWeight: 0,
  fineFlow: 0,
  decoderDrop: 0,
  warpFrom: "code",
  signWeight: 0,
  signThreshold: 0.002,
  assignWeight: 0,
  assignSharpness: 10,
  changeNorm: 0,
  codeRegions: 1,
});

export interface LamParams {
  patchIn: LinearParams;
  encPos: LearnedPositionParams;
  encoder: STStackParams;
  changeIn: LinearParams;
  /** Per-token offset distribution of the cost volume → D; only with costVolume r > 0. */
  flowIn?: LinearParams;
  /** Quantized action → logits of every token's offset distribution (N·J); only with flowWeight > 0. */
  flowOut?: LinearParams;
  /** The full-size cost volume's distribution → D, and the code's prediction of it; only with fineFlow r > 0. */
  fineFlowIn?: LinearParams;
  fineFlowOut?: LinearParams;
  /** Quantized action → logits of every token's per-channel change sign (N·C·3); only with signWeight > 0. */
  signOut?: LinearParams;
  pairIn: LinearParams;
  toCode: LinearParams;
  fromCode: LinearParams;
  decPatchIn: LinearParams;
  /** Patch of the last motion x_t − x_t−1 → D; only with `decoderMotion`. */
  decMotionIn?: LinearParams;
  /** Code → per-feature scale γ; only with decoderAction "film" (fromCode gives β). */
  filmScale?: LinearParams;
  /** Code → logits of the (2r+1)² global warp kernel; only with decoderWarp r > 0. */
  warpIn?: LinearParams;
  /** Decoder output (per warp region) → a correction of that region's kernel; only with warpFrom "decoder". */
  warpOut?: LinearParams;
  decPos: LearnedPositionParams;
  decoder: STStackParams;
  patchOut: LinearParams;
}

/** Non-gradient state: the EMA codebook of actions and each code's age. */
export interface LamState {
  codebook_KD: np.Array;
  ema: VQEmaState;
  age_K: np.Array;
}

export function lamVqConfig(cfg: LamConfig): VQConfig {
  return {
    ...VQ_DEFAULTS,
    codes: cfg.codes,
    dim: cfg.codeDim,
    beta: cfg.beta,
    codebook: "ema",
    emaDecay: cfg.emaDecay,
    deadCodeSteps: cfg.deadCodeSteps,
  };
}

/** The patch grid of the pooled frames the LAM works on. */
function grid(cfg: LamConfig) {
  const s = cfg.pool ?? 1;
  return { height: cfg.height / s, width: cfg.width / s, channels: cfg.channels, patch: cfg.patch };
}

export function initLam(key: Key, cfg: LamConfig): { params: LamParams; state: LamState } {
  if (cfg.channels !== 3 && cfg.channels !== 4) throw new Error(`lam.ts: config "channels" must be 3 or 4, got ${cfg.channels}`);
  if (!(cfg.decoderLayers >= 1)) throw new Error(`lam.ts: config "decoderLayers" must be ≥ 1 (the action enters through the blocks), got ${cfg.decoderLayers}`);
  if (cfg.codeFrom !== undefined && cfg.codeFrom !== "frames" && cfg.codeFrom !== "change") {
    throw new Error(`lam.ts: config "codeFrom" must be "frames" or "change", got ${JSON.stringify(cfg.codeFrom)}`);
  }
  if (cfg.decoderAction !== undefined && cfg.decoderAction !== "add" && cfg.decoderAction !== "film") {
    throw new Error(`lam.ts: config "decoderAction" must be "add" or "film", got ${JSON.stringify(cfg.decoderAction)}`);
  }
  if (!((cfg.assignWeight ?? 0) >= 0)) throw new Error(`lam.ts: config "assignWeight" must be ≥ 0, got ${cfg.assignWeight}`);
  if (cfg.warpFrom !== undefined && cfg.warpFrom !== "code" && cfg.warpFrom !== "decoder") {
    throw new Error(`lam.ts: config "warpFrom" must be "code" or "decoder", got ${JSON.stringify(cfg.warpFrom)}`);
  }
  const pool = cfg.pool ?? 1;
  if (!Number.isInteger(pool) || pool < 1 || cfg.height % (pool * cfg.patch) !== 0 || cfg.width % (pool * cfg.patch) !== 0) {
    throw new Error(`lam.ts: config "pool" ${cfg.pool} times "patch" ${cfg.patch} must divide the frame size ${cfg.height}×${cfg.width}`);
  }
  const { N, Q } = gridOf(grid(cfg));
  const [k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13all] = splitKey(key, 13);
  const [k13, k14, k15, k16, k17, k18, k19, k20, k21] = splitKey(k13all, 9);
  const cv = cfg.costVolume ?? 0;
  if (!Number.isInteger(cv) || cv < 0) throw new Error(`lam.ts: config "costVolume" must be a non-negative integer, got ${cfg.costVolume}`);
  const ff = cfg.fineFlow ?? 0;
  if (!Number.isInteger(ff) || ff < 0) throw new Error(`lam.ts: config "fineFlow" must be a non-negative integer, got ${cfg.fineFlow}`);
  const pairParts = (cfg.codeFrom === "change" ? 2 : 3) + (cv > 0 ? 1 : 0) + (ff > 0 ? 1 : 0);
  if ((cfg.flowWeight ?? 0) > 0 && cv === 0) throw new Error(`lam.ts: config "flowWeight" ${cfg.flowWeight} needs "costVolume" > 0`);
  const r = cfg.decoderWarp ?? 0;
  if (!Number.isInteger(r) || r < 0) throw new Error(`lam.ts: config "decoderWarp" must be a non-negative integer, got ${cfg.decoderWarp}`);
  const regions = warpRegionsOf(cfg);
  const stack = { dim: cfg.dim, heads: cfg.heads, mlpHidden: cfg.dim * cfg.mlpRatio, causalTime: true };
  const params: LamParams = {
    patchIn: initLinear(k1, { inDim: Q, outDim: cfg.dim }),
    encPos: initLearnedPositions(k2, { count: N, dim: cfg.dim }),
    encoder: initSTStack(k3, { ...stack, layers: cfg.encoderLayers }),
    changeIn: initLinear(k12, { inDim: Q, outDim: cfg.dim }),
    ...(cv > 0 ? { flowIn: initLinear(k16, { inDim: (2 * cv + 1) ** 2, outDim: cfg.dim }) } : (k16.dispose(), {})),
    ...((cfg.flowWeight ?? 0) > 0 ? { flowOut: initLinear(k17, { inDim: cfg.codeDim, outDim: N * (2 * cv + 1) ** 2 }) } : (k17.dispose(), {})),
    ...(ff > 0 ? { fineFlowIn: initLinear(k19, { inDim: (2 * ff + 1) ** 2, outDim: cfg.dim }) } : (k19.dispose(), {})),
    ...(ff > 0 && (cfg.flowWeight ?? 0) > 0 ? { fineFlowOut: initLinear(k20, { inDim: cfg.codeDim, outDim: N * (2 * ff + 1) ** 2 }) } : (k20.dispose(), {})),
    ...((cfg.signWeight ?? 0) > 0 ? { signOut: initLinear(k18, { inDim: cfg.codeDim, outDim: N * cfg.channels * 3 }) } : (k18.dispose(), {})),
    pairIn: initLinear(k4, { inDim: pairParts * cfg.dim, outDim: cfg.dim }),
    toCode: initLinear(k5, { inDim: (codeRegionsOf(cfg) ** 2 + 1) * cfg.dim, outDim: cfg.codeDim }),
    fromCode: initLinear(k6, { inDim: cfg.codeDim, outDim: cfg.dim }),
    decPatchIn: initLinear(k7, { inDim: Q, outDim: cfg.dim }),
    ...(cfg.decoderMotion ? { decMotionIn: initLinear(k13, { inDim: Q, outDim: cfg.dim }) } : (k13.dispose(), {})),
    // γ starts small: the untrained FiLM is close to the additive form.
    ...(cfg.decoderAction === "film" ? { filmScale: initLinear(k14, { inDim: cfg.codeDim, outDim: cfg.dim, initScale: 0.1 }) } : (k14.dispose(), {})),
    ...(r > 0 ? { warpIn: initLinear(k15, { inDim: cfg.codeDim, outDim: regions * regions * (2 * r + 1) ** 2, initScale: 0.1 }) } : (k15.dispose(), {})),
    ...(r > 0 && cfg.warpFrom === "decoder" ? { warpOut: initLinear(k21, { inDim: cfg.dim, outDim: (2 * r + 1) ** 2, initScale: 0.1 }) } : (k21.dispose(), {})),
    decPos: initLearnedPositions(k8, { count: N, dim: cfg.dim }),
    decoder: initSTStack(k9, { ...stack, layers: cfg.decoderLayers }),
    // Δ starts near 0: the untrained decoder copies x_t, the cheapest wrong answer.
    patchOut: initLinear(k10, { inDim: cfg.dim, outDim: Q, initScale: 0.1 }),
  };
  const vq = lamVqConfig(cfg);
  const { codebook_KD } = initVQ(k11, vq);
  return { params, state: { codebook_KD: codebook_KD.ref, ema: initVQEma(codebook_KD, vq), age_K: initCodeAge(vq) } };
}

type EncoderParams = Pick<LamParams, "patchIn" | "encPos" | "encoder" | "changeIn" | "flowIn" | "fineFlowIn" | "pairIn" | "toCode">;
type DecoderParams = Pick<LamParams, "fromCode" | "decPatchIn" | "decMotionIn" | "filmScale" | "warpIn" | "warpOut" | "decPos" | "decoder" | "patchOut">;

function halves(p: LamParams): { enc: EncoderParams; dec: DecoderParams; heads: ExplainHeads } {
  const { flowOut, fineFlowOut, signOut, patchIn, encPos, encoder, changeIn, flowIn, fineFlowIn, pairIn, toCode, fromCode, decPatchIn, decMotionIn, filmScale, warpIn, warpOut, decPos, decoder, patchOut } = p;
  const dec: DecoderParams = { fromCode, decPatchIn, decPos, decoder, patchOut, ...(decMotionIn ? { decMotionIn } : {}), ...(filmScale ? { filmScale } : {}), ...(warpIn ? { warpIn } : {}), ...(warpOut ? { warpOut } : {}) };
  const heads: ExplainHeads = { ...(flowOut ? { flowOut } : {}), ...(fineFlowOut ? { fineFlowOut } : {}), ...(signOut ? { signOut } : {}) };
  return { enc: { patchIn, encPos, encoder, changeIn, pairIn, toCode, ...(flowIn ? { flowIn } : {}), ...(fineFlowIn ? { fineFlowIn } : {}) }, dec, heads };
}

function checkFrames(x_BTHWC: np.Array, cfg: LamConfig, minT: number, where: string): void {
  const [, T, H, W, C] = x_BTHWC.shape;
  if (x_BTHWC.ndim !== 5 || T < minT || H !== cfg.height || W !== cfg.width || C !== cfg.channels) {
    throw new Error(`lam.ts ${where}: frames [${x_BTHWC.shape}] must be (B, T ≥ ${minT}, ${cfg.height}, ${cfg.width}, ${cfg.channels})`);
  }
}

/**
 * Continuous action latents z_BUd, one per transition x_t → x_t+1, on the unit sphere. Consumes
 * p and x. Besides the encoder features of both frames, each token sees its raw patch change:
 * through attention alone the encoder took hundreds of steps to notice small motions (a jump),
 * and with unnormalized latents all transitions sat near one code (measured: purity stuck at
 * 0.33 on the platformer). Pooling is mean and max over tokens: a change confined to a few
 * tokens (the player) survives the max, a global one (scrolling) the mean.
 */
export function encodeActions(p: EncoderParams, x_BTHWC: np.Array, cfg: LamConfig): np.Array {
  checkFrames(x_BTHWC, cfg, 2, "encodeActions");
  const fine = fineFlowOf(x_BTHWC.ref, cfg);
  const pooled = poolFrames(x_BTHWC, cfg.pool ?? 1);
  const cv = cfg.costVolume ?? 0;
  return encodePooled(p, pooled.ref, cv > 0 ? offsetDistribution(pooled, cv, cfg.patch) : (pooled.dispose(), null), fine, cfg);
}

/** The full-size cost volume's distribution per token of the pooled grid (LamConfig.fineFlow), or null without one. Consumes x. */
function fineFlowOf(x_BTHWC: np.Array, cfg: LamConfig): np.Array | null {
  const ff = cfg.fineFlow ?? 0;
  if (ff === 0) {
    x_BTHWC.dispose();
    return null;
  }
  return offsetDistribution(x_BTHWC, ff, (cfg.pool ?? 1) * cfg.patch);
}

/** encodeActions on frames already pooled, with their cost-volume distributions (or null without them). Consumes p, pooled, flow and fine. */
function encodePooled(p: EncoderParams, pooled_BTHWC: np.Array, flow_BUNJ: np.Array | null, fine_BUNJ: np.Array | null, cfg: LamConfig): np.Array {
  const T = pooled_BTHWC.shape[1];
  const patches_BTNQ = patchify(pooled_BTHWC.mul(2).sub(1), grid(cfg)); // [0,1] -> [-1,1]
  const change_BUNQ = patches_BTNQ.ref.slice([], [1, T]).sub(patches_BTNQ.ref.slice([], [0, T - 1]));
  const h_BTND = stStack(p.encoder, addPositions(linear(p.patchIn, patches_BTNQ), p.encPos.table, 2), { causalTime: true });
  const before_BUND = h_BTND.ref.slice([], [0, T - 1]);
  const after_BUND = h_BTND.slice([], [1, T]);
  const change_BUND = linear(p.changeIn, change_BUNQ);
  const parts = cfg.codeFrom === "change" ? [after_BUND.sub(before_BUND), change_BUND] : [before_BUND, after_BUND, change_BUND];
  if (flow_BUNJ) {
    if (!p.flowIn) throw new Error("lam.ts encodeActions: config costVolume is set but params have no flowIn");
    parts.push(linear(p.flowIn, flow_BUNJ));
  }
  if (fine_BUNJ) {
    if (!p.fineFlowIn) throw new Error("lam.ts encodeActions: config fineFlow is set but params have no fineFlowIn");
    parts.push(linear(p.fineFlowIn, fine_BUNJ));
  }
  const pair = np.concatenate(parts, -1);
  const pair_BUND = jnn.gelu(linear(p.pairIn, pair));
  const { height: rows, width: cols } = tokenGrid(cfg);
  const pooled_BUFD = poolTokens(pair_BUND, rows, cols, codeRegionsOf(cfg));
  const z_BUd = linear(p.toCode, pooled_BUFD);
  return z_BUd.ref.div(np.sqrt(np.square(z_BUd).sum(-1, { keepdims: true }).add(1e-6)));
}

/**
 * x̂_t+1 from x_t (frames_BUHWC at the pooled size `pool`, each on its own: the decoder sees no earlier frame), the last
 * motion x_t − x_t−1 (motion_BUHWC; zeros where unknown; used only with `decoderMotion`) and the
 * quantized action zq_BUd. With keep_BUN (training, decoderDrop) the input tokens where it is 0
 * are zeroed before their positions are added. Unclipped. Consumes p, frames, motion, zq and keep.
 */
export function decodeNext(p: DecoderParams, frames_BUHWC: np.Array, motion_BUHWC: np.Array, zq_BUd: np.Array, cfg: LamConfig, keep_BUN?: np.Array): np.Array {
  const [B, U, H, W, C] = frames_BUHWC.shape;
  const g = grid(cfg);
  const single = frames_BUHWC.ref.reshape([B * U, 1, H, W, C]); // (B,U,H,W,C) -> (B·U,1,H,W,C)
  let tokens = linear(p.decPatchIn, patchify(single.mul(2).sub(1), g));
  if (cfg.decoderMotion) {
    if (!p.decMotionIn) throw new Error("lam.ts decodeNext: config decoderMotion is set but params have no decMotionIn");
    const motion = motion_BUHWC.reshape([B * U, 1, H, W, C]); // (B,U,H,W,C) -> (B·U,1,H,W,C)
    tokens = tokens.add(linear(p.decMotionIn, patchify(motion.mul(2), g)));
  } else {
    motion_BUHWC.dispose();
  }
  if (keep_BUN) {
    const N = tokens.shape[2];
    if (keep_BUN.shape.join() !== [B, U, N].join()) throw new Error(`lam.ts decodeNext: keep mask [${keep_BUN.shape}] must be (${B}, ${U}, ${N})`);
    tokens = tokens.mul(keep_BUN.reshape([B * U, 1, N, 1])); // (B,U,N) -> (B·U,1,N,1)
  }
  let h = addPositions(tokens, p.decPos.table, 2);
  const r = cfg.decoderWarp ?? 0;
  if (r > 0 && !p.warpIn) throw new Error("lam.ts decodeNext: config decoderWarp is set but params have no warpIn");
  const gr = warpRegionsOf(cfg);
  const fromDecoder = r > 0 && cfg.warpFrom === "decoder";
  if (fromDecoder && !p.warpOut) throw new Error('lam.ts decodeNext: config warpFrom is "decoder" but params have no warpOut');
  const codeLogits = r > 0 ? linear(p.warpIn!, zq_BUd.ref).reshape([B * U, gr * gr * (2 * r + 1) ** 2]) : null; // (B,U,·) -> (B·U,·)
  const film = (cfg.decoderAction ?? "add") === "film";
  if (film && !p.filmScale) throw new Error('lam.ts decodeNext: config decoderAction is "film" but params have no filmScale');
  const scale_BU11D = film ? linear(p.filmScale!, zq_BUd.ref).reshape([B * U, 1, 1, cfg.dim]).add(1) : null; // (B,U,D) -> (B·U,1,1,D)
  const action_BU11D = linear(p.fromCode, zq_BUd).reshape([B * U, 1, 1, cfg.dim]); // (B,U,D) -> (B·U,1,1,D)
  // The action enters before every block, not only the first: a decoder that can ignore it will
  // (measured: with the action at the input only, predictions under all codes were alike).
  let x = h;
  const blocks = p.decoder.blocks;
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1;
    if (scale_BU11D) x = x.mul(last ? scale_BU11D : scale_BU11D.ref);
    x = stBlock(b, x.add(last ? action_BU11D : action_BU11D.ref), { causalTime: true });
  });
  const y = p.decoder.final ? norm(p.decoder.final, x) : x;
  let warpLogits = codeLogits;
  if (fromDecoder) {
    // Each warp region's mean output token corrects that region's kernel.
    const { height: rows, width: cols } = tokenGrid(cfg);
    if (rows % gr !== 0 || cols % gr !== 0) throw new Error(`lam.ts decodeNext: ${gr}×${gr} warp regions do not split the ${rows}×${cols} token grid`);
    const region = y.ref.reshape([B * U, gr, rows / gr, gr, cols / gr, cfg.dim]).mean([2, 4]).reshape([B * U, gr * gr, cfg.dim]); // (B·U,1,N,D) -> (B·U,g²,D)
    warpLogits = codeLogits!.add(linear(p.warpOut!, region).reshape([B * U, gr * gr * (2 * r + 1) ** 2])); // (B·U,g²,K) -> (B·U,g²·K)
  }
  const base = warpLogits ? globalWarp(frames_BUHWC.ref.reshape([B * U, H, W, C]), warpLogits, r, gr).reshape([B, U, H, W, C]) : null;
  const out = linear(p.patchOut, y);
  const delta = unpatchify(out, g).reshape([B, U, H, W, C]); // (B·U,1,H,W,C) -> (B,U,H,W,C)
  if (base) frames_BUHWC.dispose();
  return (base ?? frames_BUHWC).add(delta);
}

/**
 * A decoder keep mask for decoderDrop: (B·U·N) values, each 0 with probability cfg.decoderDrop,
 * else 1, drawn from `rng` (N = the decoder's tokens per frame).
 */
export function decoderKeepMask(cfg: LamConfig, B: number, U: number, rng: () => number): { data: Float32Array; shape: [number, number, number] } {
  const { N } = gridOf(grid(cfg));
  const drop = cfg.decoderDrop ?? 0;
  if (!(drop >= 0 && drop < 1)) throw new Error(`lam.ts: config "decoderDrop" must be in [0, 1), got ${cfg.decoderDrop}`);
  return { data: Float32Array.from({ length: B * U * N }, () => (rng() < drop ? 0 : 1)), shape: [B, U, N] };
}

/**
 * Token features (B,U,N,D) over a rows×cols grid → (B,U,(g²+1)·D): the mean over each cell of a
 * g×g grid of tokens (row-major cells), then the max over all tokens (see LamConfig.codeRegions).
 * Consumes x.
 */
export function poolTokens(x_BUND: np.Array, rows: number, cols: number, g: number): np.Array {
  const [B, U, N, D] = x_BUND.shape;
  if (N !== rows * cols || rows % g !== 0 || cols % g !== 0) throw new Error(`lam.ts poolTokens: ${N} tokens on a ${rows}×${cols} grid in ${g}×${g} cells`);
  const mean_BUGD =
    g === 1 ? x_BUND.ref.mean(2) : x_BUND.ref.reshape([B, U, g, rows / g, g, cols / g, D]).mean([3, 5]).reshape([B, U, g * g * D]); // (B,U,N,D) -> (B,U,g,rows/g,g,cols/g,D) -> (B,U,g²·D)
  return np.concatenate([mean_BUGD, x_BUND.max(2)], -1);
}

/** The token grid of the pooled frames (rows, cols). */
function tokenGrid(cfg: LamConfig): { height: number; width: number } {
  const g = grid(cfg);
  return { height: g.height / g.patch, width: g.width / g.patch };
}

/** The code's pooling regions per side, checked against the token grid. */
function codeRegionsOf(cfg: LamConfig): number {
  const g = cfg.codeRegions ?? 1;
  const { height, width } = tokenGrid(cfg);
  if (!Number.isInteger(g) || g < 1 || height % g !== 0 || width % g !== 0) {
    throw new Error(`lam.ts: config "codeRegions" must be a positive integer dividing the ${height}×${width} token grid, got ${cfg.codeRegions}`);
  }
  return g;
}

/** The warp's regions per side, checked against nothing but itself (the frame is checked in globalWarp). */
function warpRegionsOf(cfg: LamConfig): number {
  const g = cfg.warpRegions ?? 1;
  if (!Number.isInteger(g) || g < 1) throw new Error(`lam.ts: config "warpRegions" must be a positive integer, got ${cfg.warpRegions}`);
  return g;
}

export interface LamLossAux {
  mse: np.Array;
  commit: np.Array;
  z_BUd: np.Array;
  indices_BU: np.Array;
}

/**
 * Change-weighted reconstruction of every x_t+1 plus β·commitment, plus the terms of what the
 * code must explain besides (lam-explain.ts; each off at weight 0). Consumes params, codebook,
 * x and keep (the decoder's input tokens kept, 1, or zeroed, 0, per transition: decoderDrop).
 * The aux carries z and the indices for the EMA codebook update.
 */
export function lamLoss(p: LamParams, codebook_KD: np.Array, x_BTHWC: np.Array, cfg: LamConfig, keep_BUN?: np.Array): { loss: np.Array; aux: LamLossAux } {
  const { enc, dec, heads } = halves(p);
  checkFrames(x_BTHWC, cfg, 2, "lamLoss");
  const T = x_BTHWC.shape[1];
  const fine_BUNJ = fineFlowOf(x_BTHWC.ref, cfg);
  const pooled = poolFrames(x_BTHWC, cfg.pool ?? 1);
  const cv = cfg.costVolume ?? 0;
  // One cost volume: the encoder's input and, with flowWeight, the flow term's target.
  const flow_BUNJ = cv > 0 ? offsetDistribution(pooled.ref, cv, cfg.patch) : null;
  const z = encodePooled(enc, pooled.ref, flow_BUNJ?.ref ?? null, fine_BUNJ?.ref ?? null, cfg);
  const best_BU = (cfg.assignWeight ?? 0) > 0 ? decoderBestCode(tree.ref(dec) as DecoderParams, codebook_KD.ref, pooled.ref, cfg) : null;
  const q = quantize({ codebook_KD: codebook_KD.ref }, z.ref, lamVqConfig(cfg));
  q.codebookLoss.dispose();
  const explained = explainLoss({ heads, z_BUd: z.ref, zq_BUd: q.zq.ref, codebook_KD, pooled_BTHWC: pooled.ref, flow_BUNJ, fine_BUNJ, best_BU }, cfg);
  const prev = pooled.ref.slice([], [0, T - 1]);
  const next = pooled.slice([], [1, T]);
  const change = next.ref.sub(prev.ref);
  let weight = np.abs(change.ref).mean(-1, { keepdims: true }).mul(cfg.changeWeight).add(1);
  if ((cfg.changeNorm ?? 0) > 0) {
    const [Bn, Un] = next.shape;
    const inv = divide(np.ones([Bn, Un]), np.square(change).reshape([Bn, Un, -1]).mean(-1).add(cfg.changeNorm)); // (B,U)
    weight = weight.mul(divide(inv.ref, inv.mean()).reshape([Bn, Un, 1, 1, 1]));
  } else change.dispose();
  const xhat = decodeNext(dec, prev.ref, lastMotion(prev), q.zq, cfg, keep_BUN);
  const sq = np.square(xhat.sub(next));
  const mse = sq.ref.mean();
  const weighted = sq.mul(weight).mean();
  let loss = weighted.add(q.commitLoss.ref);
  if (explained) loss = loss.add(explained);
  return { loss, aux: { mse, commit: q.commitLoss, z_BUd: z, indices_BU: q.indices } };
}

/**
 * For each transition of the pooled clip, the code under which the decoder's x̂_t+1 has the
 * least squared error (LamConfig.assignWeight): (B, U) int32, no gradient. Consumes dec,
 * codebook and pooled.
 */
export function decoderBestCode(dec: DecoderParams, codebook_KD: np.Array, pooled_BTHWC: np.Array, cfg: LamConfig): np.Array {
  const [B, T, H, W, C] = pooled_BTHWC.shape;
  const U = T - 1;
  const prev = pooled_BTHWC.ref.slice([], [0, U]);
  const next = pooled_BTHWC.slice([], [1, T]);
  const xhat = decodeUnderEveryCode(dec, prev.ref, lastMotion(prev), codebook_KD, cfg).reshape([cfg.codes, B, U, H * W * C]); // (A,B,U,H,W,C) -> (A,B,U,H·W·C)
  const err_ABU = lax.stopGradient(np.square(xhat.sub(next.reshape([1, B, U, H * W * C]))).mean(-1));
  return np.argmin(err_ABU, 0).astype(np.int32);
}

/**
 * x̂_t+1 under every code for frames_BUHWC (pooled) and their last motion: (A, B, U, H, W, C),
 * unclipped. Consumes dec, frames, motion and codebook.
 */
function decodeUnderEveryCode(dec: DecoderParams, frames_BUHWC: np.Array, motion_BUHWC: np.Array, codebook_KD: np.Array, cfg: LamConfig): np.Array {
  const [B, U, H, W, C] = frames_BUHWC.shape;
  const A = cfg.codes;
  const d = cfg.codeDim;
  const every = (x: np.Array) => np.broadcastTo(x.reshape([1, B, U, H, W, C]), [A, B, U, H, W, C]).reshape([A * B, U, H, W, C]); // (B,U,H,W,C) -> (A·B,U,H,W,C)
  const zq = np.broadcastTo(codebook_KD.reshape([A, 1, 1, d]), [A, B, U, d]).reshape([A * B, U, d]); // (A,d) -> (A·B,U,d)
  return decodeNext(dec, every(frames_BUHWC), every(motion_BUHWC), zq, cfg).reshape([A, B, U, H, W, C]);
}

/** x_t − x_t−1 for each frame of x_BUHWC, zeros for the first (its past is not in the clip). Consumes x. */
export function lastMotion(x_BUHWC: np.Array): np.Array {
  const [B, U, H, W, C] = x_BUHWC.shape;
  const zeros = np.zeros([B, 1, H, W, C]);
  if (U === 1) {
    x_BUHWC.dispose();
    return zeros;
  }
  const d = x_BUHWC.ref.slice([], [1, U]).sub(x_BUHWC.slice([], [0, U - 1]));
  return np.concatenate([zeros, d], 1);
}

/** The code of every transition: indices_BU (int32). Consumes params (pass refs), codebook and x. */
export function inferActions(p: LamParams, codebook_KD: np.Array, x_BTHWC: np.Array, cfg: LamConfig): np.Array {
  const { enc, dec, heads } = halves(p);
  tree.dispose(dec);
  tree.dispose(heads);
  const q = quantize({ codebook_KD }, encodeActions(enc, x_BTHWC, cfg), lamVqConfig(cfg));
  q.zq.dispose();
  q.commitLoss.dispose();
  q.codebookLoss.dispose();
  return q.indices;
}

/**
 * The next frame under every code: for frames x_BHWC returns x̂_ABHWC (A = cfg.codes), clipped
 * to [0, 1]. Row a is what code a does to each frame. `prev_BHWC` (optional) is the frame before
 * each, for the decoder's motion input; without it the frames are taken as still. With `pool` > 1
 * the prediction is made at the pooled size and each pooled pixel fills its block. Consumes
 * params, codebook, x and prev.
 */
export function predictEveryAction(p: LamParams, codebook_KD: np.Array, x_BHWC: np.Array, cfg: LamConfig, prev_BHWC?: np.Array): np.Array {
  const { enc, dec, heads } = halves(p);
  tree.dispose(enc);
  tree.dispose(heads);
  const A = cfg.codes;
  const pool = cfg.pool ?? 1;
  const x = poolFrames(x_BHWC, pool);
  const [B, H, W, C] = x.shape;
  const motion_BHWC = prev_BHWC ? x.ref.sub(poolFrames(prev_BHWC, pool)) : np.zeros([B, H, W, C]);
  // The B frames as one clip of B transitions: (1, B, H, W, C).
  const every = decodeUnderEveryCode(dec, x.reshape([1, B, H, W, C]), motion_BHWC.reshape([1, B, H, W, C]), codebook_KD, cfg).reshape([A, B, H, W, C]);
  return unpoolFrames(np.clip(every, 0, 1), pool);
}
