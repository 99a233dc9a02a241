#!/usr/bin/env node
// Entry point for `worldkit`. The worker shim must load before @jax-js/jax so the wasm backend
// gets its thread pool; static imports would be hoisted, hence the dynamic imports in order.
await import("../dist/core/worker-shim.js");
const { main } = await import("../dist/cli/main.js");
process.exitCode = await main(process.argv.slice(2));
