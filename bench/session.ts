/**
 * WorldSession step time on a trained world (default backend): the median and p99 of the step
 * wall time over 1,000 steps, and the cost at step 10 and at step 10,000 (median of the 10 steps
 * ending there; src/eval/timing.ts), with random actions from one random start frame. The world
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
const session = new WorldSession(world, { seed: 0 });
const t = await timeSession(session, { frames: frame, count: 1 }, { steps: 1000, ratioStep: 10_000, seed: 0 });
session.dispose();
disposeWorld(world);
console.log(
  JSON.stringify({
    threads,
    world: path,
    size: `${H}×${W}`,
    median: t.step_ms_median,
    p99: t.step_ms_p99,
    at10: t.ms_at_10,
    at10k: t.ms_at_ratio_step,
    ratio: t.step_ms_ratio,
    load: await loadAverage(),
  }),
);
process.exit(0);
