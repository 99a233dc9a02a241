/**
 * Text → first frame: a caption is encoded by a small text encoder and a MaskGIT transformer
 * generates the N tokens of one frame (the frozen tokenizer's), which the tokenizer decodes.
 *
 *   words_BL → word embedding + positions → textLayers blocks (pad keys masked) → text_BLD
 *   tokens_BN → token embedding, hidden positions → the mask vector, + positions → frame_BND
 *   [text_BLD ; frame_BND] (prefix conditioning) → layers blocks → last N slots → norm → head
 *   → logits_BNK
 *
 * Prefix tokens rather than cross-attention: every block's self-attention already lets frame
 * tokens read the caption, with no extra parameters, and L ≪ N keeps the cost small.
 *
 * Classifier-free guidance: in training a fraction `captionDropout` of captions is replaced by
 * the null caption (one <null> word); sampling runs conditional and null rows together and uses
 * uncond + g·(cond − uncond) (g = 1: the conditional model alone).
 *
 * Every random choice (masks, dropped captions) is an input, so the training step is a pure
 * function of arrays and exports to ONNX like the other phases.
 *
 * Dimension keys: B batch · L words · N tokens per frame · S = L + N · D width · K codes · V words.
 */
import { np } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { attention, initAttention } from "../nn/attention.js";
import type { AttentionParams } from "../nn/attention.js";
import { initEmbedding } from "../nn/embedding.js";
import type { EmbeddingParams } from "../nn/embedding.js";
import { initLinear, linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { initMLP, mlp } from "../nn/mlp.js";
import type { MLPParams } from "../nn/mlp.js";
import { initNorm, norm } from "../nn/norm.js";
import type { NormParams } from "../nn/norm.js";
import { divide } from "../nn/ops.js";
import { addPositions, initLearnedPositions } from "../nn/position.js";
import type { LearnedPositionParams } from "../nn/position.js";
import { logSoftmax } from "./dynamics.js";

/** Word ids with a fixed meaning: padding, the null caption (guidance), unknown words. */
export const PAD_ID = 0;
export const NULL_ID = 1;
export const UNK_ID = 2;
export const SPECIAL_WORDS = ["<pad>", "<null>", "<unk>"] as const;

export interface PromptConfig {
  /** N: tokens per frame (the tokenizer's). */
  tokensPerFrame: number;
  /** K: the tokenizer's codebook size. */
  codes: number;
  /** The vocabulary, id → word (SPECIAL_WORDS first); built from the training captions. */
  vocab: string[];
  /** L: words per caption kept (longer captions are cut, shorter ones padded). */
  maxWords: number;
  /** Model width D. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** Blocks of the text encoder (0: word embeddings + positions go straight in as the prefix). */
  textLayers: number;
  /** Blocks over [caption; frame]. */
  layers: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /** Fraction of training captions replaced by the null caption (classifier-free guidance). */
  captionDropout: number;
  /** MaskGIT iterations when sampling. */
  sampleSteps: number;
  /** Sampling temperature (0 = greedy). */
  temperature: number;
  /** Guidance scale g when sampling (1 = none). */
  guidance: number;
}

export const PROMPT_DEFAULTS: Readonly<PromptConfig> = freezeDeep({
  tokensPerFrame: 256,
  codes: 1024,
  vocab: [...SPECIAL_WORDS],
  maxWords: 24,
  dim: 128,
  heads: 4,
  textLayers: 1,
  layers: 4,
  mlpRatio: 4,
  captionDropout: 0.1,
  sampleSteps: 8,
  temperature: 1,
  guidance: 2,
});

/** Digits as the captions spell them (src/worlds/captions.ts; models may not import worlds). */
const DIGIT_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/** Words of a text as the vocabulary sees them: lower case, no punctuation, digits as count words. */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9\s]+/g, " ")
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => (/^\d$/.test(w) ? DIGIT_WORDS[Number(w)] : w));
}

/** The vocabulary of a caption list: SPECIAL_WORDS, then every word by falling frequency (ties alphabetical). */
export function buildVocab(captions: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const c of captions) for (const w of normalizeWords(c)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts.keys()].filter((w) => !(SPECIAL_WORDS as readonly string[]).includes(w));
  words.sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  return [...SPECIAL_WORDS, ...words];
}

/**
 * Word ids of a text, padded with PAD_ID to `maxWords`: unknown words are UNK_ID (never an
 * error), an empty text is the null caption.
 */
export function encodeCaption(vocab: readonly string[], text: string, maxWords: number): Int32Array {
  const index = new Map(vocab.map((w, i) => [w, i]));
  const ids = new Int32Array(maxWords).fill(PAD_ID);
  const words = normalizeWords(text).slice(0, maxWords);
  if (words.length === 0) ids[0] = NULL_ID;
  words.forEach((w, i) => (ids[i] = index.get(w) ?? UNK_ID));
  return ids;
}

