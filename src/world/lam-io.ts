/**
 * Loading a trained latent action model from a run folder (its latest checkpoint) or a world
 * folder (`lam.safetensors`, with `actions.json` beside it), and writing one into a world folder.
 *
 * In a world folder the file is a checkpoint whose params are `{ params, codebook_KD }` and whose
 * config is the LamConfig; no optimizer state (the tokenizer's layout, see tokenizer-io.ts).
 */
import { join } from "node:path";
import { np, tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { resolveConfig } from "../core/config.js";
import { loadCheckpoint, resolvePartFile, saveCheckpoint } from "../core/checkpoint.js";
import { LAM_DEFAULTS } from "../models/lam.js";
import type { LamConfig, LamParams } from "../models/lam.js";

export interface LoadedLam {
  config: LamConfig;
  params: LamParams;
  /** The A action codes, (A, d). */
  codebook_KD: np.Array;
  /** Where it came from (file path), for messages and reports. */
  source: string;
  /** Training step of the checkpoint. */
  step: number;
}

export const LAM_FILE = "lam.safetensors";

/** Load from a run folder, a world folder or a checkpoint file. The caller owns the arrays. */
export async function loadLam(path: string): Promise<LoadedLam> {
  const { file, kind } = await resolvePartFile(path, LAM_FILE, "lam");
  return kind === "world" ? loadWorldLam(file) : loadRunCheckpoint(file);
}

async function loadRunCheckpoint(file: string): Promise<LoadedLam> {
  const ck = await loadCheckpoint<{ lam?: LamConfig }>(file);
  if (!ck.config.lam) throw new Error(`lam: ${file} is not a latent-action checkpoint (its config has no "lam" section)`);
  const opt = ck.optState as { adam: ParamTree; state: { codebook_KD: np.Array } & Record<string, ParamTree> } | null;
  if (!opt?.state?.codebook_KD) throw new Error(`lam: ${file} has no action codebook (state.codebook_KD) in its optimizer state`);
  const codebook_KD = opt.state.codebook_KD.ref;
  tree.dispose(opt as unknown as ParamTree);
  const config = resolveConfig(LAM_DEFAULTS, { values: ck.config.lam, source: file });
  return { config, params: ck.params as unknown as LamParams, codebook_KD, source: file, step: ck.step };
}

async function loadWorldLam(file: string): Promise<LoadedLam> {
  const ck = await loadCheckpoint<LamConfig>(file, { loadOptState: false });
  const p = ck.params as unknown as { params: LamParams; codebook_KD: np.Array };
  if (!p.params || !p.codebook_KD) throw new Error(`lam: ${file} lacks "params" or "codebook_KD"`);
  const config = resolveConfig(LAM_DEFAULTS, { values: ck.config, source: file });
  return { config, params: p.params, codebook_KD: p.codebook_KD, source: file, step: ck.step };
}

/** Write a LAM into a world folder as `lam.safetensors` (arrays not consumed). */
export async function saveWorldLam(dir: string, lam: LoadedLam): Promise<string> {
  const file = join(dir, LAM_FILE);
  await saveCheckpoint(file, {
    params: { params: lam.params, codebook_KD: lam.codebook_KD } as unknown as ParamTree,
    optState: null,
    step: lam.step,
    config: lam.config,
    extra: { from: lam.source },
  });
  return file;
}

/** Free a loaded LAM's arrays. */
export function disposeLam(lam: LoadedLam): void {
  tree.dispose(lam.params as unknown as ParamTree);
  lam.codebook_KD.dispose();
}
