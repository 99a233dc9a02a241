/**
 * The prompt model (src/models/prompt.ts) as a training phase. Its data are (caption, frame
 * tokens) pairs: the dataset's captions.jsonl names the captioned frames, the frozen tokenizer
 * turns each of them into N tokens once (a cache in the run folder, `prompt-tokens.*`), and
 * each step draws B pairs from the train split.
 *
 * Each step: B pairs, a fraction `captionDropout` of captions replaced by the null caption, a
 * MaskGIT mask per frame, all drawn on the host from (seed, step) so a resumed run sees the same
 * batches; then the masked cross-entropy and AdamW in one compiled step (onnxruntime or jit).
 *
 * Frames are tokenized one at a time (clips of T = 1): the prompt model makes first frames,
 * which the tokenizer also sees alone when a session starts from an image.
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hostRng } from "../core/keys.js";
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { keep } from "../core/refs.js";
import type { ParamTree } from "../core/tree-names.js";
import { CAPTIONS_FILE, depthScale, parseCaptions } from "../data/format.js";
import type { CaptionLine } from "../data/format.js";
import { writeClip } from "../data/loader.js";
import type { Dataset } from "../data/loader.js";
import { boolArray } from "../models/dynamics.js";
import { PROMPT_DEFAULTS, SPECIAL_WORDS, buildVocab, encodeCaption, initPrompt, nullCaption, promptLoss, promptTrainingMask } from "../models/prompt.js";
import type { PromptConfig, PromptParams } from "../models/prompt.js";
import { tokenize, tokensPerFrame } from "../models/tokenizer.js";
import { compileOrt } from "../onnx/compiled.js";
import { disposeTokenizer, loadTokenizer } from "../world/tokenizer-io.js";
import type { LoadedTokenizer } from "../world/tokenizer-io.js";
import { accuracyStepper } from "./step-runner.js";
import { TRAIN_DEFAULTS } from "./loop.js";
import type { Phase, TrainConfig } from "./loop.js";

export interface PromptDataConfig {
  /** The dataset folder (with captions.jsonl). */
  dir: string;
  /** The frozen tokenizer: a run folder, world folder or checkpoint (`--tokenizer RUN`). */
  tokenizer: string;
  /** (caption, frame) pairs per batch B. */
  batch: number;
  /** Frames per tokenizer call when building the token cache. */
  chunk: number;
}

export interface PromptRunConfig {
  prompt: PromptConfig;
  train: TrainConfig;
  data: PromptDataConfig;
}

export const PROMPT_RUN_DEFAULTS: Readonly<PromptRunConfig> = freezeDeep({
  prompt: PROMPT_DEFAULTS,
  train: { ...TRAIN_DEFAULTS, steps: 3000, lr: 1e-3, warmupSteps: 100, weightDecay: 0.05 },
  data: { dir: "", tokenizer: "", batch: 16, chunk: 32 },
});

export const PROMPT_CACHE_JSON = "prompt-tokens.json";
export const PROMPT_CACHE_BIN = "prompt-tokens.bin";

/** The captioned frames of a dataset with their tokens, split like their episodes. */
export interface PromptPairs {
  captions: CaptionLine[];
  split: ("train" | "val")[];
  /** captions.length · N tokens. */
  tokens: Int32Array;
  N: number;
}

/** captions.jsonl of a dataset (an error naming the file when there is none). */
export function readCaptions(ds: Dataset): CaptionLine[] {
  const file = join(ds.dir, CAPTIONS_FILE);
  if (!existsSync(file)) throw new Error(`prompt: ${file} not found; generate the data with this worldkit (it writes captions) or import video with a captions.jsonl`);
  const lines = parseCaptions(readFileSync(file, "utf8"), file);
  const frames = new Map(ds.manifest.episodes.map((e) => [e.id, e.frames]));
  for (const c of lines) {
    const T = frames.get(c.episode);
    if (T === undefined || c.frame < 0 || c.frame >= T) throw new Error(`prompt: ${file} captions episode ${c.episode} frame ${c.frame}, which ${ds.dir} does not have`);
  }
  return lines;
}

