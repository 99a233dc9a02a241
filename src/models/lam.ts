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
import { jnn, np, tree } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { initLinear, linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { addPositions, initLearnedPositions } from "../nn/position.js";
import type { LearnedPositionParams } from "../nn/position.js";
import { initSTStack, stBlock, stStack } from "../nn/st-block.js";
import { norm } from "../nn/norm.js";
import type { STStackParams } from "../nn/st-block.js";
import { VQ_DEFAULTS, initCodeAge, initVQ, initVQEma, quantize } from "../nn/vq.js";
import type { VQConfig, VQEmaState } from "../nn/vq.js";
import { gridOf, patchify, unpatchify } from "./patches.js";

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
});

export interface LamParams {
  patchIn: LinearParams;
  encPos: LearnedPositionParams;
  encoder: STStackParams;
  changeIn: LinearParams;
  pairIn: LinearParams;
  toCode: LinearParams;
  fromCode: LinearParams;
  decPatchIn: LinearParams;
  /** Patch of the last motion x_t − x_t−1 → D; only with `decoderMotion`. */
  decMotionIn?: LinearParams;
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

function grid(cfg: LamConfig) {
  return { height: cfg.height, width: cfg.width, channels: cfg.channels, patch: cfg.patch };
}

export function initLam(key: Key, cfg: LamConfig): { params: LamParams; state: LamState } {
  if (cfg.channels !== 3 && cfg.channels !== 4) throw new Error(`lam.ts: config "channels" must be 3 or 4, got ${cfg.channels}`);
  if (!(cfg.decoderLayers >= 1)) throw new Error(`lam.ts: config "decoderLayers" must be ≥ 1 (the action enters through the blocks), got ${cfg.decoderLayers}`);
  const { N, Q } = gridOf(grid(cfg));
  const [k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13] = splitKey(key, 13);
  const stack = { dim: cfg.dim, heads: cfg.heads, mlpHidden: cfg.dim * cfg.mlpRatio, causalTime: true };
  const params: LamParams = {
    patchIn: initLinear(k1, { inDim: Q, outDim: cfg.dim }),
    encPos: initLearnedPositions(k2, { count: N, dim: cfg.dim }),
    encoder: initSTStack(k3, { ...stack, layers: cfg.encoderLayers }),
    changeIn: initLinear(k12, { inDim: Q, outDim: cfg.dim }),
    pairIn: initLinear(k4, { inDim: 3 * cfg.dim, outDim: cfg.dim }),
    toCode: initLinear(k5, { inDim: 2 * cfg.dim, outDim: cfg.codeDim }),
    fromCode: initLinear(k6, { inDim: cfg.codeDim, outDim: cfg.dim }),
    decPatchIn: initLinear(k7, { inDim: Q, outDim: cfg.dim }),
    ...(cfg.decoderMotion ? { decMotionIn: initLinear(k13, { inDim: Q, outDim: cfg.dim }) } : {}),
    decPos: initLearnedPositions(k8, { count: N, dim: cfg.dim }),
    decoder: initSTStack(k9, { ...stack, layers: cfg.decoderLayers }),
    // Δ starts near 0: the untrained decoder copies x_t, the cheapest wrong answer.
    patchOut: initLinear(k10, { inDim: cfg.dim, outDim: Q, initScale: 0.1 }),
  };
  const vq = lamVqConfig(cfg);
  const { codebook_KD } = initVQ(k11, vq);
  return { params, state: { codebook_KD: codebook_KD.ref, ema: initVQEma(codebook_KD, vq), age_K: initCodeAge(vq) } };
}

type EncoderParams = Pick<LamParams, "patchIn" | "encPos" | "encoder" | "changeIn" | "pairIn" | "toCode">;
type DecoderParams = Pick<LamParams, "fromCode" | "decPatchIn" | "decMotionIn" | "decPos" | "decoder" | "patchOut">;

function halves(p: LamParams): { enc: EncoderParams; dec: DecoderParams } {
  const { patchIn, encPos, encoder, changeIn, pairIn, toCode, fromCode, decPatchIn, decMotionIn, decPos, decoder, patchOut } = p;
  const dec: DecoderParams = { fromCode, decPatchIn, decPos, decoder, patchOut, ...(decMotionIn ? { decMotionIn } : {}) };
  return { enc: { patchIn, encPos, encoder, changeIn, pairIn, toCode }, dec };
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
  const T = x_BTHWC.shape[1];
  const patches_BTNQ = patchify(x_BTHWC.mul(2).sub(1), grid(cfg)); // [0,1] -> [-1,1]
  const change_BUNQ = patches_BTNQ.ref.slice([], [1, T]).sub(patches_BTNQ.ref.slice([], [0, T - 1]));
  const h_BTND = stStack(p.encoder, addPositions(linear(p.patchIn, patches_BTNQ), p.encPos.table, 2), { causalTime: true });
  const before_BUND = h_BTND.ref.slice([], [0, T - 1]);
  const after_BUND = h_BTND.slice([], [1, T]);
  const pair = np.concatenate([before_BUND, after_BUND, linear(p.changeIn, change_BUNQ)], -1);
  const pair_BUND = jnn.gelu(linear(p.pairIn, pair));
  const pooled_BU2D = np.concatenate([pair_BUND.ref.mean(2), pair_BUND.max(2)], -1); // (B,U,N,D) -> (B,U,2D)
  const z_BUd = linear(p.toCode, pooled_BU2D);
  return z_BUd.ref.div(np.sqrt(np.square(z_BUd).sum(-1, { keepdims: true }).add(1e-6)));
}

/**
 * x̂_t+1 from x_t (frames_BUHWC, each on its own: the decoder sees no earlier frame), the last
 * motion x_t − x_t−1 (motion_BUHWC; zeros where unknown; used only with `decoderMotion`) and the
 * quantized action zq_BUd. Unclipped. Consumes p, frames, motion and zq.
 */
export function decodeNext(p: DecoderParams, frames_BUHWC: np.Array, motion_BUHWC: np.Array, zq_BUd: np.Array, cfg: LamConfig): np.Array {
  const [B, U, H, W, C] = frames_BUHWC.shape;
  const g = grid(cfg);
  const single = frames_BUHWC.ref.reshape([B * U, 1, H, W, C]); // (B,U,H,W,C) -> (B·U,1,H,W,C)
  let h = addPositions(linear(p.decPatchIn, patchify(single.mul(2).sub(1), g)), p.decPos.table, 2);
  if (cfg.decoderMotion) {
    if (!p.decMotionIn) throw new Error("lam.ts decodeNext: config decoderMotion is set but params have no decMotionIn");
    const motion = motion_BUHWC.reshape([B * U, 1, H, W, C]); // (B,U,H,W,C) -> (B·U,1,H,W,C)
    h = h.add(linear(p.decMotionIn, patchify(motion.mul(2), g)));
  } else {
    motion_BUHWC.dispose();
  }
  const action_BU11D = linear(p.fromCode, zq_BUd).reshape([B * U, 1, 1, cfg.dim]); // (B,U,D) -> (B·U,1,1,D)
  // The action enters before every block, not only the first: a decoder that can ignore it will
  // (measured: with the action at the input only, predictions under all codes were alike).
  let x = h;
  const blocks = p.decoder.blocks;
  blocks.forEach((b, i) => {
    x = stBlock(b, x.add(i < blocks.length - 1 ? action_BU11D.ref : action_BU11D), { causalTime: true });
  });
  const out = linear(p.patchOut, p.decoder.final ? norm(p.decoder.final, x) : x);
  const delta = unpatchify(out, g).reshape([B, U, H, W, C]); // (B·U,1,H,W,C) -> (B,U,H,W,C)
  return frames_BUHWC.add(delta);
}

export interface LamLossAux {
  mse: np.Array;
  commit: np.Array;
  z_BUd: np.Array;
  indices_BU: np.Array;
}

/**
 * Change-weighted reconstruction of every x_t+1 plus β·commitment. Consumes params, codebook
 * and x. The aux carries z and the indices for the EMA codebook update.
 */
export function lamLoss(p: LamParams, codebook_KD: np.Array, x_BTHWC: np.Array, cfg: LamConfig): { loss: np.Array; aux: LamLossAux } {
  const { enc, dec } = halves(p);
  const T = x_BTHWC.shape[1];
  const z = encodeActions(enc, x_BTHWC.ref, cfg);
  const q = quantize({ codebook_KD }, z.ref, lamVqConfig(cfg));
  q.codebookLoss.dispose();
  const prev = x_BTHWC.ref.slice([], [0, T - 1]);
  const next = x_BTHWC.slice([], [1, T]);
  const weight = np.abs(next.ref.sub(prev.ref)).mean(-1, { keepdims: true }).mul(cfg.changeWeight).add(1);
  const xhat = decodeNext(dec, prev.ref, lastMotion(prev), q.zq, cfg);
  const sq = np.square(xhat.sub(next));
  const mse = sq.ref.mean();
  const weighted = sq.mul(weight).mean();
  const loss = weighted.add(q.commitLoss.ref);
  return { loss, aux: { mse, commit: q.commitLoss, z_BUd: z, indices_BU: q.indices } };
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
  const { enc, dec } = halves(p);
  tree.dispose(dec);
  const q = quantize({ codebook_KD }, encodeActions(enc, x_BTHWC, cfg), lamVqConfig(cfg));
  q.zq.dispose();
  q.commitLoss.dispose();
  q.codebookLoss.dispose();
  return q.indices;
}

/**
 * The next frame under every code: for frames x_BHWC returns x̂_ABHWC (A = cfg.codes), clipped
 * to [0, 1]. Row a is what code a does to each frame. `prev_BHWC` (optional) is the frame before
 * each, for the decoder's motion input; without it the frames are taken as still. Consumes
 * params, codebook, x and prev.
 */
export function predictEveryAction(p: LamParams, codebook_KD: np.Array, x_BHWC: np.Array, cfg: LamConfig, prev_BHWC?: np.Array): np.Array {
  const { enc, dec } = halves(p);
  tree.dispose(enc);
  const A = cfg.codes;
  const [B, H, W, C] = x_BHWC.shape;
  const motion_BHWC = prev_BHWC ? x_BHWC.ref.sub(prev_BHWC) : np.zeros([B, H, W, C]);
  const frames = np.broadcastTo(x_BHWC.reshape([1, B, H, W, C]), [A, B, H, W, C]); // (B,H,W,C) -> (A,B,H,W,C)
  const zq = np.broadcastTo(codebook_KD.reshape([A, 1, cfg.codeDim]), [A, B, cfg.codeDim]); // (A,d) -> (A,B,d)
  const motion = np.broadcastTo(motion_BHWC.reshape([1, B, H, W, C]), [A, B, H, W, C]); // (B,H,W,C) -> (A,B,H,W,C)
  return np.clip(decodeNext(dec, frames, motion, zq, cfg), 0, 1);
}
