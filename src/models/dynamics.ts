/**
 * Phase 3: the dynamics model, P(s_t | s_<t, a_≤t): a block-causal ST transformer over the
 * tokenizer's tokens, conditioned on one latent action per frame, trained as a masked-token
 * model (MaskGIT) and sampled a few tokens at a time (src/models/maskgit.ts).
 *
 *   tokens_BTN → Embedding ─ masked positions → the learned mask vector
 *              + action embedding (additive: on every token of its frame │ prepended: one
 *                extra token per frame, seen by spatial attention)
 *              + spatial positions → ST stack (causal time, RoPE over frames, timeWindow)
 *              → Linear → logits_BTNK
 *
 * Actions: `actions_BT[b, t]` is the code of the action that led *into* frame t (from t − 1),
 * in 0..A−1; the extra code A means "no action known" (an episode's first frame, context
 * frames given without actions, and the action dropout of training). So changing frame t+1
 * or its action can only change frames ≥ t+1.
 *
 * Masks and every random choice are inputs (`mask_BTN`, boolean, true = hidden), so a
 * training step is a pure function of arrays and exports to ONNX (src/onnx/compiled.ts).
 *
 * Dimension keys: B batch · T frames · N tokens per frame · S = N (+1 when prepended) ·
 * D width · K codebook size · A latent actions.
 */
