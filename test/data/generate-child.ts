// Run by dataset.test.ts as a child process that gets killed mid-generate.
// argv: OUT. Prints "episode N" after each episode so the parent knows when to kill it.
import { generateDataset } from "../../src/data/generate.js";
import { fakeWorld } from "./fake-world.js";

const out = process.argv[2];
let n = 0;
await generateDataset({
  world: fakeWorld, episodes: 400, frames: 40, size: [32, 32], seed: 3, out, shardBytes: 100_000,
  onFrames: () => process.stdout.write(`episode ${++n}\n`),
});
process.stdout.write("finished\n");
