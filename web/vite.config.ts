/**
 * Builds the player page (web/) into dist/web/, which `worldkit play` serves.
 *
 * onnxruntime-web: resolved through its "onnxruntime-web-use-extern-wasm" condition, the build
 * that loads its runtime (`ort-wasm-simd-threaded.mjs` + `.wasm`, 14 MB) from `ort.env.wasm.wasmPaths`
 * rather than one inlined into our worker chunk (whose copies would also start as its pthread
 * workers). The plugin below copies those two files into dist/web/ort/ and serves them there in
 * dev, so the page loads them from our own server: nothing comes from a CDN. Both servers send
 * COOP/COEP, so the page is cross-origin isolated and the wasm runtimes get their threads.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultClientConditions, defineConfig } from "vite";
import type { Plugin } from "vite";

/** onnxruntime-web's runtime files the wasm build loads (web/ort-web.ts points wasmPaths at ort/). */
const ORT_FILES = ["ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
const ORT_DIST = dirname(createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
const ISOLATION = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

function ortRuntimeFiles(): Plugin {
  return {
    name: "worldkit-ort-runtime-files",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = (req.url ?? "").split("?")[0].match(/\/ort\/([^/]+)$/)?.[1];
        if (!name || !ORT_FILES.includes(name)) return next();
        res.writeHead(200, { ...ISOLATION, "Content-Type": name.endsWith(".wasm") ? "application/wasm" : "text/javascript" });
        res.end(readFileSync(join(ORT_DIST, name)));
      });
    },
    generateBundle() {
      for (const name of ORT_FILES) this.emitFile({ type: "asset", fileName: `ort/${name}`, source: readFileSync(join(ORT_DIST, name)) });
    },
  };
}

const conditions = ["onnxruntime-web-use-extern-wasm", ...defaultClientConditions];

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: { conditions },
  plugins: [ortRuntimeFiles()],
  // The session worker imports jax-js, which splits its backends into chunks: ES module workers.
  worker: { format: "es" },
  server: { headers: ISOLATION },
  preview: { headers: ISOLATION },
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
  },
});
