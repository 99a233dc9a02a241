/**
 * `worldkit data <generate|import|preview|info>`: make, import and look at datasets. Thin: the
 * work is in src/data; this file reads flags, shows progress and prints results.
 */
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError, type ParsedArgs } from "./args.js";
import type { Command } from "./command.js";
import { Progress } from "../core/progress.js";
import type { Manifest } from "../data/format.js";

const USAGE = `worldkit data <subcommand> [options]

  generate --env platformer|maze3d|bounce --out DIR [--episodes 16] [--frames 100] [--size 64]
           [--seed 0] [--policy NAME] [--force] [--json]
      run a world with its behaviour policy into a dataset (RGB, depth, true actions, states);
      --policy picks a named one (platformer: taps, the default, or holds, which made the data
      of models/default)
  import VIDEO_OR_FRAME_FOLDER... --out DIR [--size 64] [--fps 10] [--fit crop|letterbox]
           [--max-episode-frames 1000] [--seed 0] [--force] [--json]
      decode videos (or folders of PNG/JPG frames) with ffmpeg into a dataset without actions
  preview DIR [--out preview.png] [--episodes 4] [--frames 6] [--scale S] [--gif]
      a grid PNG of frames with their depth beside them; --gif also writes an animated GIF
      of the first episode next to it (preview.gif)
  info DIR [--json]
      env, sizes, counts per split, bytes on disk, action histogram

--size is 64 (square) or HxW (e.g. 48x64). Datasets are written to OUT.tmp-<pid> and renamed
to OUT when complete; an existing OUT is kept unless --force. Format: docs/dataset-format.md.`;

/** "64" → [64, 64]; "48x64" → [48, 64] (H×W). */
function parseSize(text: string): [number, number] {
  const parts = text.split("x").map(Number);
  const [H, W] = parts.length === 1 ? [parts[0], parts[0]] : parts;
  if (parts.length > 2 || !Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) {
    throw new UsageError(`--size must be N or HxW with positive integers, got "${text}"`);
  }
  return [H, W];
}

function summarize(m: Manifest, out: string, seconds: number): Record<string, unknown> {
  const bytes = [...new Set(m.episodes.map((e) => e.shard))].reduce((a, s) => a + statSync(join(out, s)).size, 0);
  return {
    out, env: m.env, size: m.size, depth: m.depth,
    episodes: m.counts.episodes, frames: m.counts.frames, shards: m.counts.shards,
    train: m.counts.train, val: m.counts.val, bytes,
    seconds: Number(seconds.toFixed(3)), frames_per_second: Math.round(m.counts.frames / Math.max(seconds, 1e-9)),
  };
}

function printSummary(s: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(s));
    return;
  }
  const t = s.train as { episodes: number };
  const v = s.val as { episodes: number };
  console.log(`wrote ${s.out}: ${s.episodes} episodes (${t.episodes} train, ${v.episodes} val), ${s.frames} frames, ` +
    `${s.shards} shards, ${((s.bytes as number) / 2 ** 20).toFixed(1)} MiB in ${s.seconds} s (${s.frames_per_second} frames/s)`);
}

async function generate(args: ParsedArgs): Promise<number> {
  checkFlags(args, ["env", "episodes", "frames", "size", "seed", "policy", "out", "force", "json"], "data generate");
  const env = requireFlag(args, "env", "data generate");
  const out = requireFlag(args, "out", "data generate");
  const episodes = intFlag(args, "episodes", 16);
  const frames = intFlag(args, "frames", 100);
  const { getWorld } = await import("../worlds/index.js");
  const { generateDataset } = await import("../data/generate.js");
  const world = getWorld(env);
  const json = args.flags.json === "true";
  const progress = new Progress({ total: episodes * frames, label: `generate ${env}`, unit: "frames", quiet: json });
  const t0 = performance.now();
  const manifest = await generateDataset({
    world, episodes, frames, size: parseSize(args.flags.size ?? "64"), seed: intFlag(args, "seed", 0),
    out, force: args.flags.force === "true", onFrames: (n) => progress.tick(n),
    policy: args.flags.policy, createdBy: args.flags.policy ? `worldkit data generate --policy ${args.flags.policy}` : undefined,
  });
  progress.done();
  printSummary(summarize(manifest, out, (performance.now() - t0) / 1000), json);
  return 0;
}

