/**
 * WorldSession step time on a trained world, per backend (onnxruntime fp32 and int8, jax-js):
 * the median and p99 of the step wall time, the cost at step 10 and at a late step (10,000 for
 * the default ort int8; median of the 10 steps ending there; src/eval/timing.ts), and on ort the
 * milliseconds per step in the dynamics (all MaskGIT passes and the commit: one graph) and in
 * the decoder, with random actions from one random start frame. WORLDKIT_THREADS sets both
 * jax-js's and onnxruntime's threads. The world
 * folder is WORLDKIT_BENCH_WORLD (default models/default); without one the benchmark prints a
 * `skipped` line instead. Run by bench/run.ts; prints one JSON line.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { initDevice } from "../src/core/device.js";
import { hostRng } from "../src/core/keys.js";
import { timeSession } from "../src/eval/timing.js";
import { disposeWorld, loadWorld } from "../src/world/dynamics-io.js";
import { WorldSession } from "../src/world/session.js";
import type { SessionOptions } from "../src/world/session.js";
import { loadAverage } from "./st-common.js";

const path = process.env.WORLDKIT_BENCH_WORLD ?? "models/default";
const threads = Number(process.env.WORLDKIT_THREADS ?? 0);
if (!existsSync(join(path, "dynamics.safetensors"))) {
  console.log(JSON.stringify({ threads, world: path, skipped: `no complete world folder at ${path} (no dynamics.safetensors; set WORLDKIT_BENCH_WORLD)` }));
  process.exit(0);
}
await initDevice();
const world = await loadWorld(path);
const { height: H, width: W, channels: C } = world.tokenizer.config;
const rng = hostRng(1);
const frame = Float32Array.from({ length: H * W * C }, () => rng());
/** Each backend's run: the default (ort int8, what play runs) to step 10,000; fp32 and jax-js (~10× slower) shorter. */
const RUNS: { name: string; opts: SessionOptions; steps: number; ratioStep: number }[] = [
  { name: "ort int8", opts: { backend: "ort", int8: true }, steps: 1000, ratioStep: 10_000 },
  { name: "ort fp32", opts: { backend: "ort" }, steps: 1000, ratioStep: 1000 },
  { name: "jax", opts: { backend: "jax" }, steps: 100, ratioStep: 200 },
];
const rows = [];
for (const run of RUNS) {
  const session = new WorldSession(world, { seed: 0, ...run.opts, threads: threads > 0 ? threads : undefined });
  const t = await timeSession(session, { frames: frame, count: 1 }, { steps: run.steps, ratioStep: run.ratioStep, seed: 0 });
  // Where the time of the timed steps went (ort: the sample graph = every dynamics pass, and the decoder).
  const parts = session.timings();
  const per = Math.max(run.steps, run.ratioStep);
  session.dispose();
  rows.push({
    backend: run.name,
    median: t.step_ms_median,
    p99: t.step_ms_p99,
    at10: t.ms_at_10,
    atEnd: t.ms_at_ratio_step,
    ratioStep: t.ratio_step,
    ratio: t.step_ms_ratio,
    sample: parts ? parts.sample / per : null,
    decode: parts ? parts.decode / per : null,
  });
}
disposeWorld(world);
console.log(JSON.stringify({ threads, world: path, size: `${H}×${W}`, rows, load: await loadAverage() }));
process.exit(0);
