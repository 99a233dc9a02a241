/**
 * `worldkit eval <what>`: numbers about a trained model on data it has not seen.
 *
 *   worldkit eval tokenizer --model RUN_OR_WORLD --data DIR [--json]
 *   worldkit eval lam --model RUN_OR_WORLD --data DIR [--json]
 *   worldkit eval world --world PATH --data DIR [--json]
 *   worldkit eval prompt --world PATH --data DIR [--json]   (src/cli/eval-prompt.ts)
 */
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { initDevice } from "../core/device.js";
import { tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { openDataset } from "../data/loader.js";
import { evalTokenizer } from "../eval/tokenizer-eval.js";
import { loadTokenizer } from "../world/tokenizer-io.js";
import { evalLam } from "../eval/lam-eval.js";
import { disposeLam, LAM_FILE, loadLam } from "../world/lam-io.js";
import { evalWorld } from "../eval/world-eval.js";
import { disposeWorld, loadWorld } from "../world/dynamics-io.js";
import { ACTIONS_FILE, writeActionsFile } from "../world/calibration.js";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError } from "./args.js";
import { BACKEND_FLAGS, BACKEND_SWITCHES, backendFlags, SAMPLING_FLAGS, samplingFlags } from "./backend-flags.js";
import type { Command } from "./command.js";
import { EVAL_PROMPT_USAGE, runEvalPrompt } from "./eval-prompt.js";
import { Progress } from "../core/progress.js";

const USAGE = `worldkit eval <what> [options]

  tokenizer --model RUN_OR_WORLD --data DIR [--frames 4] [--clips 256] [--batch 8] [--json]
      reconstruction on DIR: psnr, ssim, depth_mae (fraction of the depth range),
      codebook_usage (fraction of codes used on that data), tokens_per_frame,
      encode_ms and decode_ms per frame. RUN_OR_WORLD is a run folder (latest checkpoint),
      a world folder (models/default) or a checkpoint file.

  lam --model RUN_OR_WORLD --data DIR [--frames 3] [--clips 512] [--batch 16]
      [--actions FILE] [--strip FILE] [--json]
      latent actions against DIR's true actions: purity, nmi, confusion (true action × code
      counts), codes_used, code_share, sensitivity (how much the code changes the decoder's
      prediction). Writes the calibration to FILE (default: actions.json beside the model,
      except in a world folder, whose actions.json the player uses: there only with --actions)
      and, with --strip, the next frame under every code as a PNG (x_t, x_t+1, then codes;
      under each row its change from x_t: orange brighter, blue darker, black unchanged).

  world --world PATH --data DIR [--lam PATH] [--tokenizer PATH] [--starts 8] [--seed 0]
      [--split val|all|train] [--gravity-samples 4] [--gravity-sheet FILE.png]
      [--quick] [--skip-timing] [--backend jax|ort] [--int8] [--threads N]
      [--temperature T] [--sample-steps N] [--json]
      rollouts from 4 held-out context frames with the LAM's actions (default: PATH's
      lam.safetensors; without one, DIR's true actions): psnr_t, ssim_t (steps 1..16), psnr_t4,
      delta_psnr_t4 (inferred minus random actions), drift (PSNR at 16, 32, 64), gravity
      (platformer, bounce) and gravity_tokenizer_bound (the same test on the tokenizer's
      reconstruction of the true next frame: a perfect dynamics model's score), revisit_psnr
      and wall_penetration (maze3d), step_ms_median, _p99 and _ratio_10k. --split: the
      episodes held out (default val, DIR's val split; all for a dataset generated with new
      seeds). --gravity-samples: next frames sampled per gravity case (a case passes when
      more of them show the object lower than higher; more samples, less noise).
      --gravity-sheet: those cases as a PNG, failing first (the data's frame and its next,
      the model's start, its samples). --quick: 2 starts, 200 timed steps, ratio at step
      2,000. --skip-timing:
      no timing (it steps the session 10,000 times). --backend (default ort) runs the session
      and its timing; on ort, int8_psnr_drop (horizon-mean PSNR of fp32 minus int8 rollouts) and
      int8_step_ms_median are measured too. --int8 makes the int8 session the main one.

${EVAL_PROMPT_USAGE}`;

function splitFlag(value: string | undefined): "val" | "all" | "train" | undefined {
  if (value === undefined || value === "val" || value === "all" || value === "train") return value;
  throw new UsageError(`eval world: --split must be val, all or train (got "${value}")`);
}

