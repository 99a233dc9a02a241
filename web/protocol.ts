/**
 * Messages between the page (main.ts), the session worker (session-worker.ts) and the decoder
 * worker (decode-worker.ts). With onnxruntime-web the session worker samples each frame's tokens
 * and hands them, through a MessagePort, to the decoder worker, which decodes them and posts the
 * frame to the page: frame t is decoded while frame t+1 is sampled, one core each. Every request
 * the page sends the session worker is still answered by exactly one "frame" (from either worker)
 * or "error".
 */
import type { PlayerAction } from "../src/player/world-files.js";

/** What the page asks the worker to load; the optional fields come from the page's URL (?passes=, ?backend=, ?int8=0, ?threads=, ?spin=1). */
export interface LoadRequest {
  type: "load";
  /** The world folder's URL (ends in "/"). */
  base: string;
  /** The page's URL: onnxruntime-web's files are resolved against it. */
  page: string;
  /** MaskGIT passes per frame (fewer = faster, coarser); default the world's. */
  sampleSteps?: number;
  /** "jax" skips onnxruntime-web; default: onnxruntime-web, jax-js if it fails. */
  backend?: "ort" | "jax";
  /** int8 weights on onnxruntime-web (the page's default: true, ?int8=0 for fp32). Default false. */
  int8?: boolean;
  /** onnxruntime-web wasm threads, both workers together in split mode (the decoder worker takes 1); default every core up to 4 (1 when the page is not cross-origin isolated). */
  threads?: number;
  /** onnxruntime-web's idle wasm threads spin instead of sleeping (?spin=1; off by default: in headless chromium on 2 cores it measured 9.2 fps against 10.6). */
  spinning?: boolean;
  /** The port to the decoder worker (split mode); absent with ?split=0, when this worker decodes too. */
  decoder?: MessagePort;
}

/** What the page asks the decoder worker to load (its port from the session worker comes with it). */
export interface DecoderLoadRequest {
  type: "load";
  base: string;
  page: string;
  int8?: boolean;
  threads?: number;
  port: MessagePort;
}

/** From the session worker to the decoder worker: frames' tokens to decode, in order. */
export interface TokensMessage {
  type: "tokens";
  /** One or more frames; `clear`: empty the decoder's cache first (a start or reset: every context frame comes). */
  frames: Int32Array[];
  clear: boolean;
  /** As in the "frame" message: the action that made the last frame (null: start/reset). */
  code: number | null;
  /** The session worker's time for this request, and its parts (sample). */
  ms: number;
  parts: Record<string, number> | null;
  /** The request this answers (for an error's `request`). */
  request: ToWorker["type"];
}

export type ToWorker =
  | LoadRequest
  | { type: "step"; code: number }
  | { type: "reset" }
  /** Start over from one RGB image, H·W·3 in [0, 1]. */
  | { type: "image"; image: Float32Array }
  /** Start over from a first frame the prompt model imagines from `text` (only when ready.hasPrompt). */
  | { type: "prompt"; text: string };

export type FromWorker =
  | {
      type: "ready";
      /** What runs the passes. */
      backend: "onnxruntime-web" | "jax-js";
      /** Its device: "wasm" (", int8" with int8 weights) or jax-js's "webgpu" / "wasm". */
      device: string;
      /** wasm threads of that backend (the session worker's). */
      threads: number;
      /** wasm threads of the decoder worker, or 0 when the session worker decodes too. */
      decoderThreads: number;
      /** Why onnxruntime-web is not used (the jax-js fallback), or null. */
      fallback: string | null;
      /** Whether the page is cross-origin isolated (SharedArrayBuffer, so wasm threads). */
      isolated: boolean;
      height: number;
      width: number;
      /** 4: RGB + depth (drawn side by side), 3: RGB only. */
      channels: number;
      actions: PlayerAction[];
      idleCode: number;
      hasStartFrames: boolean;
      /** Whether the world has a prompt model (prompt.safetensors), so a "prompt" request can work. */
      hasPrompt: boolean;
      /** Prompts in the model's vocabulary and its captions' grammar, to offer as examples ([] without a model). */
      promptExamples: string[];
      sampleSteps: number;
      loadMs: number;
      /** Where loadMs went, ms: the array device, fetching and decoding the world's files, the runtime, the session's start (graphs, first frame). */
      loadParts: { device: number; files: number; runtime: number; start: number };
    }
  /** A frame: RGB bytes, depth in [0, 1] or null; `code` is the action that made it (null: start/reset). */
  | {
      type: "frame";
      rgb: Uint8Array;
      depth: Float32Array | null;
      ms: number;
      code: number | null;
      /** Where the step's time went, ms per part (onnxruntime-web: sample = the dynamics graph, decode), or null. */
      parts: Record<string, number> | null;
    }
  /** `request`: the type of the request that failed (a failed "prompt" leaves the session playing as before). */
  | { type: "error"; message: string; request: ToWorker["type"] };
