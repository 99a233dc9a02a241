/**
 * A world folder read file by file through any reader: `fetch` in the page, `readFile` in Node.
 * No Node imports: the browser player loads its world with this module.
 *
 * Files (the server's allow-list, src/player/server.ts, serves exactly these names):
 *   tokenizer.safetensors, dynamics.safetensors  worldkit checkpoints (src/train/checkpoint.ts layout)
 *   actions.json                                 optional: code → label and key (docs/actions-json.md)
 *   start.safetensors                            optional: frames to start from (src/world/start-frames.ts)
 *   prompt.safetensors                           optional: the text → first-frame model (src/world/prompt-io.ts)
 *   config.json, README.md                       optional: for people
 *
 * The checkpoint layout is decoded here rather than through src/train/checkpoint.ts because that
 * module reads and writes files with node:fs; the checks that matter to a player (format, the
 * stored tree, a config) are repeated, and every error names the file.
 */
import { decodeSafetensors } from "../core/safetensors.js";
import { resolveConfig } from "../core/config.js";
import { tensorsToTreeLike } from "../core/tree-names.js";
import type { ParamTree, Skeleton } from "../core/tree-names.js";
import type { np } from "../core/jax.js";
import { DYNAMICS_DEFAULTS, codeCount } from "../models/dynamics.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import { TOKENIZER_DEFAULTS } from "../models/tokenizer.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import type { PromptParams } from "../models/prompt.js";
import type { LoadedPrompt, LoadedTokenizer, LoadedWorld } from "../world/world-types.js";
import { PROMPT_FILE, readPromptConfig } from "../world/prompt-config.js";
import { decodeStartFrames, fingerprint, START_FILE } from "../world/start-frames.js";
import type { StartFrames } from "../world/start-frames.js";

/** Reads one file of the world folder by name; null when it does not exist. */
export type WorldReader = (name: string) => Promise<Uint8Array | null>;

/** A reader over HTTP: the world folder at `base` (a URL ending in "/"); 404 is "no such file". */
export function fetchReader(base: string): WorldReader {
  return async (name) => {
    const res = await fetch(base + name);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`${base}${name}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/** Whether `name` is a file the player may read from a world folder (one path segment, allow-listed). */
export function isWorldFile(name: string): boolean {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes("..")) return false;
  return name === "config.json" || name === "actions.json" || name === "README.md" || name.endsWith(".safetensors");
}

/** One entry of actions.json as the player shows it. */
export interface PlayerAction {
  code: number;
  label: string;
  /** KeyboardEvent.code names joined by "+", "" = played when no key is held. */
  key: string;
}

export interface WorldBundle {
  world: LoadedWorld;
  /** Bound actions (key !== null), in code order; from actions.json, or codes 0..A−1 on Digit keys. */
  actions: PlayerAction[];
  /** The code played when no key is held ("noop" in actions.json, else A = none). */
  idleCode: number;
  /** start.safetensors, when the folder has one. */
  start: StartFrames | null;
}

interface ActionsJson {
  format?: string;
  version?: number;
  actions?: { code: number; label: string; key: string | null }[];
}

async function need(read: WorldReader, name: string, source: string): Promise<Uint8Array> {
  const bytes = await read(name);
  if (!bytes) throw new Error(`world ${source}: ${name} is missing; a world folder needs tokenizer.safetensors and dynamics.safetensors`);
  return bytes;
}

/** A worldkit checkpoint's params tree and config (no optimizer state). */
function decodeCheckpoint<C>(bytes: Uint8Array, file: string): { params: ParamTree; config: C; step: number } {
  const { tensors, metadata } = decodeSafetensors(bytes, file);
  if (metadata.format !== "worldkit-checkpoint") throw new Error(`${file}: not a worldkit checkpoint (metadata format is ${JSON.stringify(metadata.format)})`);
  const skeleton = metadata["params.tree"];
  if (skeleton === undefined) throw new Error(`${file}: metadata "params.tree" is missing; the file is damaged or not ours`);
  const parse = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key] ?? "null");
    } catch (e) {
      throw new Error(`${file}: metadata "${key}" is not valid JSON (${(e as Error).message})`);
    }
  };
  const params = tensorsToTreeLike(parse("params.tree") as Skeleton, tensors, "params");
  return { params, config: parse("config") as C, step: Number(metadata.step) };
}

/** prompt.safetensors as prompt-io.ts reads it from a world folder, plus a check that it fits the tokenizer. */
function decodePrompt(bytes: Uint8Array, file: string, tc: TokenizerConfig): LoadedPrompt {
  const ck = decodeCheckpoint<unknown>(bytes, file);
  const config = readPromptConfig(ck.config, file);
  const N = (tc.height / tc.patch) * (tc.width / tc.patch);
  // Checked here, not only when the first prompt is sampled, so the page never offers a prompt box that cannot work.
  if (config.tokensPerFrame !== N || config.codes !== tc.codes) {
    throw new Error(`${file}: makes ${config.tokensPerFrame} tokens of ${config.codes} codes; the world's tokenizer has ${N} of ${tc.codes}`);
  }
  return { config, params: ck.params as unknown as PromptParams, source: file, step: ck.step };
}