async function importCommand(args: ParsedArgs): Promise<number> {
  checkFlags(args, ["size", "fps", "fit", "out", "force", "seed", "max-episode-frames", "json"], "data import");
  const out = requireFlag(args, "out", "data import");
  if (args.positionals.length === 0) throw new UsageError("worldkit data import: give at least one video file or frame folder");
  const fit = args.flags.fit ?? "crop";
  if (fit !== "crop" && fit !== "letterbox") throw new UsageError(`--fit must be crop or letterbox, got "${fit}"`);
  const fps = Number(args.flags.fps ?? "10");
  if (!(fps > 0)) throw new UsageError(`--fps must be a positive number, got "${args.flags.fps}"`);
  const { importVideos } = await import("../data/import-video.js");
  const json = args.flags.json === "true";
  let frames = 0;
  const t0 = performance.now();
  const manifest = await importVideos({
    inputs: args.positionals, size: parseSize(args.flags.size ?? "64"), fps, fit, out,
    force: args.flags.force === "true", seed: intFlag(args, "seed", 0),
    maxEpisodeFrames: intFlag(args, "max-episode-frames", 1000),
    onFrames: (n) => {
      frames += n;
      if (!json) process.stderr.write(`\rimport: ${frames} frames`);
    },
  });
  if (!json) process.stderr.write("\n");
  printSummary(summarize(manifest, out, (performance.now() - t0) / 1000), json);
  return 0;
}

async function preview(args: ParsedArgs): Promise<number> {
  checkFlags(args, ["out", "episodes", "frames", "scale", "gif"], "data preview");
  const dir = args.positionals[0];
  if (!dir) throw new UsageError("worldkit data preview: give the dataset folder");
  const { openDataset } = await import("../data/loader.js");
  const { previewPng, previewGif } = await import("../data/preview.js");
  const ds = openDataset(dir);
  const out = args.flags.out ?? "preview.png";
  const scale = args.flags.scale === undefined ? undefined : intFlag(args, "scale", 1);
  writeFileSync(out, previewPng(ds, { episodes: intFlag(args, "episodes", 4), frames: intFlag(args, "frames", 6), scale }));
  console.log(`wrote ${out}`);
  if (args.flags.gif === "true") {
    const gifOut = out.replace(/\.png$/i, "") + ".gif";
    writeFileSync(gifOut, previewGif(ds, { scale }));
    console.log(`wrote ${gifOut}`);
  }
  return 0;
}

async function info(args: ParsedArgs): Promise<number> {
  checkFlags(args, ["json"], "data info");
  const dir = args.positionals[0];
  if (!dir) throw new UsageError("worldkit data info: give the dataset folder");
  const { openDataset } = await import("../data/loader.js");
  const ds = openDataset(dir);
  const m = ds.manifest;
  const shards = [...new Set(m.episodes.map((e) => e.shard))];
  const bytes = shards.reduce((a, s) => a + statSync(join(dir, s)).size, 0);
  const histogram: Record<string, number> = {};
  for (const e of m.episodes) {
    const actions = ds.shard(e.shard).readSections(e.id, ["actions"]).actions!;
    for (const a of actions) {
      const name = a === 255 ? "unknown" : (m.actions?.[a] ?? String(a));
      histogram[name] = (histogram[name] ?? 0) + 1;
    }
  }
  const lengths = m.episodes.map((e) => e.frames);
  const report = {
    dir, env: m.env, version: m.version, size: m.size, depth: m.depth, actions: m.actions,
    episodes: m.counts.episodes, frames: m.counts.frames, shards: shards.length, bytes,
    episode_frames: { min: Math.min(...lengths), max: Math.max(...lengths) },
    train: m.counts.train, val: m.counts.val, action_histogram: histogram, seed: m.seed, created_by: m.created_by,
  };
  if (args.flags.json === "true") {
    console.log(JSON.stringify(report));
    return 0;
  }
  const pct = (n: number): string => `${((100 * n) / m.counts.frames).toFixed(1)}%`;
  console.log([
    `${dir}: ${m.env} dataset (format v${m.version}, seed ${m.seed}, by ${m.created_by})`,
    `  frames   ${m.size[0]}×${m.size[1]} RGB, depth ${m.depth}`,
    `  episodes ${m.counts.episodes} (${report.episode_frames.min}–${report.episode_frames.max} frames each), ${m.counts.frames} frames`,
    `  train    ${m.counts.train.episodes} episodes, ${m.counts.train.frames} frames`,
    `  val      ${m.counts.val.episodes} episodes, ${m.counts.val.frames} frames`,
    `  disk     ${shards.length} shards, ${(bytes / 2 ** 20).toFixed(1)} MiB`,
    `  actions  ${Object.entries(histogram).map(([k, v]) => `${k} ${v} (${pct(v)})`).join(", ")}`,
  ].join("\n"));
  return 0;
}

const SUBCOMMANDS: Record<string, (args: ParsedArgs) => Promise<number>> = { generate, import: importCommand, preview, info };

export const data: Command = {
  name: "data",
  summary: "generate, import, preview and inspect datasets",
  usage: USAGE,
  async run(argv) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UsageError(`worldkit data: ${sub ? `unknown subcommand "${sub}"` : "missing subcommand"} (${Object.keys(SUBCOMMANDS).join(", ")})\n\n${USAGE}`);
    return run(parseArgs(rest, ["force", "json", "gif"]));
  },
};