/** The null caption's ids (what a dropped caption becomes). */
export function nullCaption(maxWords: number): Int32Array {
  const ids = new Int32Array(maxWords).fill(PAD_ID);
  ids[0] = NULL_ID;
  return ids;
}

interface BlockParams {
  attnNorm: NormParams;
  attn: AttentionParams;
  mlpNorm: NormParams;
  mlp: MLPParams;
}

export interface PromptParams {
  /** (V, D). */
  wordEmbed: EmbeddingParams;
  /** (L, D). */
  wordPos: LearnedPositionParams;
  textBlocks: BlockParams[];
  /** (K, D). */
  tokenEmbed: EmbeddingParams;
  /** The vector of hidden tokens, (D). */
  maskToken_D: np.Array;
  /** (N, D). */
  framePos: LearnedPositionParams;
  blocks: BlockParams[];
  outNorm: NormParams;
  /** D → K. */
  head: LinearParams;
}

function initBlock(key: Key, cfg: PromptConfig, layers: number): BlockParams {
  const [ka, km] = splitKey(key, 2);
  const outInitScale = 1 / Math.sqrt(2 * Math.max(1, layers));
  return {
    attnNorm: initNorm("layer", { dim: cfg.dim }),
    attn: initAttention(ka, { dim: cfg.dim, heads: cfg.heads, qkNorm: true, outInitScale }),
    mlpNorm: initNorm("layer", { dim: cfg.dim }),
    mlp: initMLP(km, { dim: cfg.dim, hidden: cfg.dim * cfg.mlpRatio, kind: "gelu", outInitScale }),
  };
}

export function initPrompt(key: Key, cfg: PromptConfig): PromptParams {
  if (cfg.vocab.length <= SPECIAL_WORDS.length) throw new Error(`prompt.ts: config "vocab" has no words (${cfg.vocab.length} entries); build it with buildVocab(captions)`);
  const L = cfg.textLayers + cfg.layers;
  const keys = splitKey(key, 6 + L);
  return {
    wordEmbed: initEmbedding(keys[0], { count: cfg.vocab.length, dim: cfg.dim }),
    wordPos: initLearnedPositions(keys[1], { count: cfg.maxWords, dim: cfg.dim }),
    textBlocks: Array.from({ length: cfg.textLayers }, (_, i) => initBlock(keys[6 + i], cfg, cfg.textLayers)),
    tokenEmbed: initEmbedding(keys[2], { count: cfg.codes, dim: cfg.dim }),
    maskToken_D: initEmbedding(keys[3], { count: 1, dim: cfg.dim }).table.reshape([cfg.dim]), // (1,D) -> (D)
    framePos: initLearnedPositions(keys[4], { count: cfg.tokensPerFrame, dim: cfg.dim }),
    blocks: Array.from({ length: cfg.layers }, (_, i) => initBlock(keys[6 + cfg.textLayers + i], cfg, cfg.layers)),
    outNorm: initNorm("layer", { dim: cfg.dim }),
    head: initLinear(keys[5], { inDim: cfg.dim, outDim: cfg.codes }),
  };
}

/** Pre-norm residual block over x_BSD; `mask` (bool, broadcastable to (B,H,S,S)) is consumed. */
function block(p: BlockParams, x: np.Array, mask: np.Array): np.Array {
  const h = norm(p.attnNorm, x.ref);
  const y = x.add(attention(p.attn, h, { mask }));
  return y.ref.add(mlp(p.mlp, norm(p.mlpNorm, y)));
}

/** One-hot float32 (..., K) of int ids (...) (a comparison: exports to ONNX). */
function oneHot(ids: np.Array, K: number): np.Array {
  const shape = ids.shape;
  const classes = np.arange(K).astype(np.int32).reshape([...shape.map(() => 1), K]); // (K) -> (1,..,1,K)
  return ids.astype(np.int32).reshape([...shape, 1]).equal(classes).astype(np.float32); // (...) -> (...,1)
}

/**
 * Embedding rows. Training: one-hot × table, because the gradient of a gather (a scatter) does
 * not compile in jax-js jit. Sampling: a gather, because jax-js jit fuses the one-hot matmul
 * into an (M, count, dim) product that overflows wasm memory for a batch of frames.
 */
function embedRows(p: EmbeddingParams, ids: np.Array, gather: boolean): np.Array {
  if (gather) return np.take(p.table, ids.astype(np.int32), 0);
  const [count, dim] = p.table.shape;
  const shape = ids.shape;
  return np.matmul(oneHot(ids.reshape([-1]), count), p.table).reshape([...shape, dim]); // (...) -> (M) -> (M,dim) -> (...,dim)
}

