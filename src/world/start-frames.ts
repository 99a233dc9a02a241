/**
 * `start.safetensors`: the frames a world starts from, shipped in the world folder so the player
 * opens on a real dataset frame rather than a grey one. No Node imports (the page reads it too).
 *
 * Layout: one F32 tensor `frames` of shape (T, H, W, C), values in [0, 1], C = the tokenizer's
 * channels (RGB + depth for depth worlds), T ≥ 1 context frames; optional I32 `actions` (T,) with
 * the code that led into each frame (the no-action code A for the first). Whoever packs a world
 * folder writes it with `encodeStartFrames` (e.g. the first frames of a validation episode).
 */
import { decodeSafetensors, encodeSafetensors } from "../core/safetensors.js";
import type { Tensor } from "../core/safetensors.js";
import type { TokenizerConfig } from "../models/tokenizer.js";
import type { FramesInput } from "./session.js";

export const START_FILE = "start.safetensors";

export interface StartFrames extends FramesInput {
  actions?: number[];
}

/** Bytes of a start.safetensors holding `count` frames of H×W×C (and optional action codes). */
export function encodeStartFrames(frames: Float32Array, shape: { count: number; height: number; width: number; channels: number }, actions?: number[]): Uint8Array {
  const { count, height, width, channels } = shape;
  if (frames.length !== count * height * width * channels) {
    throw new Error(`start frames: ${frames.length} values for ${count} frames of ${height}×${width}×${channels}`);
  }
  const tensors: Record<string, Tensor> = { frames: { dtype: "F32", shape: [count, height, width, channels], data: frames } };
  if (actions) {
    if (actions.length !== count) throw new Error(`start frames: ${actions.length} actions for ${count} frames`);
    tensors.actions = { dtype: "I32", shape: [count], data: Int32Array.from(actions) };
  }
  return encodeSafetensors(tensors, { format: "worldkit-start", version: "1" });
}

/** Decode and check against the world's tokenizer (frame size and channels). */
export function decodeStartFrames(bytes: Uint8Array, source: string, cfg: TokenizerConfig): StartFrames {
  const { tensors } = decodeSafetensors(bytes, source);
  const f = tensors.frames;
  if (!f || f.dtype !== "F32" || f.shape.length !== 4) throw new Error(`${source}: needs an F32 tensor "frames" of shape (T, H, W, C)`);
  const [count, h, w, c] = f.shape;
  if (h !== cfg.height || w !== cfg.width || c !== cfg.channels || count < 1) {
    throw new Error(`${source}: frames are ${f.shape.join("×")}; this world's tokenizer takes T×${cfg.height}×${cfg.width}×${cfg.channels} (T ≥ 1)`);
  }
  const a = tensors.actions;
  if (a && (a.dtype !== "I32" || a.shape.length !== 1 || a.shape[0] !== count)) throw new Error(`${source}: "actions" must be I32 of shape (${count},)`);
  return { frames: f.data as Float32Array, count, actions: a ? Array.from(a.data as Int32Array) : undefined };
}
