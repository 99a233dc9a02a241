/**
 * Phase 1: the spatio-temporal VQ-VAE video tokenizer. Each frame of an RGB-D clip becomes a
 * grid of discrete tokens (z_q = argmin_j ‖E(V) − e_j‖²) and back. Causal in time: a frame's
 * tokens depend only on that frame and earlier ones (the ST stack's temporal attention is
 * causal), as interactive play needs.
 *
 *   x_BTHWC → patches_BTNQ → Linear → +pos → ST encoder → Linear → z_BTNd → VQ → zq_BTNd
 *   zq_BTNd → Linear → +pos → ST decoder → Linear → patches → x̂_BTHWC
 *
 * Loss (the ELBO terms of the seed): reconstruction (MSE on RGB and on depth, weighted) plus
 * the β-weighted commitment term; the codebook follows an EMA of its assignments (so there is
 * no codebook loss term), and dead codes are reset to recent encoder outputs.
 *
 * Dimension keys: B batch · T frames · H,W pixels · C channels · N tokens per frame ·
 * Q values per patch · D model width · d code width · K codebook size.
 */
import { lax, np, tree } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { initLinear, linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { addPositions, initLearnedPositions } from "../nn/position.js";
import type { LearnedPositionParams } from "../nn/position.js";
import { initSTStack, stStack } from "../nn/st-block.js";
import type { STStackParams } from "../nn/st-block.js";
import { VQ_DEFAULTS, initCodeAge, initVQ, initVQEma, quantize } from "../nn/vq.js";
import type { VQConfig, VQEmaState } from "../nn/vq.js";
import { gridOf, patchify, unpatchify } from "./patches.js";

export interface TokenizerConfig {
  /** Frame height in pixels (must be a multiple of `patch`). */
  height: number;
  /** Frame width in pixels. */
  width: number;
  /** Channels: 4 for RGB-D (depth last), 3 for RGB-only data. */
  channels: number;
  /** Patch side P: each P×P patch becomes one token (64×64 frames, P=4 → 256 tokens). */
  patch: number;
  /** Model width D of both ST stacks. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** ST blocks in the encoder. */
  encoderLayers: number;
  /** ST blocks in the decoder. */
  decoderLayers: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /** Codebook size K. */
  codes: number;
  /** Code width d (small codes make argmin cheap and keep usage high). */
  codeDim: number;
  /** β of the commitment term. */
  beta: number;
  /** EMA decay of the codebook. */
  emaDecay: number;
  /** A code unused for this many steps is reset to a recent encoder output. */
  deadCodeSteps: number;
  /** Weight of the RGB reconstruction MSE. */
  rgbWeight: number;
  /** Weight of the depth reconstruction MSE (ignored for RGB-only data). */
  depthWeight: number;
  /**
   * Each pixel's squared error in the training loss is weighted by 1 + changeWeight·|x_t − x_t−1|
   * (mean over channels; the first frame of a clip by 1), normalised by the mean weight; 0: plain
   * MSE. Small moving things (the platformer's player, 6×6 pixels of a 64×64 frame) are what the
   * dynamics must move, and plain MSE spends the codes on the scenery instead: the reconstructed
   * sprite lost its one-pixel cap, so even a perfect dynamics model showed a fall in only 0.88–0.90
   * of gravity cases (gravity_tokenizer_bound). The reported MSEs stay unweighted.
   */
  changeWeight: number;
  /**
   * Training only: train the decoder alone. The encoder and the codebook stay as they are (no
   * gradient through the encoder, its weights restored after each update, no EMA codebook update
   * or dead-code reset), so every frame's tokens, and every model trained on them, are unchanged;
   * e.g. a decoder fine-tune with changeWeight that draws moving things better.
   */
  freezeEncoder: boolean;
}

export const TOKENIZER_DEFAULTS: Readonly<TokenizerConfig> = freezeDeep({
  height: 64,
  width: 64,
  channels: 4,
  patch: 4,
  dim: 128,
  heads: 4,
  encoderLayers: 3,
  decoderLayers: 3,
  mlpRatio: 4,
  codes: 1024,
  codeDim: 32,
  beta: 0.25,
  emaDecay: 0.99,
  deadCodeSteps: 100,
  rgbWeight: 1,
  depthWeight: 0.5,
  changeWeight: 0,
  freezeEncoder: false,
});

export interface TokenizerParams {
  patchIn: LinearParams;
  encPos: LearnedPositionParams;
  encoder: STStackParams;
  toCode: LinearParams;
  fromCode: LinearParams;
  decPos: LearnedPositionParams;
  decoder: STStackParams;
  patchOut: LinearParams;
}

/** Non-gradient state: the EMA codebook and each code's age (steps since last used). */
export interface TokenizerState {
  codebook_KD: np.Array;
  ema: VQEmaState;
  age_K: np.Array;
}

export function vqConfigOf(cfg: TokenizerConfig): VQConfig {
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

function gridOfConfig(cfg: TokenizerConfig) {
  return { height: cfg.height, width: cfg.width, channels: cfg.channels, patch: cfg.patch };
}

/** Tokens per frame. */
export function tokensPerFrame(cfg: TokenizerConfig): number {
  return gridOf(gridOfConfig(cfg)).N;
}

export function initTokenizer(key: Key, cfg: TokenizerConfig): { params: TokenizerParams; state: TokenizerState } {
  const { N, Q } = gridOf(gridOfConfig(cfg));
  const [k1, k2, k3, k4, k5, k6, k7, k8, k9] = splitKey(key, 9);
  const stack = { dim: cfg.dim, heads: cfg.heads, mlpHidden: cfg.dim * cfg.mlpRatio, causalTime: true };
  const params: TokenizerParams = {
    patchIn: initLinear(k1, { inDim: Q, outDim: cfg.dim }),
    encPos: initLearnedPositions(k2, { count: N, dim: cfg.dim }),
    encoder: initSTStack(k3, { ...stack, layers: cfg.encoderLayers }),
    toCode: initLinear(k4, { inDim: cfg.dim, outDim: cfg.codeDim }),
    fromCode: initLinear(k5, { inDim: cfg.codeDim, outDim: cfg.dim }),
    decPos: initLearnedPositions(k6, { count: N, dim: cfg.dim }),
    decoder: initSTStack(k7, { ...stack, layers: cfg.decoderLayers }),
    patchOut: initLinear(k8, { inDim: cfg.dim, outDim: Q }),
  };
  const vq = vqConfigOf(cfg);
  const { codebook_KD } = initVQ(k9, vq);
  const state: TokenizerState = { codebook_KD: codebook_KD.ref, ema: initVQEma(codebook_KD, vq), age_K: initCodeAge(vq) };
  return { params, state };
}

/** Continuous encoder output z_BTNd for frames x_BTHWC in [0, 1]. Consumes p and x. */
export function encode(p: Pick<TokenizerParams, "patchIn" | "encPos" | "encoder" | "toCode">, x_BTHWC: np.Array, cfg: TokenizerConfig): np.Array {
  const patches = patchify(x_BTHWC.mul(2).sub(1), gridOfConfig(cfg)); // [0,1] -> [-1,1]
  const h_BTND = addPositions(linear(p.patchIn, patches), p.encPos.table, 2);
  return linear(p.toCode, stStack(p.encoder, h_BTND, { causalTime: true }));
}

/** Frames x̂_BTHWC (roughly [0, 1]) from quantized codes zq_BTNd. Consumes p and zq. */
export function decode(p: Pick<TokenizerParams, "fromCode" | "decPos" | "decoder" | "patchOut">, zq_BTNd: np.Array, cfg: TokenizerConfig): np.Array {
  const h_BTND = addPositions(linear(p.fromCode, zq_BTNd), p.decPos.table, 2);
  const out_BTNQ = linear(p.patchOut, stStack(p.decoder, h_BTND, { causalTime: true }));
  return unpatchify(out_BTNQ, gridOfConfig(cfg)).add(1).mul(0.5); // [-1,1] -> [0,1]
}

/** Split a p tree into its encoder and decoder halves (no refs taken). */
export function halves(p: TokenizerParams) {
  const { patchIn, encPos, encoder, toCode, fromCode, decPos, decoder, patchOut } = p;
  return { enc: { patchIn, encPos, encoder, toCode }, dec: { fromCode, decPos, decoder, patchOut } };
}

/** Mean squared error of RGB and of depth (0 when there is no depth channel). Consumes both. */
export function reconstructionErrors(xhat_BTHWC: np.Array, x_BTHWC: np.Array, cfg: TokenizerConfig): { rgbMse: np.Array; depthMse: np.Array } {
  const { rgb, depth } = channelMeans(np.square(xhat_BTHWC.sub(x_BTHWC)), cfg);
  return { rgbMse: rgb, depthMse: depth };
}

/** Means of per-pixel values (B,T,H,W,C) over the RGB channels and over depth (0 for RGB-only). Consumes v. */
function channelMeans(v: np.Array, cfg: TokenizerConfig): { rgb: np.Array; depth: np.Array } {
  if (cfg.channels === 4) return { rgb: v.ref.slice([], [], [], [], [0, 3]).mean(), depth: v.slice([], [], [], [], [3, 4]).mean() };
  return { rgb: v.mean(), depth: np.zeros([]) };
}

/** Per-pixel loss weights 1 + c·|x_t − x_t−1| (mean over channels; 1 on each clip's first frame), (B,T,H,W,1). Consumes x. */
export function changeWeights(x_BTHWC: np.Array, c: number): np.Array {
  const [B, T, H, W] = x_BTHWC.shape;
  const change_BUHW1 = np.abs(x_BTHWC.ref.slice([], [1, T]).sub(x_BTHWC.slice([], [0, T - 1]))).mean(-1, { keepdims: true });
  return np.concatenate([np.zeros([B, 1, H, W, 1]), change_BUHW1], 1).mul(c).add(1);
}

export interface TokenizerLossAux {
  rgbMse: np.Array;
  depthMse: np.Array;
  commit: np.Array;
  z_BTNd: np.Array;
  indices_BTN: np.Array;
}

/**
 * The training loss: rgbWeight·MSE_rgb + depthWeight·MSE_depth + β·commitment. Consumes params,
 * codebook and x. The aux carries z and the indices for the EMA codebook update.
 */
export function tokenizerLoss(
  p: TokenizerParams,
  codebook_KD: np.Array,
  x_BTHWC: np.Array,
  cfg: TokenizerConfig,
): { loss: np.Array; aux: TokenizerLossAux } {
  const { enc, dec } = halves(p);
  const encoded = encode(enc, x_BTHWC.ref, cfg);
  const z = cfg.freezeEncoder ? lax.stopGradient(encoded) : encoded;
  const q = quantize({ codebook_KD }, z.ref, vqConfigOf(cfg));
  q.codebookLoss.dispose();
  const xhat = decode(dec, q.zq, cfg);
  const sq = np.square(xhat.sub(x_BTHWC.ref));
  const cw = cfg.changeWeight ?? 0;
  // With changeWeight, the loss weighs each pixel by changeWeights / their mean; the reported MSEs stay plain.
  const w = cw > 0 ? changeWeights(x_BTHWC, cw) : (x_BTHWC.dispose(), null);
  const plain = channelMeans(w ? sq.ref : sq, cfg);
  const errors = { rgbMse: plain.rgb, depthMse: plain.depth };
  let recon: np.Array;
  if (w) {
    const norm = w.ref.mean();
    const weighted = channelMeans(sq.mul(w), cfg);
    recon = weighted.rgb.mul(cfg.rgbWeight).add(weighted.depth.mul(cfg.depthWeight)).div(norm);
  } else {
    recon = errors.rgbMse.ref.mul(cfg.rgbWeight).add(errors.depthMse.ref.mul(cfg.depthWeight));
  }
  const loss = recon.add(q.commitLoss.ref);
  return { loss, aux: { ...errors, commit: q.commitLoss, z_BTNd: z, indices_BTN: q.indices } };
}

/** Frames → tokens_BTN (int32). Consumes params (pass refs), codebook and x. */
export function tokenize(p: TokenizerParams, codebook_KD: np.Array, x_BTHWC: np.Array, cfg: TokenizerConfig): np.Array {
  const { enc, dec } = halves(p);
  tree.dispose(dec);
  const q = quantize({ codebook_KD }, encode(enc, x_BTHWC, cfg), vqConfigOf(cfg));
  q.zq.dispose();
  q.commitLoss.dispose();
  q.codebookLoss.dispose();
  return q.indices;
}

/** tokens_BTN → frames x̂_BTHWC clipped to [0, 1]. Consumes params, codebook and tokens. */
export function detokenize(p: TokenizerParams, codebook_KD: np.Array, tokens_BTN: np.Array, cfg: TokenizerConfig): np.Array {
  const { enc, dec } = halves(p);
  tree.dispose(enc);
  const zq = np.take(codebook_KD, tokens_BTN.astype(np.int32), 0); // (B,T,N) -> (B,T,N,d)
  return np.clip(decode(dec, zq, cfg), 0, 1);
}
