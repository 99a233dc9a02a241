/**
 * Imagine first frames from text: the prompt model samples each caption's N tokens
 * (src/models/prompt-sample.ts) and the tokenizer decodes them, each frame on its own (a clip
 * of one frame, as a session's first frame is decoded). No Node imports: the session and the
 * browser player use it too.
 *
 * Dimension keys: B captions · N tokens per frame · H,W,C pixels.
 */
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { keep } from "../core/refs.js";
import type { ParamTree } from "../core/tree-names.js";
import { PromptSampler } from "../models/prompt-sample.js";
import type { PromptSampleOptions } from "../models/prompt-sample.js";
import { detokenize } from "../models/tokenizer.js";
import type { TokenizerParams } from "../models/tokenizer.js";
import type { LoadedPrompt, LoadedTokenizer } from "./world-types.js";

export interface ImaginedFrames {
  /** B·N tokens. */
  tokens: Int32Array;
  /** B·H·W·C decoded values in [0, 1] (C = the tokenizer's channels). */
  pixels: Float32Array;
}

/** A prompt model and a tokenizer, ready to turn captions into frames; borrows both (its own references). */
export class Imaginer {
  private readonly sampler: PromptSampler;
  private readonly tok: TokenizerParams;
  private readonly codebook: np.Array;
  private readonly decode: OwnedFunction<(p: TokenizerParams, cb: np.Array, t: np.Array) => np.Array>;

  constructor(prompt: LoadedPrompt, readonly tokenizer: Pick<LoadedTokenizer, "params" | "codebook_KD" | "config">) {
    const tc = tokenizer.config;
    const N = (tc.height / tc.patch) * (tc.width / tc.patch);
    if (N !== prompt.config.tokensPerFrame || tc.codes !== prompt.config.codes) {
      throw new Error(`imagine: prompt model ${prompt.source} makes ${prompt.config.tokensPerFrame} tokens of ${prompt.config.codes} codes; the tokenizer has ${N} of ${tc.codes}`);
    }
    this.sampler = new PromptSampler(prompt.params, prompt.config);
    this.tok = keep(tokenizer.params);
    this.codebook = tokenizer.codebook_KD.ref;
    this.decode = jit(((p: TokenizerParams, cb: np.Array, t: np.Array) => detokenize(p, cb, t, tc)) as never) as unknown as OwnedFunction<(p: TokenizerParams, cb: np.Array, t: np.Array) => np.Array>;
  }

  /** The default sampling settings (guidance, steps, temperature) of the prompt model. */
  get config() {
    return this.sampler.config;
  }

  /** One frame per caption; the same captions and seed give the same frames. */
  async imagine(captions: readonly string[], opts: PromptSampleOptions = {}): Promise<ImaginedFrames> {
    const B = captions.length;
    const N = this.sampler.config.tokensPerFrame;
    const tokens = await this.sampler.sample(captions, opts);
    const t = np.array(tokens, { shape: [B, 1, N], dtype: np.int32 });
    const pixels = (await this.decode(keep(this.tok), this.codebook.ref, t).data()) as Float32Array;
    return { tokens, pixels };
  }

  dispose(): void {
    this.sampler.dispose();
    this.decode.dispose();
    this.codebook.dispose();
    tree.dispose(this.tok as unknown as ParamTree);
  }
}
