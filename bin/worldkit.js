#!/usr/bin/env node
// Entry point for `worldkit`. The worker shim must load before @jax-js/jax so the wasm backend
// gets its thread pool; static imports would be hoisted, hence the dynamic imports in order.
await import("../dist/core/worker-shim.js");
const { main } = await import("../dist/cli/main.js");
const code = await main(process.argv.slice(2));
// onnxruntime sessions and worker threads may hold the event loop: leave explicitly, except for
// long-running commands (servers) that return a promise only when they are done anyway.
process.exit(code);
