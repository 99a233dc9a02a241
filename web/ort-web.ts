/**
 * onnxruntime-web for the session worker: the wasm build (SIMD; threads when the page is
 * cross-origin isolated) with its runtime files (`ort-wasm-simd-threaded.mjs` / `.wasm`) served
 * by our own server under `ort/` (vite.config.ts copies them into dist/web/ort/ and serves them
 * in dev). Nothing may come from a CDN: the machines are offline, and `wasmPaths` unset would
 * make onnxruntime-web look beside its own script or on jsDelivr.
 */
import type { OrtModule } from "../src/onnx/runtime-core.js";

/** The folder of the runtime files, relative to the page. */
export const ORT_FILES_DIR = "ort/";

export interface WebOrt {
  ort: OrtModule;
  /** wasm threads onnxruntime-web will use. */
  threads: number;
  /** Whether the worker is cross-origin isolated (SharedArrayBuffer, so wasm threads). */
  isolated: boolean;
}

/**
 * Load and configure onnxruntime-web. `pageUrl`: the page's address (the runtime files' folder
 * is resolved against it); `threads`: wanted threads, 1 when not isolated. The default is every
 * core up to 4: on this project's 2-core machine, idle, 2 threads stepped the default world in
 * 70 ms against 100 with 1 (bench/RESULTS.md); with half the cores, as onnxruntime-web's own
 * default would have it, a 2-core machine got 1.
 */
export async function loadWebOrt(pageUrl: string, threads?: number): Promise<WebOrt> {
  // Resolved through the "onnxruntime-web-use-extern-wasm" condition (vite.config.ts): the build
  // that loads its .mjs/.wasm from wasmPaths instead of inlining them into our bundle.
  const ort = await import("onnxruntime-web/wasm");
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  const isolated = g.crossOriginIsolated === true;
  const wanted = threads ?? Math.min(4, g.navigator?.hardwareConcurrency ?? 1);
  const n = isolated ? Math.max(1, Math.floor(wanted)) : 1;
  ort.env.wasm.wasmPaths = new URL(ORT_FILES_DIR, pageUrl).href;
  ort.env.wasm.numThreads = n;
  ort.env.logLevel = "error";
  return { ort: ort as unknown as OrtModule, threads: n, isolated };
}
