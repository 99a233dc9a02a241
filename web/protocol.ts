/** Messages between the page (main.ts) and the session worker (session-worker.ts). */
import type { PlayerAction } from "../src/player/world-files.js";

export type ToWorker =
  /** `sampleSteps`: MaskGIT passes per frame (fewer = faster, coarser); default the world's. */
  | { type: "load"; base: string; sampleSteps?: number }
  | { type: "step"; code: number }
  | { type: "reset" }
  /** Start over from one RGB image, H·W·3 in [0, 1]. */
  | { type: "image"; image: Float32Array };

export type FromWorker =
  | {
      type: "ready";
      device: string;
      threads: number;
      /** Whether the page is cross-origin isolated (SharedArrayBuffer, so wasm threads). */
      isolated: boolean;
      height: number;
      width: number;
      /** 4: RGB + depth (drawn side by side), 3: RGB only. */
      channels: number;
      actions: PlayerAction[];
      idleCode: number;
      hasStartFrames: boolean;
      sampleSteps: number;
      loadMs: number;
    }
  /** A frame: RGB bytes, depth in [0, 1] or null; `code` is the action that made it (null: start/reset). */
  | { type: "frame"; rgb: Uint8Array; depth: Float32Array | null; ms: number; code: number | null }
  | { type: "error"; message: string };