/** tokenizer.safetensors of a world folder (its bytes already read). The caller owns the arrays. */
export function decodeWorldTokenizer(bytes: Uint8Array, source: string): LoadedTokenizer {
  const file = `${source}/tokenizer.safetensors`;
  const tok = decodeCheckpoint<TokenizerConfig>(bytes, file);
  const tp = tok.params as unknown as { params: TokenizerParams; codebook_KD: np.Array };
  if (!tp.params || !tp.codebook_KD) throw new Error(`${file}: lacks "params" or "codebook_KD"`);
  const config = resolveConfig(TOKENIZER_DEFAULTS, { values: tok.config, source: file });
  return { config, params: tp.params, codebook_KD: tp.codebook_KD, source: file, step: tok.step };
}

/** The world's tokenizer alone, through `read` (the player's decoder worker needs no more). The caller owns the arrays. */
export async function loadWorldTokenizer(read: WorldReader, source: string): Promise<LoadedTokenizer> {
  return decodeWorldTokenizer(await need(read, "tokenizer.safetensors", source), source);
}

/** Load a world through `read`. `source` (a path or URL) names the world in errors. The caller owns the arrays. */
export async function loadWorldFiles(read: WorldReader, source: string): Promise<WorldBundle> {
  const tokBytes = await need(read, "tokenizer.safetensors", source);
  const tokenizer = decodeWorldTokenizer(tokBytes, source);
  const tokenizerConfig = tokenizer.config;
  const dynFile = `${source}/dynamics.safetensors`;
  const dyn = decodeCheckpoint<DynamicsConfig>(await need(read, "dynamics.safetensors", source), dynFile);
  const dp = dyn.params as unknown as { params: DynamicsParams };
  if (!dp.params) throw new Error(`${dynFile}: lacks "params"`);
  const dynamicsConfig = resolveConfig(DYNAMICS_DEFAULTS, { values: dyn.config, source: dynFile });

  const actionsBytes = await read("actions.json");
  const A = codeCount(dynamicsConfig);
  let actions: PlayerAction[];
  let actionMap: Record<string, number> | null = null;
  let idleCode = A;
  if (actionsBytes) {
    const f = JSON.parse(new TextDecoder().decode(actionsBytes)) as ActionsJson;
    if (f.format !== "worldkit-actions" || !Array.isArray(f.actions)) throw new Error(`${source}/actions.json: not a worldkit-actions file (docs/actions-json.md)`);
    actions = f.actions.filter((a) => a.key !== null && a.code >= 0 && a.code < A).map((a) => ({ code: a.code, label: a.label, key: a.key as string }));
    // Same names as readActionMap (src/world/dynamics-io.ts): label, key, and "noop" for the idle code.
    actionMap = {};
    for (const a of actions) {
      actionMap[a.label] ??= a.code;
      actionMap[a.key === "" ? "noop" : a.key] ??= a.code;
    }
    idleCode = actionMap.noop ?? A;
  } else {
    actions = Array.from({ length: A }, (_, code) => ({ code, label: `code ${code}`, key: code < 9 ? `Digit${code + 1}` : "" }));
  }
  const startBytes = await read(START_FILE);
  const promptBytes = await read(PROMPT_FILE);
  const world: LoadedWorld = {
    tokenizer,
    dynamics: { config: dynamicsConfig, params: dp.params, source: dynFile, step: dyn.step, tokenizerPath: source },
    actionMap,
    source,
    prompt: promptBytes ? decodePrompt(promptBytes, `${source}/${PROMPT_FILE}`, tokenizerConfig) : null,
  };
  return { world, actions, idleCode, start: startBytes ? decodeStartFrames(startBytes, `${source}/${START_FILE}`, tokenizerConfig, fingerprint(tokBytes)) : null };
}