export const evalCommand: Command = {
  name: "eval",
  summary: "measure a trained model on held-out data (tokenizer, lam, world, prompt)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json", "quick", "skip-timing", ...BACKEND_SWITCHES]);
    const what = args.positionals[0];
    if (what === "lam") return runEvalLam(args);
    if (what === "world") return runEvalWorld(args);
    if (what === "prompt") return runEvalPrompt(args);
    if (what !== "tokenizer") throw new UsageError(`worldkit eval: say what to evaluate (tokenizer, lam, world, prompt)\n\n${USAGE}`);
    checkFlags(args, ["model", "data", "frames", "clips", "batch", "json"], "eval tokenizer");
    const json = !!args.flags.json;
    await initDevice();
    const t = await loadTokenizer(requireFlag(args, "model", "eval tokenizer"));
    const ds = openDataset(requireFlag(args, "data", "eval tokenizer"));
    const clips = intFlag(args, "clips", 256);
    const bar = new Progress({ total: clips, label: "eval tokenizer", unit: "clip", quiet: json });
    let last = 0;
    const result = await evalTokenizer(t, ds, {
      frames: intFlag(args, "frames", 4),
      batch: intFlag(args, "batch", 8),
      maxClips: clips,
      onProgress: (done) => {
        bar.tick(done - last);
        last = done;
      },
    });
    bar.done();
    tree.dispose(t.params as unknown as ParamTree);
    t.codebook_KD.dispose();
    if (json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(
        `tokenizer ${result.source} (step ${result.step}) on ${ds.dir}: ${result.frames} frames\n` +
          `  psnr ${result.psnr.toFixed(2)} dB   ssim ${result.ssim.toFixed(4)}   depth_mae ${result.depth_mae === null ? "n/a" : (100 * result.depth_mae).toFixed(2) + "%"}\n` +
          `  codebook_usage ${(100 * result.codebook_usage).toFixed(1)}% of ${result.codes}   tokens_per_frame ${result.tokens_per_frame}\n` +
          `  encode ${result.encode_ms.toFixed(2)} ms/frame   decode ${result.decode_ms.toFixed(2)} ms/frame`,
      );
    }
    return 0;
  },
};

async function runEvalLam(args: ReturnType<typeof parseArgs>): Promise<number> {
  checkFlags(args, ["model", "data", "frames", "clips", "batch", "actions", "strip", "json"], "eval lam");
  const json = !!args.flags.json;
  const model = requireFlag(args, "model", "eval lam");
  await initDevice();
  const lam = await loadLam(model);
  const ds = openDataset(requireFlag(args, "data", "eval lam"));
  const clips = intFlag(args, "clips", 512);
  const bar = new Progress({ total: clips, label: "eval lam", unit: "clip", quiet: json });
  let last = 0;
  const r = await evalLam(lam, ds, { frames: intFlag(args, "frames", 3), batch: intFlag(args, "batch", 16), maxClips: clips, onProgress: (done) => (bar.tick(done - last), (last = done)) });
  bar.done();
  disposeLam(lam);
  const beside = join(lam.source.endsWith(".safetensors") ? dirname(lam.source) : model, ACTIONS_FILE);
  // A world folder's actions.json is what its player binds keys with: an evaluation on some other
  // data must not rebind them behind the user's back.
  const inWorld = !args.flags.actions && existsSync(join(dirname(beside), "dynamics.safetensors")) && existsSync(beside);
  const actionsPath = inWorld ? null : (args.flags.actions ?? beside);
  if (actionsPath) await writeActionsFile(actionsPath, r.actions);
  else if (!json) console.error(`eval lam: ${beside} is the world's key binding and was left as it is; pass --actions FILE to write this calibration`);
  if (args.flags.strip) writeFileSync(args.flags.strip, r.strip);
  const { strip: _strip, ...numbers } = r;
  if (json) console.log(JSON.stringify({ ...numbers, actions_file: actionsPath }));
  else {
    const pct = (v: number | null) => (v === null ? "n/a" : (100 * v).toFixed(1) + "%");
    console.log(`lam ${r.source} (step ${r.step}) on ${ds.dir}: ${r.transitions} transitions`);
    console.log(`  purity ${pct(r.purity)}   nmi ${r.nmi === null ? "n/a" : r.nmi.toFixed(3)}   codes_used ${r.codes_used}/${r.codes}   sensitivity ${r.sensitivity.toFixed(4)}`);
    if (r.confusion && r.action_names) {
      console.log(`  ${"".padEnd(12)}${r.code_share.map((_, c) => `code ${c}`.padStart(8)).join("")}`);
      r.confusion.forEach((row, a) => console.log(`  ${r.action_names![a].padEnd(12)}${row.map((v) => String(v).padStart(8)).join("")}`));
    }
    if (r.effective_confusion && r.action_names) {
      console.log(`  against the effective actions (a key held without effect counts as what it did): purity ${pct(r.effective_purity)}`);
      r.effective_confusion.forEach((row, a) => console.log(`  ${r.action_names![a].padEnd(12)}${row.map((v) => String(v).padStart(8)).join("")}`));
      console.log(`  a labeller that knew exactly what each key did would score purity ${pct(r.purity_if_effective)} against the keys`);
    }
    for (const e of r.actions.actions) console.log(`  code ${e.code}: ${e.label.padEnd(12)} key ${JSON.stringify(e.key).padEnd(20)} share ${pct(e.share)}${e.distinct ? "" : "  (not distinct)"}`);
    console.log(`  actions: ${actionsPath}`);
  }
  return 0;
}

