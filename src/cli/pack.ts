/**
 * `worldkit pack`: assemble trained runs into one world folder (e.g. models/default).
 */
import { initDevice } from "../core/device.js";
import { openDataset } from "../data/loader.js";
import { packWorld } from "../world/pack.js";
import { checkFlags, intFlag, parseArgs, requireFlag } from "./args.js";
import type { Command } from "./command.js";
import { SAMPLING_FLAGS, samplingFlags } from "./backend-flags.js";

const USAGE = `worldkit pack --dynamics RUN --out DIR [--tokenizer RUN] [--lam RUN] [--actions FILE] [--prompt RUN]
                [--start-data DIR] [--start-frames 4] [--temperature T] [--sample-steps N] [--json]

Writes DIR/config.json, tokenizer.safetensors, dynamics.safetensors, lam.safetensors (with --lam),
actions.json (from --actions or the LAM run folder) and start.safetensors (the first frames of
an episode of --start-data: use held-out data) and prompt.safetensors (with --prompt: the text →
first-frame model, for worldkit imagine and start({ prompt })). --temperature and --sample-steps
set the world's play-time sampling (stored in its dynamics config; default: the run's). Write DIR/README.md yourself with the metrics.`;

export const pack: Command = {
  name: "pack",
  summary: "assemble trained runs into a world folder (models/default)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json"]);
    checkFlags(args, ["dynamics", "tokenizer", "lam", "actions", "start-data", "start-frames", "out", "json", "prompt", ...SAMPLING_FLAGS], "pack");
    await initDevice();
    const startDir = args.flags["start-data"];
    const config = await packWorld({
      dynamics: requireFlag(args, "dynamics", "pack"),
      tokenizer: args.flags.tokenizer,
      lam: args.flags.lam,
      actions: args.flags.actions,
      prompt: args.flags.prompt,
      startData: startDir ? openDataset(startDir) : undefined,
      startFrames: intFlag(args, "start-frames", 4),
      sampling: samplingFlags(args, "pack"),
      out: requireFlag(args, "out", "pack"),
      trainedOn: { command: ["worldkit", "pack", ...argv].join(" ") },
    });
    if (args.flags.json) console.log(JSON.stringify(config));
    else console.log(`wrote world folder ${args.flags.out}`);
    return 0;
  },
};
