/**
 * The tokenizer's decoder run one frame at a time, for a live session. The decoder is causal in
 * time (its ST stack attends to earlier frames), so pixels of frame t depend on the decoded
 * frames before it: stepping it with a temporal KV cache gives each new frame in O(window)
 * instead of re-decoding the whole history. The tokenizer was trained on short clips (its run's
 * `data.frames`, 4 by default) with unbounded causal attention; a `window` equal to that clip
 * length is exactly what it saw in training, and keeps a 10,000-step session bounded.
 *
 * Dimension keys: B batch · N tokens per frame · d code width · D width · H,W,C pixels.
 */
import { np } from "../core/jax.js";
import type { KVCache } from "../nn/attention.js";
import { linear } from "../nn/linear.js";
import { addPositions } from "../nn/position.js";
import { stStackStep } from "../nn/st-block.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import { unpatchify } from "../models/patches.js";

export type DecoderParams = Pick<TokenizerParams, "fromCode" | "decPos" | "decoder" | "patchOut">;

/**
 * Pixels x_BHWC (clipped to [0, 1]) of one new frame of tokens_BN, given the decoder's caches of
 * the frames before (null when none; consumed); returns the caches with this frame appended,
 * trimmed to `window` frames. Consumes params, codebook and tokens.
 */
export function decodeFrameStep(
  p: DecoderParams,
  codebook_KD: np.Array,
  tokens_BN: np.Array,
  caches: KVCache[] | null,
  cfg: TokenizerConfig,
  window: number,
): { x_BHWC: np.Array; caches: KVCache[] } {
  const [B, N] = tokens_BN.shape;
  const zq_B1Nd = np.take(codebook_KD, tokens_BN.astype(np.int32).reshape([B, 1, N]), 0); // (B,N) -> (B,1,N) -> (B,1,N,d)
  const h_B1ND = addPositions(linear(p.fromCode, zq_B1Nd), p.decPos.table, 2);
  const r = stStackStep(p.decoder, h_B1ND, caches, { causalTime: true, timeWindow: window });
  const grid = { height: cfg.height, width: cfg.width, channels: cfg.channels, patch: cfg.patch };
  const x = unpatchify(linear(p.patchOut, r.y_B1ND), grid).add(1).mul(0.5); // [-1,1] -> [0,1]
  return { x_BHWC: np.clip(x, 0, 1).reshape([B, cfg.height, cfg.width, cfg.channels]), caches: r.caches }; // (B,1,H,W,C) -> (B,H,W,C)
}

/** Only the decoder half of tokenizer params (no refs taken). */
export function decoderHalf(p: TokenizerParams): DecoderParams {
  return { fromCode: p.fromCode, decPos: p.decPos, decoder: p.decoder, patchOut: p.patchOut };
}
