/**
 * `worldkit demo`: the smallest end-to-end run — generate a few frames of a procedural world,
 * train a tiny tokenizer on them for a few steps, print the loss falling. `npm start` runs this
 * until the player lands.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initDevice } from "../core/device.js";
import { resolveConfig } from "../core/config.js";
import { tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { generateDataset } from "../data/generate.js";
import { openDataset } from "../data/loader.js";
import { getWorld } from "../worlds/index.js";
import { runTraining } from "../train/loop.js";
import { TOKENIZER_RUN_DEFAULTS, tokenizerPhase } from "../train/tokenizer-phase.js";
import { checkFlags, intFlag, parseArgs } from "./args.js";
import type { Command } from "./command.js";

export const demo: Command = {
  name: "demo",
  summary: "train a tiny tokenizer on a generated world for a few steps and print its loss",
  usage: "worldkit demo [--steps 60] [--env bounce] [--json]",
  async run(argv) {
    const args = parseArgs(argv, ["json"]);
    checkFlags(args, ["steps", "env", "json"], "demo");
    const steps = intFlag(args, "steps", 60);
    const json = !!args.flags.json;
    const dir = mkdtempSync(join(tmpdir(), "worldkit-demo-"));
    try {
      const info = await initDevice();
      const env = args.flags.env ?? "bounce";
      await generateDataset({ world: getWorld(env), episodes: 4, frames: 16, size: [32, 32], seed: 1, out: join(dir, "data") });
      const cfg = resolveConfig(TOKENIZER_RUN_DEFAULTS, {
        values: {
          tokenizer: { height: 32, width: 32, patch: 4, dim: 48, heads: 2, encoderLayers: 1, decoderLayers: 1, codes: 128, codeDim: 16 },
          train: { steps, lr: 2e-3, warmupSteps: 5, logEvery: 10, valEvery: 0, sampleEvery: 0, ckptEvery: steps },
          data: { dir: join(dir, "data"), batch: 2, frames: 4 },
        },
        source: "demo",
      });
      if (!json) console.log(`worldkit demo: ${env} world, 32×32 RGB-D, tiny tokenizer, ${steps} steps on ${cfg.train.backend} (jax-js device ${info.device}, ${info.threads} threads)`);
      const phase = tokenizerPhase(cfg, openDataset(join(dir, "data")));
      const losses: number[] = [];
      const origStep = phase.step.bind(phase);
      phase.step = async (...a) => {
        const r = await origStep(...a);
        const loss = r.metrics.loss;
        if (typeof loss !== "number") losses.push(Number((await loss.ref.data())[0]));
        return r;
      };
      const r = await runTraining(phase, { out: join(dir, "run"), command: ["worldkit", "demo"], quiet: json });
      phase.dispose?.();
      tree.dispose(r.params as unknown as ParamTree);
      tree.dispose(r.state as unknown as ParamTree);
      const first = losses[0];
      const last = losses[losses.length - 1];
      if (json) console.log(JSON.stringify({ env, steps, first_loss: first, last_loss: last, psnr: -10 * Math.log10(r.lastMetrics.rgb_mse) }));
      else {
        for (let i = 0; i < losses.length; i += Math.max(1, Math.floor(losses.length / 6))) console.log(`  step ${String(i + 1).padStart(4)}  loss ${losses[i].toFixed(4)}`);
        console.log(`  step ${String(losses.length).padStart(4)}  loss ${last.toFixed(4)}   (RGB PSNR ${(-10 * Math.log10(r.lastMetrics.rgb_mse)).toFixed(1)} dB)`);
        console.log("The player (npm start → play the default world) arrives with the dynamics model; see README.md.");
      }
      return 0;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