import { lax, np } from "../core/jax.js";
import type { MaskgitScheduleKind } from "./maskgit.js";
import { freezeDeep } from "../core/config.js";
import { splitKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import type { KVCache } from "../nn/attention.js";
import { embed, initEmbedding } from "../nn/embedding.js";
import type { EmbeddingParams } from "../nn/embedding.js";
import { initLinear, linear } from "../nn/linear.js";
import type { LinearParams } from "../nn/linear.js";
import { addPositions, initLearnedPositions } from "../nn/position.js";
import type { LearnedPositionParams } from "../nn/position.js";
import { divide } from "../nn/ops.js";
import { initSTStack, prepareStackCaches, stStack, stStackStep } from "../nn/st-block.js";
import type { STBlockOptions, STStackParams } from "../nn/st-block.js";

export interface DynamicsConfig {
  /** N: tokens per frame (the tokenizer's (H/P)·(W/P)). */
  tokensPerFrame: number;
  /** K: the tokenizer's codebook size. */
  codes: number;
  /** A: latent action codes (the LAM's codebook, or the world's true actions with --actions true). */
  actions: number;
  /** Model width D. */
  dim: number;
  /** Attention heads. */
  heads: number;
  /** ST blocks. */
  layers: number;
  /** MLP hidden width as a multiple of `dim`. */
  mlpRatio: number;
  /**
   * How the action enters: "additive" adds its embedding to every token of the frame it led to
   * (no extra cost); "prepended" adds one extra token per frame that spatial attention sees
   * (N+1 tokens per frame). Additive until measured otherwise.
   */
  actionMode: "additive" | "prepended";
  /**
   * W: the sliding window in frames (a frame attends to itself and the W − 1 before it). The
   * same banded mask in training and in the session's KV cache, so a 10,000-step session sees
   * exactly the context it was trained on. Train on clips of at least W frames.
   */
  timeWindow: number;
  /** Lower end of the per-frame mask rate r ~ U[maskRateMin, maskRateMax] (MaskGIT training). */
  maskRateMin: number;
  /** Upper end of the mask rate (1: some frames are predicted from nothing but the past). */
  maskRateMax: number;
  /** Fraction of training actions replaced by "no action" (A), so context without actions is in-distribution. */
  actionDropout: number;
  /**
   * Training only: a hidden token whose code differs from the same position's code in the frame
   * before weighs 1 + changeWeight in the loss (0: all weigh 1). Most of a frame's tokens repeat
   * the frame before; what moves (a falling player's few tokens) is otherwise a small share of it.
   */
  changeWeight: number;
  /** MaskGIT iterations per generated frame (the session's default). */
  sampleSteps: number;
  /** How the hidden tokens shrink over those iterations (maskgit.ts; the session's default). */
  sampleSchedule: MaskgitScheduleKind;
  /** Sampling temperature (the session's default; 0 = greedy). */
  temperature: number;
  /**
   * MaskGIT choice temperature (the session's default; 0 = off): Gumbel noise of this scale,
   * annealed to 0 over the passes, is added to each sampled token's log-probability before the
   * least confident are hidden again, so which tokens are kept early is partly random rather than
   * always the most probable (the mode). Sampling itself is unchanged.
   */
  choiceTemperature: number;
  /**
   * LAM code → this model's action id, when codes with the same actions.json label share one id
   * (`train dynamics --data.actionGroups=actions.json`; `actions` is then the number of groups):
   * the model is conditioned on what a key means, not on how the LAM split its effect (the
   * platformer's LAM codes "right" three ways by the player's vertical motion, and a key can bind
   * only one of them, so a world conditioned on the codes kept a jumping player in the air while
   * right was held). [] = the codes themselves. Sessions and evaluations still take LAM codes.
   */
  actionGroups: number[];
}

export const DYNAMICS_DEFAULTS: Readonly<DynamicsConfig> = freezeDeep({
  tokensPerFrame: 256,
  codes: 1024,
  actions: 8,
  dim: 128,
  heads: 4,
  layers: 4,
  mlpRatio: 4,
  actionMode: "additive",
  timeWindow: 8,
  maskRateMin: 0.5,
  maskRateMax: 1,
  actionDropout: 0.1,
  changeWeight: 0,
  sampleSteps: 4,
  sampleSchedule: "cosine",
  temperature: 1,
  choiceTemperature: 0,
  actionGroups: [],
});

/** How many action codes the model takes (0..n−1, and n = "no action"): the LAM's codes, grouped or not. */
export function codeCount(cfg: Pick<DynamicsConfig, "actions" | "actionGroups">): number {
  return cfg.actionGroups?.length || cfg.actions;
}

/** The model's action id of a code (0..codeCount−1, or codeCount = "no action"). */
export function modelAction(cfg: Pick<DynamicsConfig, "actions" | "actionGroups">, code: number): number {
  const n = codeCount(cfg);
  if (!Number.isInteger(code) || code < 0 || code > n) throw new Error(`dynamics: action code ${code} outside 0..${n}`);
  if (code === n) return cfg.actions;
  return cfg.actionGroups?.length ? cfg.actionGroups[code] : code;
}

/** Groups of codes by label, numbered in order of first appearance: ["right","noop","right"] → [0, 1, 0]. */
export function groupByLabel(labels: string[]): number[] {
  const ids = new Map<string, number>();
  return labels.map((l) => {
    if (!ids.has(l)) ids.set(l, ids.size);
    return ids.get(l)!;
  });
}

export interface DynamicsParams {
  /** Token embedding, (K, D). */
  tokenEmbed: EmbeddingParams;
  /** The vector that replaces hidden tokens, (D). */
  maskToken_D: np.Array;
  /** Action embedding, (A + 1, D); row A is "no action". */
  actionEmbed: EmbeddingParams;
  /** Spatial positions, (S, D). */
  pos: LearnedPositionParams;
  stack: STStackParams;
  /** D → K. */
  head: LinearParams;
}

/** Tokens per frame inside the stack: N, plus the action token when prepended. */
export function slotsPerFrame(cfg: DynamicsConfig): number {
  return cfg.tokensPerFrame + (cfg.actionMode === "prepended" ? 1 : 0);
}

/** Options of the ST stack (the same for the full forward and cached steps). */
export function stackOptions(cfg: DynamicsConfig): STBlockOptions {
  return { causalTime: true, timeWindow: cfg.timeWindow };
}

export function initDynamics(key: Key, cfg: DynamicsConfig): DynamicsParams {
  if (cfg.actionMode !== "additive" && cfg.actionMode !== "prepended") {
    throw new Error(`dynamics.ts: config "actionMode" must be "additive" or "prepended", got "${cfg.actionMode}"`);
  }
  const [k1, k2, k3, k4, k5, k6] = splitKey(key, 6);
  return {
    tokenEmbed: initEmbedding(k1, { count: cfg.codes, dim: cfg.dim }),
    maskToken_D: initEmbedding(k2, { count: 1, dim: cfg.dim }).table.reshape([cfg.dim]), // (1,D) -> (D)
    actionEmbed: initEmbedding(k3, { count: cfg.actions + 1, dim: cfg.dim }),
    pos: initLearnedPositions(k4, { count: slotsPerFrame(cfg), dim: cfg.dim }),
    stack: initSTStack(k5, { dim: cfg.dim, heads: cfg.heads, mlpHidden: cfg.dim * cfg.mlpRatio, layers: cfg.layers, causalTime: true }),
    head: initLinear(k6, { inDim: cfg.dim, outDim: cfg.codes }),
  };
}

function checkInputs(tokens_BTN: np.Array, actions_BT: np.Array, mask_BTN: np.Array, cfg: DynamicsConfig, where: string): void {
  const [B, T, N] = tokens_BTN.shape;
  if (tokens_BTN.ndim !== 3 || N !== cfg.tokensPerFrame) {
    throw new Error(`dynamics.ts ${where}: tokens [${tokens_BTN.shape}] must be (B, T, ${cfg.tokensPerFrame})`);
  }
  if (actions_BT.ndim !== 2 || actions_BT.shape[0] !== B || actions_BT.shape[1] !== T) {
    throw new Error(`dynamics.ts ${where}: actions [${actions_BT.shape}] must be (${B}, ${T})`);
  }
  if (mask_BTN.dtype !== np.bool || mask_BTN.shape.join() !== tokens_BTN.shape.join()) {
    throw new Error(`dynamics.ts ${where}: mask must be bool [${tokens_BTN.shape}], got ${mask_BTN.dtype} [${mask_BTN.shape}]`);
  }
}

/**
 * Rows of an embedding table as one-hot × table. The gradient of a gather is a scatter, which
 * jax-js 0.1.25 cannot compile inside `jit` ("routine primitive scatter input is not imm");
 * a matmul has a matmul for its gradient and exports to ONNX as well.
 */
function embedOneHot(p: EmbeddingParams, ids: np.Array): np.Array {
  const [count, dim] = p.table.shape;
  const shape = ids.shape;
  const flat = oneHot(ids.reshape([-1]), count); // (...) -> (M) -> (M, count)
  return np.matmul(flat, p.table).reshape([...shape, dim]); // (M, dim) -> (..., dim)
}

/**
 * The stack's input x_BTSD. Consumes the embedding params and the inputs. `lookup`: rows by
 * one-hot × table (differentiable inside jit; the training forward) or by a gather (inference:
 * exported, a one-hot matmul is as large as an MLP — N × K × D multiply-adds per frame, 3–4 ms
 * per MaskGIT pass on onnxruntime-web's wasm — and int8 quantisation would round the table).
 */
function embedFrames(
  p: Pick<DynamicsParams, "tokenEmbed" | "maskToken_D" | "actionEmbed" | "pos">,
  tokens_BTN: np.Array,
  actions_BT: np.Array,
  mask_BTN: np.Array,
  cfg: DynamicsConfig,
  lookup: "onehot" | "gather",
): np.Array {
  const [B, T, N] = tokens_BTN.shape;
  const D = cfg.dim;
  const tok_BTND = lookup === "gather" ? embed(p.tokenEmbed, tokens_BTN) : embedOneHot(p.tokenEmbed, tokens_BTN);
  const hidden_BTN1 = mask_BTN.reshape([B, T, N, 1]); // (B,T,N) -> (B,T,N,1)
  let x = np.where(hidden_BTN1, p.maskToken_D.reshape([1, 1, 1, D]), tok_BTND); // (D) -> (1,1,1,D)
  const act_BT1D = embedOneHot(p.actionEmbed, actions_BT).reshape([B, T, 1, D]); // (B,T,D) -> (B,T,1,D)
  x = cfg.actionMode === "prepended" ? np.concatenate([act_BT1D, x], 2) : x.add(act_BT1D);
  return addPositions(x, p.pos.table, 2);
}

/** The N token slots of the stack output (drops the action token when prepended). */
function tokenSlots(y_BTSD: np.Array, cfg: DynamicsConfig): np.Array {
  return cfg.actionMode === "prepended" ? y_BTSD.slice([], [], [1, cfg.tokensPerFrame + 1]) : y_BTSD;
}

/**
 * Logits over the codebook for every token of every frame: logits_BTNK. Block-causal: frame t
 * sees frames t − W + 1 .. t (and its own action). Consumes params and inputs.
 */
export function dynamicsLogits(p: DynamicsParams, tokens_BTN: np.Array, actions_BT: np.Array, mask_BTN: np.Array, cfg: DynamicsConfig): np.Array {
  checkInputs(tokens_BTN, actions_BT, mask_BTN, cfg, "dynamicsLogits");
  const { stack, head, ...emb } = p;
  const x = embedFrames(emb, tokens_BTN, actions_BT, mask_BTN, cfg, "onehot");
  return linear(head, tokenSlots(stStack(stack, x, stackOptions(cfg)), cfg));
}

/**
 * One new frame given the temporal KV caches of the frames before it (one per block, or null
 * when there are none; consumed): logits_BNK and the caches with this frame appended (the past
 * trimmed to W − 1 frames first, so they never hold more than W). Equals the matching frame of
 * `dynamicsLogits` run on the whole sequence. Consumes params, inputs and caches.
 */
export function dynamicsStep(
  p: DynamicsParams,
  tokens_BN: np.Array,
  actions_B: np.Array,
  mask_BN: np.Array,
  caches: KVCache[] | null,
  cfg: DynamicsConfig,
): { logits_BNK: np.Array; caches: KVCache[] } {
  const [B, N] = tokens_BN.shape;
  const tokens_B1N = tokens_BN.reshape([B, 1, N]); // (B,N) -> (B,1,N)
  const actions_B1 = actions_B.reshape([B, 1]); // (B) -> (B,1)
  const mask_B1N = mask_BN.reshape([B, 1, N]); // (B,N) -> (B,1,N)
  checkInputs(tokens_B1N, actions_B1, mask_B1N, cfg, "dynamicsStep");
  const { stack, head, ...emb } = p;
  const x = embedFrames(emb, tokens_B1N, actions_B1, mask_B1N, cfg, "gather");
  const r = stStackStep(stack, x, caches, stackOptions(cfg));
  const logits = linear(head, tokenSlots(r.y_B1ND, cfg));
  return { logits_BNK: logits.reshape([B, N, cfg.codes]), caches: r.caches }; // (B,1,N,K) -> (B,N,K)
}

/**
 * The caches made ready for several `dynamicsStep` calls over the same past (the MaskGIT passes
 * of one frame): same results, the past's rotation computed once (`prepareStackCaches`).
 * Consumes `caches`.
 */
export function prepareDynamicsCaches(caches: KVCache[], cfg: DynamicsConfig): KVCache[] {
  return prepareStackCaches(caches, stackOptions(cfg));
}

/** log-softmax over the last axis (max-shifted; the shift is a constant for the gradient). */
export function logSoftmax(logits: np.Array): np.Array {
  const m = lax.stopGradient(logits.ref.max(-1, { keepdims: true }));
  const shifted = logits.sub(m);
  return shifted.ref.sub(np.log(np.exp(shifted).sum(-1, { keepdims: true })));
}

/** One-hot float32 (..., K) of int ids (...), built from a comparison (exports to ONNX). */
function oneHot(ids: np.Array, K: number): np.Array {
  const shape = ids.shape;
  const classes = np.arange(K).astype(np.int32).reshape([...shape.map(() => 1), K]); // (K) -> (1,..,1,K)
  return ids.astype(np.int32).reshape([...shape, 1]).equal(classes).astype(np.float32); // (...) -> (...,1)
}

export interface DynamicsLossAux {
  /** Fraction of scored tokens whose target is the argmax. */
  accuracy: np.Array;
  /** Scored (hidden, frame ≥ 1) tokens, as a float scalar. */
  scored: np.Array;
}

/**
 * MaskGIT cross-entropy: the mean negative log-likelihood of the true tokens at the hidden
 * positions of frames ≥ 1 (frame 0 is context only; its mask is ignored). Consumes params and
 * inputs.
 */
export function dynamicsLoss(
  p: DynamicsParams,
  tokens_BTN: np.Array,
  actions_BT: np.Array,
  mask_BTN: np.Array,
  cfg: DynamicsConfig,
): { loss: np.Array; aux: DynamicsLossAux } {
  const [, T] = tokens_BTN.shape;
  const logits = dynamicsLogits(p, tokens_BTN.ref, actions_BT, mask_BTN.ref, cfg);
  const logp = logSoftmax(logits);
  // Weights of the change-weighted loss (changeWeight > 0): 1, or 1 + changeWeight where the code moved.
  const lossW_BTN = cfg.changeWeight > 0 ? changedTokens(tokens_BTN.ref).mul(cfg.changeWeight).add(1) : null;
  const target_BTN = logp.ref.mul(oneHot(tokens_BTN, cfg.codes)).sum(-1);
  const notFirst_T1 = np.array(Float32Array.from({ length: T }, (_, t) => (t === 0 ? 0 : 1)), { shape: [T, 1] });
  const w_BTN = mask_BTN.astype(np.float32).mul(notFirst_T1);
  const scored = w_BTN.ref.sum();
  const den = np.maximum(scored.ref, 1);
  const hit_BTN = target_BTN.ref.greaterEqual(logp.max(-1)).astype(np.float32);
  let loss: np.Array;
  if (lossW_BTN) {
    const lw_BTN = w_BTN.ref.mul(lossW_BTN);
    loss = divide(target_BTN.mul(lw_BTN.ref).sum().neg(), np.maximum(lw_BTN.sum(), 1));
  } else loss = divide(target_BTN.mul(w_BTN.ref).sum().neg(), den.ref);
  const accuracy = divide(hit_BTN.mul(w_BTN).sum(), den);
  return { loss, aux: { accuracy, scored } };
}

/** 1 where a token's code differs from the same position's in the frame before (frame 0: 0): (B,T,N) int → (B,T,N) float. */
export function changedTokens(tokens_BTN: np.Array): np.Array {
  const [, T] = tokens_BTN.shape;
  if (T < 2) return np.zerosLike(tokens_BTN.astype(np.float32));
  const prev_BTN = np.concatenate([tokens_BTN.ref.slice([], [0, 1]), tokens_BTN.ref.slice([], [0, T - 1])], 1);
  return tokens_BTN.notEqual(prev_BTN).astype(np.float32);
}

/**
 * Host-side MaskGIT training mask: frame 0 visible; each later frame of each clip draws a rate
 * r ~ U[maskRateMin, maskRateMax] and hides each token with probability r. `rand` is a seeded
 * host PRNG (hostRng), so the mask is an input to the step, never randomness inside it.
 */
export function trainingMask(B: number, T: number, cfg: DynamicsConfig, rand: () => number): Uint8Array {
  const N = cfg.tokensPerFrame;
  const out = new Uint8Array(B * T * N);
  for (let b = 0; b < B; b++) {
    for (let t = 1; t < T; t++) {
      const r = cfg.maskRateMin + (cfg.maskRateMax - cfg.maskRateMin) * rand();
      for (let n = 0; n < N; n++) out[(b * T + t) * N + n] = rand() < r ? 1 : 0;
    }
  }
  return out;
}

/** A bool jax array from host 0/1 bytes. */
export function boolArray(bits: ArrayLike<number>, shape: number[]): np.Array {
  return np.array(Array.from(bits, (v) => v !== 0), { shape, dtype: np.bool });
}