function checkInputs(words_BL: np.Array, tokens_BN: np.Array, mask_BN: np.Array, cfg: PromptConfig): void {
  const [B, L] = words_BL.shape;
  if (words_BL.ndim !== 2 || L !== cfg.maxWords) throw new Error(`prompt.ts: words [${words_BL.shape}] must be (B, ${cfg.maxWords})`);
  if (tokens_BN.ndim !== 2 || tokens_BN.shape[0] !== B || tokens_BN.shape[1] !== cfg.tokensPerFrame) {
    throw new Error(`prompt.ts: tokens [${tokens_BN.shape}] must be (${B}, ${cfg.tokensPerFrame})`);
  }
  if (mask_BN.dtype !== np.bool || mask_BN.shape.join() !== tokens_BN.shape.join()) {
    throw new Error(`prompt.ts: mask must be bool [${tokens_BN.shape}], got ${mask_BN.dtype} [${mask_BN.shape}]`);
  }
}

/**
 * Logits over the codebook for every token of the frame, logits_BNK, given the caption's word
 * ids and the frame's tokens with `mask_BN` (true = hidden) positions replaced by the mask
 * vector. `sampling`: embed by gather (no gradient needed; see embedRows). Consumes params and inputs.
 */
export function promptLogits(p: PromptParams, words_BL: np.Array, tokens_BN: np.Array, mask_BN: np.Array, cfg: PromptConfig, sampling = false): np.Array {
  checkInputs(words_BL, tokens_BN, mask_BN, cfg);
  const [B, L] = words_BL.shape;
  const N = cfg.tokensPerFrame;
  const D = cfg.dim;
  const keep_B11L = words_BL.ref.notEqual(PAD_ID).reshape([B, 1, 1, L]); // (B,L) -> (B,1,1,L)
  let text = addPositions(embedRows(p.wordEmbed, words_BL, sampling), p.wordPos.table, 1);
  p.textBlocks.forEach((b) => (text = block(b, text, keep_B11L.ref)));
  const tok_BND = embedRows(p.tokenEmbed, tokens_BN, sampling);
  const hidden_BN1 = mask_BN.reshape([B, N, 1]); // (B,N) -> (B,N,1)
  const frame = addPositions(np.where(hidden_BN1, p.maskToken_D.reshape([1, 1, D]), tok_BND), p.framePos.table, 1); // (D) -> (1,1,D)
  const keep_B11S = np.concatenate([keep_B11L, np.ones([B, 1, 1, N], { dtype: np.bool })], 3);
  let x = np.concatenate([text, frame], 1);
  p.blocks.forEach((b) => (x = block(b, x, keep_B11S.ref)));
  keep_B11S.dispose();
  const y_BND = x.slice([], [L, L + N]);
  return linear(p.head, norm(p.outNorm, y_BND));
}

/**
 * MaskGIT cross-entropy: mean negative log-likelihood of the true tokens at the hidden
 * positions, and the accuracy of the argmax there. Consumes params and inputs.
 */
export function promptLoss(p: PromptParams, words_BL: np.Array, tokens_BN: np.Array, mask_BN: np.Array, cfg: PromptConfig): { loss: np.Array; aux: { accuracy: np.Array } } {
  const logp = logSoftmax(promptLogits(p, words_BL, tokens_BN.ref, mask_BN.ref, cfg));
  const target_BN = logp.ref.mul(oneHot(tokens_BN, cfg.codes)).sum(-1);
  const w_BN = mask_BN.astype(np.float32);
  const den = np.maximum(w_BN.ref.sum(), 1);
  const hit_BN = target_BN.ref.greaterEqual(logp.max(-1)).astype(np.float32);
  const loss = divide(target_BN.mul(w_BN.ref).sum().neg(), den.ref);
  return { loss, aux: { accuracy: divide(hit_BN.mul(w_BN).sum(), den) } };
}

/**
 * Host-side training mask (1 = hidden): per frame a rate r = cos(π/2 · u), u ~ U(0, 1) (the
 * MaskGIT schedule seen from every iteration), each token hidden with probability r, at least one.
 */
export function promptTrainingMask(B: number, N: number, rand: () => number): Uint8Array {
  const out = new Uint8Array(B * N);
  for (let b = 0; b < B; b++) {
    const r = Math.cos((Math.PI / 2) * rand());
    let any = false;
    for (let n = 0; n < N; n++) {
      const h = rand() < r;
      out[b * N + n] = h ? 1 : 0;
      any ||= h;
    }
    if (!any) out[b * N + Math.floor(rand() * N)] = 1;
  }
  return out;
}
