/**
 * Loading the prompt model (text → first frame) from a run folder (its latest checkpoint) or a
 * world folder (`prompt.safetensors`), and writing one into a world folder.
 *
 * In a world folder the file is a checkpoint whose params are the PromptParams and whose config
 * is the PromptConfig, vocabulary included (so the one file is the whole model); no optimizer
 * state.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { loadCheckpoint, resolvePartFile, saveCheckpoint } from "../core/checkpoint.js";
import type { PromptConfig, PromptParams } from "../models/prompt.js";
import { PROMPT_FILE, readPromptConfig } from "./prompt-config.js";
import type { LoadedPrompt } from "./world-types.js";
export type { LoadedPrompt } from "./world-types.js";

export { PROMPT_FILE } from "./prompt-config.js";

/** Load from a run folder, a world folder or a checkpoint file. The caller owns the arrays. */
export async function loadPrompt(path: string): Promise<LoadedPrompt> {
  const { file, kind } = await resolvePartFile(path, PROMPT_FILE, "prompt");
  const ck = await loadCheckpoint<PromptConfig | { prompt?: PromptConfig }>(file, { loadOptState: false });
  // A world folder's file stores the PromptConfig itself; a run's checkpoint, the run config with a "prompt" section.
  const raw = kind === "world" ? ck.config : (ck.config as { prompt?: PromptConfig } | null)?.prompt;
  const config = readPromptConfig(raw, file);
  return { config, params: ck.params as unknown as PromptParams, source: file, step: ck.step };
}

/** The prompt model of a world folder, or null when it has none. */
export async function loadWorldPrompt(dir: string): Promise<LoadedPrompt | null> {
  return existsSync(join(dir, PROMPT_FILE)) ? loadPrompt(join(dir, PROMPT_FILE)) : null;
}

/** Write a prompt model into a world folder as `prompt.safetensors` (arrays not consumed). */
export async function saveWorldPrompt(dir: string, p: LoadedPrompt): Promise<string> {
  const file = join(dir, PROMPT_FILE);
  await saveCheckpoint(file, { params: p.params as unknown as ParamTree, optState: null, step: p.step, config: p.config, extra: { from: p.source } });
  return file;
}

export function disposePrompt(p: LoadedPrompt): void {
  tree.dispose(p.params as unknown as ParamTree);
}