/** Tokenize every captioned frame (or load the cache in `dir` made from the same sources). */
export async function promptPairs(dir: string, ds: Dataset, t: LoadedTokenizer, opts: { chunk: number; threads?: number; log?: (s: string) => void }): Promise<PromptPairs> {
  const captions = readCaptions(ds);
  const splitOf = new Map(ds.manifest.episodes.map((e) => [e.id, e.split]));
  const split = captions.map((c) => splitOf.get(c.episode)!);
  const N = tokensPerFrame(t.config);
  const want = JSON.stringify({ dataset: ds.dir, tokenizer: t.source, step: t.step, count: captions.length, N });
  const jsonPath = join(dir, PROMPT_CACHE_JSON);
  const binPath = join(dir, PROMPT_CACHE_BIN);
  if (existsSync(jsonPath) && existsSync(binPath) && readFileSync(jsonPath, "utf8") === want) {
    const buf = readFileSync(binPath);
    return { captions, split, tokens: new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), N };
  }
  const tc = t.config;
  const [H, W] = ds.manifest.size;
  if (H !== tc.height || W !== tc.width) throw new Error(`prompt: ${ds.dir} has ${H}×${W} frames, tokenizer ${t.source} wants ${tc.height}×${tc.width}`);
  const C = tc.channels;
  const depthInv = ds.manifest.depth === "none" ? 0 : 1 / depthScale(ds.manifest.depth);
  const chunk = Math.max(1, opts.chunk);
  const f = (p: ParamTree, cb: np.Array, x: np.Array) => tokenize(p as never, cb, x, tc);
  const x0 = np.zeros([chunk, 1, H, W, C]);
  const compiled = await compileOrt(f as never, [tree.ref(t.params as unknown as ParamTree), t.codebook_KD.ref, x0] as never, { threads: opts.threads || undefined });
  const tokens = new Int32Array(captions.length * N);
  const order = captions.map((_, i) => i).sort((a, b) => captions[a].episode - captions[b].episode || captions[a].frame - captions[b].frame);
  let episode: { id: number; ep: ReturnType<Dataset["readEpisode"]> } | null = null;
  const started = Date.now();
  for (let s = 0; s < order.length; s += chunk) {
    const part = order.slice(s, s + chunk);
    const x = new Float32Array(chunk * H * W * C);
    part.forEach((i, b) => {
      const c = captions[i];
      if (episode?.id !== c.episode) episode = { id: c.episode, ep: ds.readEpisode(c.episode) };
      writeClip(episode.ep, c.frame, 1, C, depthInv, x, b * H * W * C);
    });
    const args = [tree.ref(t.params as unknown as ParamTree), t.codebook_KD.ref, np.array(x, { shape: [chunk, 1, H, W, C] })];
    const out = (await ((await compiled.run(...(args as never[]))) as unknown as np.Array).data()) as Int32Array;
    part.forEach((i, b) => tokens.set(out.subarray(b * N, (b + 1) * N), i * N));
    if (opts.log && (Math.floor(s / chunk) % 20 === 0 || s + chunk >= order.length)) {
      const done = Math.min(order.length, s + chunk);
      opts.log(`prompt: tokenized ${done}/${order.length} captioned frames, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  await compiled.dispose();
  await writeFile(binPath, new Uint8Array(tokens.buffer));
  await writeFile(jsonPath, want);
  return { captions, split, tokens, N };
}

interface Batch {
  words_BL: Int32Array;
  tokens_BN: Int32Array;
  mask_BN: Uint8Array;
}

/** Mix (seed, index) into one 32-bit host seed. */
function mix(seed: number, index: number): number {
  return (Math.imul(seed + 7, 0x9e3779b1) ^ Math.imul(index + 3, 0x85ebca77)) >>> 0;
}

/** B random pairs of `split` with caption dropout and MaskGIT masks. */
export function samplePromptBatch(pairs: PromptPairs, which: number[], B: number, cfg: PromptConfig, rand: () => number, dropout = cfg.captionDropout): Batch {
  const { N } = pairs;
  const L = cfg.maxWords;
  const words_BL = new Int32Array(B * L);
  const tokens_BN = new Int32Array(B * N);
  for (let b = 0; b < B; b++) {
    const i = which[Math.floor(rand() * which.length)];
    words_BL.set(rand() < dropout ? nullCaption(L) : encodeCaption(cfg.vocab, pairs.captions[i].caption, L), b * L);
    tokens_BN.set(pairs.tokens.subarray(i * N, (i + 1) * N), b * N);
  }
  return { words_BL, tokens_BN, mask_BN: promptTrainingMask(B, N, rand) };
}

function arrays(b: Batch, B: number, L: number, N: number) {
  return {
    words: np.array(b.words_BL, { shape: [B, L], dtype: np.int32 }),
    tokens: np.array(b.tokens_BN, { shape: [B, N], dtype: np.int32 }),
    mask: boolArray(b.mask_BN, [B, N]),
  };
}

/** Build the phase: tokenize the captioned frames, build the vocabulary, fix N and K from the tokenizer. */
export async function promptPhase(cfg: PromptRunConfig, ds: Dataset, out: string, log: (s: string) => void = () => {}): Promise<Phase<PromptParams, Record<string, never>, Batch>> {
  if (!cfg.data.tokenizer) throw new Error("train prompt: --tokenizer RUN is required (config data.tokenizer)");
  const tokenizer = await loadTokenizer(cfg.data.tokenizer);
  await mkdir(out, { recursive: true });
  log(`prompt: tokenizing the captioned frames of ${ds.dir} (tokenizer ${tokenizer.source})`);
  const pairs = await promptPairs(out, ds, tokenizer, { chunk: cfg.data.chunk, threads: cfg.train.threads, log });
  const K = tokenizer.config.codes;
  disposeTokenizer(tokenizer);
  const trainIdx = pairs.split.flatMap((s, i) => (s === "train" ? [i] : []));
  const valIdx = pairs.split.flatMap((s, i) => (s === "val" ? [i] : []));
  if (!trainIdx.length) throw new Error(`train prompt: ${ds.dir} has no captioned frame in the train split`);
  // The vocabulary comes from the train captions; a resumed run keeps the one in its config.
  const vocab = cfg.prompt.vocab.length > SPECIAL_WORDS.length ? [...cfg.prompt.vocab] : buildVocab(trainIdx.map((i) => pairs.captions[i].caption));
  const pc: PromptConfig = { ...cfg.prompt, tokensPerFrame: pairs.N, codes: K, vocab };
  const config: PromptRunConfig = freezeDeep({ ...cfg, prompt: pc });
  log(`prompt: ${trainIdx.length} train / ${valIdx.length} val pairs, ${vocab.length} words`);
  const B = cfg.data.batch;
  const L = pc.maxWords;
  const N = pairs.N;

  type Args = { words: np.Array; tokens: np.Array; mask: np.Array };
  const stepper = accuracyStepper<PromptParams, Args>((p, b) => {
    const r = promptLoss(p, b.words, b.tokens, b.mask, pc);
    return { loss: r.loss, aux: { accuracy: r.aux.accuracy } };
  }, cfg.train);
  const evalLoss = jit(((p: PromptParams, b: Args) => {
    const r = promptLoss(p, b.words, b.tokens, b.mask, pc);
    return [r.loss, r.aux.accuracy];
  }) as never) as unknown as OwnedFunction<(p: PromptParams, b: Args) => [np.Array, np.Array]>;
  let index = 0;

  return {
    name: "prompt",
    config,
    init(key) {
      const params = initPrompt(key, pc);
      return { params, state: {}, opt: stepper.initOpt(params) };
    },
    async step(params, opt, state, batch, lr, key) {
      key.dispose();
      return { ...(await stepper.step(params, opt, arrays(batch, B, L, N), lr)), state };
    },
    async nextBatch() {
      return samplePromptBatch(pairs, trainIdx, B, pc, hostRng(mix(cfg.train.seed, index++)));
    },
    loaderState: () => ({ index }),
    restoreLoader: (s) => {
      index = (s as { index: number }).index;
    },
    async validate(p) {
      let loss = 0;
      let accuracy = 0;
      const n = cfg.train.valBatches;
      for (let i = 0; i < n; i++) {
        // Validation never drops captions: it measures the conditional model.
        const b = samplePromptBatch(pairs, valIdx.length ? valIdx : trainIdx, B, pc, hostRng(mix(4321, i)), 0);
        const [l, a] = evalLoss(keep(p), arrays(b, B, L, N));
        loss += Number((await l.data())[0]) / n;
        accuracy += Number((await a.data())[0]) / n;
      }
      return { loss, accuracy };
    },
    plots: [
      ["loss", true],
      ["accuracy", false],
    ],
    dispose() {
      stepper.dispose();
      evalLoss.dispose();
    },
  };
}
