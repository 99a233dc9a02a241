/**
 * Loading a trained tokenizer from a run folder (its latest checkpoint) or a world folder
 * (`tokenizer.safetensors` beside `config.json`), and writing one into a world folder.
 *
 * In a world folder the file is a checkpoint whose params are `{ params, codebook_KD }` and
 * whose config is the TokenizerConfig; no optimizer state.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { np, tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { loadCheckpoint, resolvePartFile, saveCheckpoint } from "../core/checkpoint.js";
import { TOKENIZER_DEFAULTS } from "../models/tokenizer.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import type { LoadedTokenizer } from "./world-types.js";
export type { LoadedTokenizer } from "./world-types.js";
import { resolveConfig } from "../core/config.js";


export const TOKENIZER_FILE = "tokenizer.safetensors";

/** Load from a run folder, a world folder, or a checkpoint file. The caller owns the arrays. */
export async function loadTokenizer(path: string): Promise<LoadedTokenizer> {
  const { file, kind } = await resolvePartFile(path, TOKENIZER_FILE, "tokenizer");
  return kind === "world" ? loadWorldTokenizer(file) : loadRunCheckpoint(file);
}

async function loadRunCheckpoint(file: string): Promise<LoadedTokenizer> {
  const ck = await loadCheckpoint<{ tokenizer?: TokenizerConfig }>(file);
  if (!ck.config.tokenizer) throw new Error(`tokenizer: ${file} is not a tokenizer checkpoint (its config has no "tokenizer" section)`);
  const opt = ck.optState as { adam: ParamTree; state: { codebook_KD: np.Array } & Record<string, ParamTree> } | null;
  if (!opt?.state?.codebook_KD) throw new Error(`tokenizer: ${file} has no codebook (state.codebook_KD) in its optimizer state`);
  const codebook_KD = opt.state.codebook_KD.ref;
  tree.dispose(opt as unknown as ParamTree);
  const config = resolveConfig(TOKENIZER_DEFAULTS, { values: ck.config.tokenizer, source: file });
  return { config, params: ck.params as unknown as TokenizerParams, codebook_KD, source: file, step: ck.step };
}

async function loadWorldTokenizer(file: string): Promise<LoadedTokenizer> {
  const ck = await loadCheckpoint<TokenizerConfig>(file, { loadOptState: false });
  const p = ck.params as unknown as { params: TokenizerParams; codebook_KD: np.Array };
  if (!p.params || !p.codebook_KD) throw new Error(`tokenizer: ${file} lacks "params" or "codebook_KD"`);
  const config = resolveConfig(TOKENIZER_DEFAULTS, { values: ck.config, source: file });
  return { config, params: p.params, codebook_KD: p.codebook_KD, source: file, step: ck.step };
}

/** Write a tokenizer into a world folder as `tokenizer.safetensors` (arrays not consumed). */
/** Free a loaded tokenizer's arrays. */
export function disposeTokenizer(t: LoadedTokenizer): void {
  tree.dispose(t.params as unknown as ParamTree);
  t.codebook_KD.dispose();
}

export async function saveWorldTokenizer(dir: string, t: LoadedTokenizer): Promise<string> {
  const file = join(dir, TOKENIZER_FILE);
  await saveCheckpoint(file, {
    params: { params: t.params, codebook_KD: t.codebook_KD } as unknown as ParamTree,
    optState: null,
    step: t.step,
    config: t.config,
    extra: { from: t.source },
  });
  return file;
}

/** The config.json of a world folder, if any. */
export function readWorldConfig(dir: string): Record<string, unknown> | null {
  const f = join(dir, "config.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Record<string, unknown>) : null;
}
