/**
 * `start.safetensors`: the frames a world starts from, shipped in the world folder so the player
 * opens on a real dataset frame rather than a grey one. No Node imports (the page reads it too).
 *
 * Layout: one F32 tensor `frames` of shape (T, H, W, C), values in [0, 1], C = the tokenizer's
 * channels (RGB + depth for depth worlds), T ≥ 1 context frames; optional I32 `actions` (T,) with
 * the code that led into each frame (the no-action code A for the first); optional I32 `tokens`
 * (T, N): the frames' tokens under the world's tokenizer, so a session starts without running the
 * encoder (in the browser player, jax-js's first encoder call was ~0.9 s of a ~1.7 s start). The
 * tokens hold only for the tokenizer they came from: the metadata's `tokenizer` is the FNV-1a
 * fingerprint of that tokenizer.safetensors, and a reader that finds another file ignores them.
 * Whoever packs a world folder writes it with `encodeStartFrames` (e.g. the first frames of a
 * validation episode).
 */
import { fnv1a } from "../core/hash.js";
import { decodeSafetensors, encodeSafetensors } from "../core/safetensors.js";
import type { Tensor } from "../core/safetensors.js";
import type { TokenizerConfig } from "../models/tokenizer.js";
import type { FramesInput } from "./session.js";

export const START_FILE = "start.safetensors";

export interface StartFrames extends FramesInput {
  actions?: number[];
}

/** The frames' tokens and the fingerprint of the tokenizer file that made them. */
export interface StartTokens {
  tokens: Int32Array;
  tokenizer: string;
}

/** The fingerprint (FNV-1a) of a tokenizer.safetensors' bytes: which tokenizer start tokens belong to. */
export function fingerprint(bytes: Uint8Array): string {
  return fnv1a(bytes);
}

/** Bytes of a start.safetensors holding `count` frames of H×W×C (and optional action codes and tokens). */
export function encodeStartFrames(
  frames: Float32Array,
  shape: { count: number; height: number; width: number; channels: number },
  actions?: number[],
  tokens?: StartTokens,
): Uint8Array {
  const { count, height, width, channels } = shape;
  if (frames.length !== count * height * width * channels) {
    throw new Error(`start frames: ${frames.length} values for ${count} frames of ${height}×${width}×${channels}`);
  }
  const tensors: Record<string, Tensor> = { frames: { dtype: "F32", shape: [count, height, width, channels], data: frames } };
  if (actions) {
    if (actions.length !== count) throw new Error(`start frames: ${actions.length} actions for ${count} frames`);
    tensors.actions = { dtype: "I32", shape: [count], data: Int32Array.from(actions) };
  }
  if (tokens) {
    const n = tokens.tokens.length / count;
    if (!Number.isInteger(n) || n < 1) throw new Error(`start frames: ${tokens.tokens.length} tokens for ${count} frames`);
    tensors.tokens = { dtype: "I32", shape: [count, n], data: tokens.tokens };
  }
  return encodeSafetensors(tensors, { format: "worldkit-start", version: "1", ...(tokens ? { tokenizer: tokens.tokenizer } : {}) });
}

/**
 * Decode and check against the world's tokenizer (frame size and channels). The stored tokens
 * come back only when `tokenizer` (the fingerprint of the world's tokenizer.safetensors) is the
 * one they were made with.
 */
export function decodeStartFrames(bytes: Uint8Array, source: string, cfg: TokenizerConfig, tokenizer?: string): StartFrames {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const f = tensors.frames;
  if (!f || f.dtype !== "F32" || f.shape.length !== 4) throw new Error(`${source}: needs an F32 tensor "frames" of shape (T, H, W, C)`);
  const [count, h, w, c] = f.shape;
  if (h !== cfg.height || w !== cfg.width || c !== cfg.channels || count < 1) {
    throw new Error(`${source}: frames are ${f.shape.join("×")}; this world's tokenizer takes T×${cfg.height}×${cfg.width}×${cfg.channels} (T ≥ 1)`);
  }
  const a = tensors.actions;
  if (a && (a.dtype !== "I32" || a.shape.length !== 1 || a.shape[0] !== count)) throw new Error(`${source}: "actions" must be I32 of shape (${count},)`);
  const tk = tensors.tokens;
  const N = (cfg.height / cfg.patch) * (cfg.width / cfg.patch);
  if (tk && (tk.dtype !== "I32" || tk.shape.length !== 2 || tk.shape[0] !== count || tk.shape[1] !== N)) throw new Error(`${source}: "tokens" must be I32 of shape (${count}, ${N})`);
  const tokens = tk && tokenizer !== undefined && metadata.tokenizer === tokenizer ? (tk.data as Int32Array) : undefined;
  return { frames: f.data as Float32Array, count, actions: a ? Array.from(a.data as Int32Array) : undefined, ...(tokens ? { tokens } : {}) };
}