async function runEvalWorld(args: ReturnType<typeof parseArgs>): Promise<number> {
  checkFlags(args, ["world", "data", "lam", "tokenizer", "starts", "split", "seed", "gravity-samples", "gravity-sheet", "quick", "skip-timing", "json", ...BACKEND_FLAGS, ...SAMPLING_FLAGS], "eval world");
  const { backend, int8, threads } = backendFlags(args, "eval world");
  const sampling = samplingFlags(args, "eval world");
  const gravitySamples = args.flags["gravity-samples"] === undefined ? undefined : intFlag(args, "gravity-samples", 4);
  if (gravitySamples !== undefined && gravitySamples < 1) throw new UsageError(`eval world: --gravity-samples must be ≥ 1, got ${gravitySamples}`);
  const json = !!args.flags.json;
  const path = requireFlag(args, "world", "eval world");
  const ds = openDataset(requireFlag(args, "data", "eval world"));
  await initDevice();
  const world = await loadWorld(path, { tokenizer: args.flags.tokenizer });
  const lamPath = args.flags.lam ?? (existsSync(join(path, LAM_FILE)) ? path : null);
  const lam = lamPath ? await loadLam(lamPath) : null;
  try {
    const quick = !!args.flags.quick;
    const timing = args.flags["skip-timing"] ? (false as const) : undefined;
    const r = await evalWorld(world, ds, { lam, quick, timing, backend, int8, threads, ...sampling, starts: args.flags.starts ? intFlag(args, "starts", 8) : undefined, samples: gravitySamples, gravitySheet: args.flags["gravity-sheet"] !== undefined, split: splitFlag(args.flags.split), seed: intFlag(args, "seed", 0), onProgress: (s) => json || process.stderr.write(`eval world: ${s}\r`) });
    const { gravity_png: png, ...numbers } = r;
    const sheet = args.flags["gravity-sheet"];
    if (sheet !== undefined) {
      if (png) writeFileSync(sheet, png);
      else numbers.notes.push(`--gravity-sheet: no scored gravity case, ${sheet} not written`);
    }
    if (json) console.log(JSON.stringify(numbers));
    else {
      const f = (v: number | null, d = 2) => (v === null || Number.isNaN(v) ? "n/a" : v.toFixed(d));
      console.log(`world ${r.world} on ${r.data} (${r.env}, ${r.starts} starts from ${r.episodes} episodes, ${r.actions === "lam" ? "LAM" : "true"} actions)`);
      console.log(`  psnr_t ${r.psnr_t.map((v) => f(v, 1)).join(" ")}`);
      console.log(`  psnr_t4 ${f(r.psnr_t4)} ± ${f(r.psnr_t4_stderr)} dB   delta_psnr_t4 ${f(r.delta_psnr_t4)} ± ${f(r.delta_psnr_t4_stderr)} dB (± one standard error over the starts)   ssim_t4 ${f(r.ssim_t[3], 3)}`);
      console.log(`  drift ${Object.entries(r.drift).map(([k, v]) => `@${k} ${f(v)}`).join("   ")}`);
      const g = r.gravity_detail;
      const gd = g ? ` (${g.cases} cases, ${g.invisible} without a visible fall left out; samples lower ${g.lower} / higher ${g.higher} / same ${g.same}; through the tokenizer a perfect model scores ${f(r.gravity_tokenizer_bound, 3)})` : "";
      console.log(`  gravity ${f(r.gravity, 3)}${gd}   revisit_psnr ${f(r.revisit_psnr)}   wall_penetration ${f(r.wall_penetration, 3)}`);
      const j = r.jump_detail;
      if (j) console.log(`  jump key, then no key: rise ${f(r.jump_rise, 3)} (${j.rose} of ${j.rollouts} rollouts rose a tile; mean peak ${f(j.mean_peak_tiles)} tiles)   fall ${f(r.jump_fall, 3)} (${j.fell} came back down)`);
      const jr = r.jump_right_detail;
      if (jr) console.log(`  jump key, then right: rise ${f(r.jump_rise_right, 3)} (${jr.rose} of ${jr.rollouts})   fall ${f(r.jump_fall_right, 3)} (${jr.fell} came back down)`);
      console.log(`  step_ms median ${f(r.step_ms_median)}   p99 ${f(r.step_ms_p99)}   ratio_10k ${f(r.step_ms_ratio_10k, 3)}   (${r.backend}${r.int8 ? " int8" : ""})`);
      console.log(`  int8 psnr drop ${f(r.int8_psnr_drop)} dB   int8 step_ms median ${f(r.int8_step_ms_median)}`);
      for (const n of r.notes) console.log(`  note: ${n}`);
    }
  } finally {
    if (lam) disposeLam(lam);
    disposeWorld(world);
  }
  return 0;
}
