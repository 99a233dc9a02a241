/**
 * Loading a trained dynamics model and a whole world.
 *
 * A dynamics model comes from a run folder (its latest checkpoint; the run's config names the
 * tokenizer it was trained on in `data.tokenizer`), a world folder (`dynamics.safetensors`
 * beside `tokenizer.safetensors`, `actions.json`, `config.json`), or a checkpoint file. In a
 * world folder the file is a checkpoint whose params are `{ params }` and whose config is the
 * DynamicsConfig.
 *
 * actions.json (optional; written by `eval lam`, src/world/calibration.ts) names the codes;
 * without it, actions are the codes 0..A−1.
 */
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { tree } from "../core/jax.js";
import { resolveConfig } from "../core/config.js";
import type { ParamTree } from "../core/tree-names.js";
import { loadCheckpoint, resolvePartFile, saveCheckpoint } from "../core/checkpoint.js";
import { DYNAMICS_DEFAULTS } from "../models/dynamics.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import { readActionsFile } from "./calibration.js";
import { disposeTokenizer, loadTokenizer } from "./tokenizer-io.js";
import { disposePrompt, loadWorldPrompt } from "./prompt-io.js";
import type { LoadedDynamics, LoadedWorld } from "./world-types.js";
export type { LoadedDynamics, LoadedWorld } from "./world-types.js";

export const DYNAMICS_FILE = "dynamics.safetensors";


/** Load from a run folder, a world folder or a checkpoint file. The caller owns the arrays. */
export async function loadDynamics(path: string): Promise<LoadedDynamics> {
  const { file, kind } = await resolvePartFile(path, DYNAMICS_FILE, "dynamics");
  return kind === "world" ? loadWorldFile(file) : loadRunCheckpoint(file);
}

async function loadRunCheckpoint(file: string): Promise<LoadedDynamics> {
  const ck = await loadCheckpoint<{ dynamics?: DynamicsConfig; data?: { tokenizer?: string } }>(file, { loadOptState: false });
  if (!ck.config.dynamics) throw new Error(`dynamics: ${file} is not a dynamics checkpoint (its config has no "dynamics" section)`);
  const config = resolveConfig(DYNAMICS_DEFAULTS, { values: ck.config.dynamics, source: file });
  tree.dispose(ck.optState as ParamTree);
  return { config, params: ck.params as unknown as DynamicsParams, source: file, step: ck.step, tokenizerPath: ck.config.data?.tokenizer ?? null };
}

async function loadWorldFile(file: string): Promise<LoadedDynamics> {
  const ck = await loadCheckpoint<DynamicsConfig>(file, { loadOptState: false });
  const p = ck.params as unknown as { params: DynamicsParams };
  if (!p.params) throw new Error(`dynamics: ${file} lacks "params"`);
  const config = resolveConfig(DYNAMICS_DEFAULTS, { values: ck.config, source: file });
  return { config, params: p.params, source: file, step: ck.step, tokenizerPath: dirname(file) };
}

/** Write a dynamics model into a world folder as `dynamics.safetensors` (arrays not consumed). */
export async function saveWorldDynamics(dir: string, d: LoadedDynamics): Promise<string> {
  const file = join(dir, DYNAMICS_FILE);
  await saveCheckpoint(file, { params: { params: d.params } as unknown as ParamTree, optState: null, step: d.step, config: d.config, extra: { from: d.source } });
  return file;
}

/**
 * Action name → latent code from `actions.json` in `dir` (format: docs/actions-json.md), or null
 * when there is none. Names are each bound code's `label` (e.g. "right", "jump") and its `key`
 * ("ArrowRight"); the code with key "" (played when no key is held) is also "noop". Codes without
 * a key are left out: another, more used code already stands for that label.
 */
export function readActionMap(dir: string): Record<string, number> | null {
  const f = readActionsFile(dir);
  if (!f) return null;
  const out: Record<string, number> = {};
  for (const a of f.actions) {
    if (a.key === null) continue;
    out[a.label] ??= a.code;
    out[a.key === "" ? "noop" : a.key] ??= a.code;
  }
  return out;
}

/** Everything a WorldSession needs. */

/**
 * Load a world: a world folder (models/default), or a dynamics run folder whose config names
 * its tokenizer (`--tokenizer` overrides that). actions.json is read from the folder if present.
 */
export async function loadWorld(path: string, opts: { tokenizer?: string } = {}): Promise<LoadedWorld> {
  const dynamics = await loadDynamics(path);
  const tokPath = opts.tokenizer ?? dynamics.tokenizerPath;
  if (!tokPath) throw new Error(`world: ${path} does not say which tokenizer it was trained with; pass its path`);
  const tokenizer = await loadTokenizer(tokPath);
  const N = (tokenizer.config.height / tokenizer.config.patch) * (tokenizer.config.width / tokenizer.config.patch);
  if (N !== dynamics.config.tokensPerFrame || tokenizer.config.codes !== dynamics.config.codes) {
    throw new Error(
      `world: tokenizer ${tokenizer.source} (${N} tokens/frame, ${tokenizer.config.codes} codes) does not match dynamics ${dynamics.source} ` +
        `(${dynamics.config.tokensPerFrame} tokens/frame, ${dynamics.config.codes} codes)`,
    );
  }
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  return { tokenizer, dynamics, actionMap: readActionMap(dir), source: path, prompt: await loadWorldPrompt(dir) };
}

/** Free a loaded world's arrays. */
export function disposeWorld(w: LoadedWorld): void {
  disposeTokenizer(w.tokenizer);
  tree.dispose(w.dynamics.params as unknown as ParamTree);
  if (w.prompt) disposePrompt(w.prompt);
}
