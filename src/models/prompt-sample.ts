/**
 * Sampling a frame's tokens from a caption with the prompt model: MaskGIT from an all-hidden
 * frame (src/models/maskgit.ts: cosine schedule, Gumbel-max sampling, least confident hidden
 * again), with classifier-free guidance: each pass runs the caption rows and null-caption rows
 * as one batch and uses uncond + g·(cond − uncond). The model pass is jitted once per batch size.
 *
 * Dimension keys: B batch · L words · N tokens per frame · K codes.
 */
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { makeKey, splitKey } from "../core/keys.js";
import { keep } from "../core/refs.js";
import type { ParamTree } from "../core/tree-names.js";
import { boolArray } from "./dynamics.js";
import { gumbelNoise, maskgitIteration, maskgitSchedule } from "./maskgit.js";
import { encodeCaption, nullCaption, promptLogits } from "./prompt.js";
import type { PromptConfig, PromptParams } from "./prompt.js";

export interface PromptSampleOptions {
  /** Seed of the sampling noise. Default 0. */
  seed?: number;
  /** Guidance scale g (1 = conditional model alone, 0 = unconditional). Default: the config's. */
  guidance?: number;
  /** Temperature (0 = greedy). Default: the config's. */
  temperature?: number;
  /** MaskGIT iterations. Default: the config's `sampleSteps`. */
  steps?: number;
}

type LogitsFn = (p: PromptParams, words: np.Array, tokens: np.Array, mask: np.Array, g: np.Array) => np.Array;

export class PromptSampler {
  private readonly params: PromptParams;
  private readonly guided: OwnedFunction<LogitsFn>;
  private readonly plain: OwnedFunction<LogitsFn>;

  /** Borrows the params (takes its own references); `dispose()` releases them. */
  constructor(params: PromptParams, readonly config: PromptConfig) {
    this.params = keep(params);
    const cfg = config;
    this.guided = jit(((p: PromptParams, words: np.Array, tokens: np.Array, mask: np.Array, g: np.Array) => {
      const B = tokens.shape[0];
      const both = promptLogits(p, words, np.concatenate([tokens.ref, tokens], 0), np.concatenate([mask.ref, mask], 0), cfg, true);
      const cond = both.ref.slice([0, B]);
      const uncond = both.slice([B, 2 * B]);
      return uncond.ref.add(cond.sub(uncond).mul(g));
    }) as never) as unknown as OwnedFunction<LogitsFn>;
    this.plain = jit(((p: PromptParams, words: np.Array, tokens: np.Array, mask: np.Array, g: np.Array) => {
      g.dispose();
      return promptLogits(p, words, tokens, mask, cfg, true);
    }) as never) as unknown as OwnedFunction<LogitsFn>;
  }

  /** One frame of N tokens per caption: B·N token ids, caption-major. */
  async sample(captions: readonly string[], opts: PromptSampleOptions = {}): Promise<Int32Array> {
    const cfg = this.config;
    const B = captions.length;
    const N = cfg.tokensPerFrame;
    const L = cfg.maxWords;
    const g = opts.guidance ?? cfg.guidance;
    const temperature = opts.temperature ?? cfg.temperature;
    const schedule = maskgitSchedule(N, opts.steps ?? cfg.sampleSteps);
    const guide = g !== 1;
    const ids = new Int32Array((guide ? 2 : 1) * B * L);
    captions.forEach((c, b) => {
      ids.set(encodeCaption(cfg.vocab, c, L), b * L);
      if (guide) ids.set(nullCaption(L), (B + b) * L);
    });
    let tokens = np.zeros([B, N], { dtype: np.int32 });
    let mask = boolArray(new Uint8Array(B * N).fill(1), [B, N]);
    const keys = splitKey(makeKey(opts.seed ?? 0), schedule.length);
    const fn = guide ? this.guided : this.plain;
    for (const [i, hiddenAfter] of schedule.entries()) {
      const words = np.array(ids, { shape: [(guide ? 2 : 1) * B, L], dtype: np.int32 });
      const logits = fn(keep(this.params), words, tokens.ref, mask.ref, np.array(g));
      const r = maskgitIteration(logits, tokens, mask, gumbelNoise(keys[i], [B, N, cfg.codes]), temperature, hiddenAfter);
      // Read the iteration's result back and start the next from host arrays: left lazy, the
      // chain of iterations grows into one expression whose evaluation overflows wasm memory.
      const tk = (await r.tokens_BN.data()) as Int32Array;
      const hidden = (await r.mask_BN.data()) as unknown as ArrayLike<number | boolean>;
      tokens = np.array(tk, { shape: [B, N], dtype: np.int32 });
      mask = boolArray(Array.from(hidden, (v) => (v ? 1 : 0)), [B, N]);
    }
    mask.dispose();
    return (await tokens.data()) as Int32Array;
  }

  dispose(): void {
    this.guided.dispose();
    this.plain.dispose();
    tree.dispose(this.params as unknown as ParamTree);
  }
}
