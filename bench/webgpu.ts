/**
 * WorldSession on WebGPU, the player's candidates besides wasm: jax-js's WebGPU backend and
 * onnxruntime-web's WebGPU execution provider (fp32; int8 is a wasm-only path), against
 * onnxruntime-web's wasm provider on the same graphs, with a check that the first frames agree.
 * Not part of `npm run bench` (it needs a GPU and Dawn); bench/RESULTS.md has what it measured.
 *
 *   npm install --no-save webgpu
 *   node --import ./dist/core/worker-shim.js --import ./bench/webgpu-shim.mjs --import tsx bench/webgpu.ts [world] [steps]
 *
 * WEBGPU_RUNS picks the runs (default "jax:4,jax:2,jax:1,webgpu:4,wasm:4,webgpu:2,webgpu:1":
 * backend or execution provider, then MaskGIT passes). One JSON line per run.
 */
import * as ortWeb from "onnxruntime-web/webgpu";
import { initDevice } from "../src/core/device.js";
import { hostRng } from "../src/core/keys.js";
import { np } from "../src/core/jax.js";
import { disposeWorld, loadWorld } from "../src/world/dynamics-io.js";
import { WorldSession } from "../src/world/session.js";

const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: object): Promise<{ info: Record<string, string> } | null> } } }).navigator?.gpu;
const adapter = gpu ? await gpu.requestAdapter({ powerPreference: "high-performance" }) : null;
if (!adapter) {
  console.log(JSON.stringify({ skipped: "no WebGPU adapter (load bench/webgpu-shim.mjs with node --import; see this file's header)" }));
  process.exit(0);
}
const { vendor, device, description } = adapter.info;
console.log(JSON.stringify({ adapter: { vendor, device, description } }));

const path = process.argv[2] ?? "models/default";
const steps = Number(process.argv[3] ?? 40);
const warmSteps = Math.min(12, steps);
ortWeb.env.wasm.numThreads = 1;
ortWeb.env.logLevel = "error";

// jax-js's fp32 matmul rate on the adapter (the jax runs' ceiling).
await initDevice("webgpu");
for (const n of [1024, 4096]) {
  const x = np.ones([n, n]);
  await np.matmul(x.ref, x.ref).data();
  const t0 = performance.now();
  let z = np.matmul(x.ref, x.ref);
  for (let i = 1; i < 10; i++) {
    z.dispose();
    z = np.matmul(x.ref, x.ref);
  }
  await z.data();
  x.dispose();
  const ms = (performance.now() - t0) / 10;
  console.log(JSON.stringify({ matmul: n, ms: +ms.toFixed(2), gflops: Math.round((2 * n ** 3) / ms / 1e6) }));
}

const specs = (process.env.WEBGPU_RUNS ?? "jax:4,jax:2,jax:1,webgpu:4,wasm:4,webgpu:2,webgpu:1").split(",").map((r) => {
  const [runtime, passes] = r.split(":");
  return { runtime, passes: Number(passes) };
});
const firstFrames = new Map<number, Uint8Array[]>();
// jax-js arrays live on WebGPU for the jax runs; the onnxruntime runs keep jax-js (weights for the
// export, start frames) on wasm. One world load per device.
for (const onGpu of [true, false]) {
  const runs = specs.filter((r) => (r.runtime === "jax") === onGpu);
  if (!runs.length) continue;
  await initDevice(onGpu ? "webgpu" : "wasm");
  const world = await loadWorld(path);
  const { height: H, width: W, channels: C } = world.tokenizer.config;
  const rng = hostRng(1);
  const frame = Float32Array.from({ length: H * W * C }, () => rng());
  for (const { runtime, passes } of runs) {
    const s = onGpu
      ? new WorldSession(world, { seed: 0, backend: "jax", sampleSteps: passes })
      : new WorldSession(world, { seed: 0, backend: "ort", ort: ortWeb as never, threads: 1, sampleSteps: passes, executionProviders: [runtime] });
    let t = performance.now();
    await s.start({ frames: frame, count: 1 });
    const startMs = performance.now() - t;
    const first: Uint8Array[] = [];
    for (let i = 0; i < warmSteps; i++) {
      const r = await s.step(i % s.actionCount);
      if (first.length < 3) first.push(r.rgb);
    }
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      t = performance.now();
      await s.step(i % s.actionCount);
      ms.push(performance.now() - t);
    }
    s.dispose();
    ms.sort((a, b) => a - b);
    // Mean |Δ| (0–255) of the first frames against the first run with the same passes.
    const ref = firstFrames.get(passes);
    const diff = ref ? first.map((f, k) => +(f.reduce((acc, v, j) => acc + Math.abs(v - ref[k][j]), 0) / f.length).toFixed(3)) : null;
    if (!ref) firstFrames.set(passes, first);
    console.log(JSON.stringify({ runtime, passes, start_ms: Math.round(startMs), step_ms_median: +ms[steps >> 1].toFixed(1), step_ms_p90: +ms[Math.floor(steps * 0.9)].toFixed(1), first_frames_mean_abs_diff: diff }));
  }
  disposeWorld(world);
}
process.exit(0);
