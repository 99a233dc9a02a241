/**
 * The in-memory shape of a loaded world and its parts. Node-free, so the browser player and the
 * session can name these types without pulling in file-system code (the loaders live in
 * tokenizer-io.ts, lam-io.ts and dynamics-io.ts).
 */
import type { np } from "../core/jax.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import type { PromptConfig, PromptParams } from "../models/prompt.js";

export interface LoadedTokenizer {
  config: TokenizerConfig;
  params: TokenizerParams;
  codebook_KD: np.Array;
  /** Where it came from (file path), for messages and reports. */
  source: string;
  /** Training step of the checkpoint. */
  step: number;
}

export interface LoadedDynamics {
  config: DynamicsConfig;
  params: DynamicsParams;
  /** File it came from. */
  source: string;
  step: number;
  /** The tokenizer path recorded by the training run (run folders only). */
  tokenizerPath: string | null;
}

/** The text → first-frame model (prompt.safetensors); its config carries the vocabulary. */
export interface LoadedPrompt {
  config: PromptConfig;
  params: PromptParams;
  source: string;
  step: number;
}

export interface LoadedWorld {
  tokenizer: LoadedTokenizer;
  dynamics: LoadedDynamics;
  /** Key name → code (null: no actions.json; use codes 0..A−1). */
  actionMap: Record<string, number> | null;
  /** The world or run folder it came from. */
  source: string;
  /** The prompt model, when the world folder has prompt.safetensors (start({ prompt }) needs it). */
  prompt?: LoadedPrompt | null;
}
