/**
 * Dataset generation speed: 10,000 frames at 64×64 (RGB + uint16 depth + states) for each world,
 * written to a temp folder with `generateDataset` (policy, simulation, rendering and shard
 * writing included). Prints one JSON line.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { generateDataset } from "../src/data/generate.js";
import { WORLDS } from "../src/worlds/index.js";

const dir = mkdtempSync(join(tmpdir(), "wk-bench-data-"));
const worlds = [];
for (const [name, world] of Object.entries(WORLDS)) {
  const t0 = performance.now();
  await generateDataset({ world, episodes: 50, frames: 200, size: [64, 64], seed: 1, out: join(dir, name) });
  const seconds = (performance.now() - t0) / 1000;
  worlds.push({ world: name, frames: 10_000, seconds, framesPerSec: 10_000 / seconds });
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ threads: 1, worlds, load: loadavg()[0] }));
