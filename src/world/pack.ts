/**
 * Assemble a world folder (such as `models/default`) from trained runs: one self-describing
 * folder that `loadWorld`, the CLI and the browser player open with one call.
 *
 *   config.json           format, version, env, frame size, each part's config, provenance
 *   tokenizer.safetensors dynamics.safetensors [lam.safetensors] [prompt.safetensors]
 *   actions.json          key → latent action calibration (docs/actions-json.md)
 *   start.safetensors     a few held-out frames to start playing from
 *   README.md             what it was trained on and its measured metrics (written by the caller)
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { depthScale } from "../data/format.js";
import { writeClip } from "../data/loader.js";
import type { Dataset } from "../data/loader.js";
import { ACTIONS_FILE } from "./calibration.js";
import { disposeWorld, loadWorld, saveWorldDynamics } from "./dynamics-io.js";
import { disposeLam, loadLam, saveWorldLam } from "./lam-io.js";
import { encodeStartFrames, fingerprint, START_FILE } from "./start-frames.js";
import { saveWorldTokenizer } from "./tokenizer-io.js";
import type { LoadedTokenizer } from "./tokenizer-io.js";
import { np } from "../core/jax.js";
import { keep } from "../core/refs.js";
import { tokenize } from "../models/tokenizer.js";
import { disposePrompt, loadPrompt, saveWorldPrompt } from "./prompt-io.js";
import type { MaskgitScheduleKind } from "../models/maskgit.js";

export const WORLD_FORMAT = "worldkit-world";
export const WORLD_VERSION = 1;

export interface PackOptions {
  /** Dynamics run or world folder (its config names the tokenizer unless `tokenizer` is given). */
  dynamics: string;
  tokenizer?: string;
  /** LAM run or world folder; its actions.json is copied when present. */
  lam?: string;
  /** actions.json to use instead of the LAM's. */
  actions?: string;
  /** Dataset to take the start frames from (held-out data), and how many frames. */
  startData?: Dataset;
  startFrames?: number;
  /** Prompt-model run or world folder (text → first frame), written as prompt.safetensors. */
  prompt?: string;
  /** Output folder (created). */
  out: string;
  /** The world's play-time sampling defaults, stored in its dynamics config (default: the run's). */
  sampling?: { temperature?: number; sampleSteps?: number; sampleSchedule?: MaskgitScheduleKind; choiceTemperature?: number };
  /** Free-form provenance to record in config.json (datasets, seeds, commands). */
  trainedOn?: Record<string, unknown>;
}

/**
 * start.safetensors: the first `T` frames of an episode of `ds` (one with that many frames) and
 * their tokens under the tokenizer just written to `tokFile`, with its fingerprint.
 */
async function startFile(ds: Dataset, T: number, tok: LoadedTokenizer, tokFile: string): Promise<Uint8Array> {
  const tc = tok.config;
  const entry = ds.manifest.episodes.find((e) => e.frames >= T);
  if (!entry) throw new Error(`pack: no episode in ${ds.dir} has ${T} frames for the start`);
  const frames = new Float32Array(T * tc.height * tc.width * tc.channels);
  const inv = tc.channels === 4 ? 1 / depthScale(ds.manifest.depth) : 0;
  writeClip(ds.readEpisode(entry.id), 0, T, tc.channels, inv, frames, 0);
  const x = np.array(frames, { shape: [1, T, tc.height, tc.width, tc.channels] });
  const tokens = (await tokenize(keep(tok.params), tok.codebook_KD.ref, x, tc).data()) as Int32Array;
  return encodeStartFrames(frames, { count: T, height: tc.height, width: tc.width, channels: tc.channels }, undefined, { tokens, tokenizer: fingerprint(await readFile(tokFile)) });
}

/** Write the world folder; returns the config written. */
export async function packWorld(opts: PackOptions): Promise<Record<string, unknown>> {
  await mkdir(opts.out, { recursive: true });
  const world = await loadWorld(opts.dynamics, { tokenizer: opts.tokenizer });
  const sampling = Object.fromEntries(Object.entries(opts.sampling ?? {}).filter(([, v]) => v !== undefined));
  world.dynamics.config = { ...world.dynamics.config, ...sampling };
  const config: Record<string, unknown> = {
    format: WORLD_FORMAT,
    version: WORLD_VERSION,
    size: [world.tokenizer.config.height, world.tokenizer.config.width],
    channels: world.tokenizer.config.channels,
    tokenizer: world.tokenizer.config,
    dynamics: world.dynamics.config,
    lam: null as unknown,
    sources: { tokenizer: world.tokenizer.source, dynamics: world.dynamics.source, lam: null as string | null },
    trainedOn: opts.trainedOn ?? {},
  };
  try {
    const tokFile = await saveWorldTokenizer(opts.out, world.tokenizer);
    await saveWorldDynamics(opts.out, world.dynamics);
    if (opts.startData) await writeFile(join(opts.out, START_FILE), await startFile(opts.startData, opts.startFrames ?? 4, world.tokenizer, tokFile));
  } finally {
    disposeWorld(world);
  }
  if (opts.lam) {
    const lam = await loadLam(opts.lam);
    try {
      await saveWorldLam(opts.out, lam);
      config.lam = lam.config;
      (config.sources as Record<string, unknown>).lam = lam.source;
    } finally {
      disposeLam(lam);
    }
  }
  if (opts.prompt) {
    const prompt = await loadPrompt(opts.prompt);
    try {
      const tc = config.tokenizer as { height: number; width: number; patch: number; codes: number };
      if (prompt.config.tokensPerFrame !== (tc.height / tc.patch) * (tc.width / tc.patch) || prompt.config.codes !== tc.codes) {
        throw new Error(`pack: prompt model ${prompt.source} was trained on another tokenizer (${prompt.config.tokensPerFrame} tokens of ${prompt.config.codes} codes)`);
      }
      await saveWorldPrompt(opts.out, prompt);
      (config.sources as Record<string, unknown>).prompt = prompt.source;
    } finally {
      disposePrompt(prompt);
    }
  }
  const lamDir = opts.lam && existsSync(opts.lam) && statSync(opts.lam).isDirectory() ? opts.lam : null;
  const actions = opts.actions ?? (lamDir && existsSync(join(lamDir, ACTIONS_FILE)) ? join(lamDir, ACTIONS_FILE) : null);
  if (actions) await copyFile(actions, join(opts.out, ACTIONS_FILE));
  await writeFile(join(opts.out, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return config;
}
