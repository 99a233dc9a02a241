/**
 * The prompt model's stored config, checked and resolved. No Node imports: prompt-io.ts (files
 * on disk) and the browser player (src/player/world-files.ts, through fetch) both read
 * prompt.safetensors with it, so the two readers accept and refuse the same files.
 */
import { resolveConfig } from "../core/config.js";
import { PROMPT_DEFAULTS, SPECIAL_WORDS } from "../models/prompt.js";
import type { PromptConfig } from "../models/prompt.js";

/** The prompt model's name in a world folder. */
export const PROMPT_FILE = "prompt.safetensors";

/** The resolved PromptConfig of `raw` (a checkpoint's stored config); `file` names the file in errors. */
export function readPromptConfig(raw: unknown, file: string): PromptConfig {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(`prompt: ${file} is not a prompt-model checkpoint (its config has no "prompt" section)`);
  }
  const config = resolveConfig(PROMPT_DEFAULTS, { values: raw, source: file });
  if (!Array.isArray(config.vocab) || config.vocab.length <= SPECIAL_WORDS.length) throw new Error(`prompt: ${file} has no vocabulary (config "vocab")`);
  return config;
}
