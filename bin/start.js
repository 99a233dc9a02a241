#!/usr/bin/env node
// `npm start`: play the default world when it has been trained (models/default/config.json),
// else run the demo and say why. Same entry as bin/worldkit.js (worker shim first).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const world = fileURLToPath(new URL("../models/default", import.meta.url));
await import("../dist/core/worker-shim.js");
const { main } = await import("../dist/cli/main.js");
let argv;
if (existsSync(`${world}/config.json`)) {
  argv = ["play", "--world", world, ...process.argv.slice(2)];
} else {
  console.log("worldkit: the default world (models/default) is not trained yet; running the demo instead.");
  argv = ["demo", ...process.argv.slice(2)];
}
process.exit(await main(argv));
