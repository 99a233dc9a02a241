/**
 * `worldkit train <phase>`: one command for every training phase, on the shared loop.
 *
 *   worldkit train tokenizer --data DIR --out RUN [--config FILE] [--key.sub=value ...]
 *   worldkit train tokenizer --resume RUN
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { resolveConfig, parseOverrides } from "../core/config.js";
import { initDevice } from "../core/device.js";
import { openDataset } from "../data/loader.js";
import { runTraining } from "../train/loop.js";
import type { Phase } from "../train/loop.js";
import { TOKENIZER_RUN_DEFAULTS, tokenizerPhase } from "../train/tokenizer-phase.js";
import type { TokenizerRunConfig } from "../train/tokenizer-phase.js";
import { LAM_RUN_DEFAULTS, lamPhase } from "../train/lam-phase.js";
import type { LamRunConfig } from "../train/lam-phase.js";
import { DYNAMICS_RUN_DEFAULTS, dynamicsPhase } from "../train/dynamics-phase.js";
import type { DynamicsRunConfig } from "../train/dynamics-phase.js";
import { PROMPT_RUN_DEFAULTS, promptPhase } from "../train/prompt-phase.js";
import type { PromptRunConfig } from "../train/prompt-phase.js";
import { tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { checkFlags, parseArgs, UsageError } from "./args.js";
import type { Command } from "./command.js";

const USAGE = `worldkit train <phase> [options]

phases: tokenizer, lam (latent actions), dynamics, prompt (text → first frame)

  --data DIR        dataset folder (worldkit data generate / import)
  --tokenizer RUN   dynamics, prompt: the frozen tokenizer (run or world folder)
  --lam RUN         dynamics: the frozen LAM; or --actions true to use the data's true actions
  --out RUN         run folder: config.json, metrics.jsonl, checkpoints, samples/, curves.png
  --config FILE     JSON config (any subset of the phase's config)
  --resume RUN      continue RUN exactly where its last checkpoint left off
  --json            print the final metrics as JSON
  --<key>=<value>   override any config key, e.g. --tokenizer.dim=96 --train.steps=500

Run \`worldkit train tokenizer --print-config\` to see every key and its default.`;

interface PhaseEntry {
  defaults: object;
  make(cfg: object, out: string): Phase<object, object, unknown> | Promise<Phase<object, object, unknown>>;
}

const PHASES: Record<string, PhaseEntry> = {
  tokenizer: {
    defaults: TOKENIZER_RUN_DEFAULTS,
    make: (cfg) => tokenizerPhase(cfg as TokenizerRunConfig, openDataset((cfg as TokenizerRunConfig).data.dir)) as unknown as Phase<object, object, unknown>,
  },
  lam: {
    defaults: LAM_RUN_DEFAULTS,
    make: (cfg) => lamPhase(cfg as LamRunConfig, openDataset((cfg as LamRunConfig).data.dir)) as unknown as Phase<object, object, unknown>,
  },
  dynamics: {
    defaults: DYNAMICS_RUN_DEFAULTS,
    make: (cfg, out) => dynamicsPhase(cfg as DynamicsRunConfig, openDataset((cfg as DynamicsRunConfig).data.dir), out, console.log) as unknown as Promise<Phase<object, object, unknown>>,
  },
  prompt: {
    defaults: PROMPT_RUN_DEFAULTS,
    make: (cfg, out) => promptPhase(cfg as PromptRunConfig, openDataset((cfg as PromptRunConfig).data.dir), out, console.log) as unknown as Promise<Phase<object, object, unknown>>,
  },
};

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`cannot read config ${path}: ${(e as Error).message}`);
  }
}

export const train: Command = {
  name: "train",
  summary: "train a phase (tokenizer) with checkpoints, resume, metrics and curves",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json", "print-config"]);
    checkFlags(args, ["data", "out", "config", "resume", "json", "print-config", "tokenizer", "lam", "actions"], "train");
    const name = args.positionals[0];
    const entry = PHASES[name ?? ""];
    if (!entry) throw new UsageError(`worldkit train: name a phase (${Object.keys(PHASES).join(", ")})\n\n${USAGE}`);
    const resumeDir = args.flags.resume;
    const layers: { values: unknown; source: string }[] = [];
    if (resumeDir) {
      const saved = join(resumeDir, "config.json");
      if (!existsSync(saved)) throw new UsageError(`--resume ${resumeDir}: no config.json there (is it a run folder?)`);
      layers.push({ values: readJson(saved), source: saved });
    }
    if (args.flags.config) layers.push({ values: readJson(args.flags.config), source: args.flags.config });
    const overrides = parseOverrides(entry.defaults, args.overrides);
    if (args.flags.data) overrides.data = { ...((overrides.data as object | undefined) ?? {}), dir: args.flags.data };
    // Dynamics shorthands for data.tokenizer, data.lam and data.trueActions.
    for (const [flag, key] of [["tokenizer", "tokenizer"], ["lam", "lam"], ["actions", "trueActions"]] as const) {
      if (args.flags[flag]) overrides.data = { ...((overrides.data as object | undefined) ?? {}), [key]: key === "trueActions" ? args.flags[flag] === "true" : args.flags[flag] };
    }
    layers.push({ values: overrides, source: "command line" });
    const cfg = resolveConfig(entry.defaults, ...layers) as { data?: { dir?: string } };
    if (args.flags["print-config"]) {
      console.log(JSON.stringify(cfg, null, 2));
      return 0;
    }
    if (cfg.data && !cfg.data.dir) throw new UsageError("worldkit train: --data DIR is required");
    const out = resumeDir ?? args.flags.out;
    if (!out) throw new UsageError("worldkit train: --out RUN is required (or --resume RUN)");

    await initDevice();
    const phase = await entry.make(cfg, out);
    const result = await runTraining(phase, { out, resume: !!resumeDir, command: ["worldkit", "train", ...argv] });
    phase.dispose?.();
    tree.dispose(result.params as ParamTree);
    tree.dispose(result.state as ParamTree);
    const summary = { run: out, step: result.step, ...result.lastMetrics };
    if (args.flags.json) console.log(JSON.stringify(summary));
    else console.log(`done: ${out} at step ${result.step}; curves in ${join(out, "curves.png")}`);
    return 0;
  },
};
