/**
 * WorldSession: play a learned world one frame at a time (one API for the CLI and the player).
 *
 *   const s = new WorldSession(await loadWorld("models/default"), { seed: 1 });
 *   await s.start({ frames, count: 4 });        // or { image } (one RGB frame)
 *   const f = await s.step("right");            // { rgb, depth, tokens, ms }
 *   s.reset();                                  // back to just after start, same seed
 *
 * Each step samples the new frame's tokens with MaskGIT (`sampleSteps` passes of the dynamics
 * over the new frame only, against the per-layer temporal KV caches of the past frames; the
 * iteration is src/world/sampling.ts), then one more pass with the final tokens, whose cache
 * rows are kept: the cache then holds exactly what the full block-causal forward over unmasked
 * frames computes. The sampling passes discard what they append. The tokenizer decoder is
 * stepped the same way (src/world/frame-decoder.ts).
 *
 * Backends (`backend`): "ort" (default in Node) runs the passes as exported ONNX graphs on
 * onnxruntime, optionally with int8 weights (session-ort.ts; onnxruntime-node, or the module in
 * `ort`: the browser player passes onnxruntime-web); "jax" runs them jitted on jax-js
 * (session-jax.ts), the browser's fallback. Both sample the same tokens from the same seed.
 *
 * Bounded: both stacks trim their caches to their window (the dynamics' `timeWindow`, the
 * decoder's `decoderWindow`), so cost per step and memory are flat however long the session
 * runs. Seeded: the noise of step i comes from (seed, i) (host-side uniforms), so the same seed and actions give
 * the same frames, also after `reset()`.
 *
 * `start({ image })`: an RGB frame has no depth; the depth channel is filled with zeros (not
 * predicted) before tokenizing, and the decoded depth of later frames is the model's own.
 */
import { np, tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { codeCount, modelAction } from "../models/dynamics.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import { maskgitSchedule } from "../models/maskgit.js";
import type { MaskgitScheduleKind } from "../models/maskgit.js";
import { tokenize } from "../models/tokenizer.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import { JaxStepper } from "./session-jax.js";
import { OrtStepper } from "./session-ort.js";
import type { OrtModule } from "../onnx/runtime-core.js";
import { frameUniforms } from "./sampling.js";
import type { LoadedPrompt, LoadedWorld } from "./world-types.js";
import { keep } from "../core/refs.js";
import { Imaginer } from "./imagine.js";

/** Where the passes run: jax-js (wasm / WebGPU, everywhere) or onnxruntime (node or web, 4–6× faster). */
export type SessionBackend = "jax" | "ort";

/** Frames the tokenizer decoder attends to by default (its training clip length). */
export const DECODER_WINDOW = 4;

export interface SessionOptions {
  /** Seed of the sampling noise. Default 0. */
  seed?: number;
  /** MaskGIT passes per frame. Default: the dynamics config's `sampleSteps`. */
  sampleSteps?: number;
  /** How the hidden tokens shrink over the passes (maskgit.ts). Default: the dynamics config's `sampleSchedule`. */
  sampleSchedule?: MaskgitScheduleKind;
  /** Sampling temperature (0 = greedy). Default: the dynamics config's `temperature`. */
  temperature?: number;
  /** MaskGIT choice temperature (sampling.ts; 0 = off; used at temperature > 0). Default: the dynamics config's `choiceTemperature`. */
  choiceTemperature?: number;
  /** Frames the tokenizer decoder attends to (its training clip length). Default DECODER_WINDOW (4). */
  decoderWindow?: number;
  /** Compile the passes with jit (per cache length; jax backend). Default true. */
  jit?: boolean;
  /** Default: "ort" in Node (onnxruntime-node is a dependency), "jax" elsewhere (the browser). */
  backend?: SessionBackend;
  /** int8 weights in the matmuls (ort backend only). Default false. */
  int8?: boolean;
  /** onnxruntime intra-op threads (ort backend). Default 1 (measured fastest for a step). */
  threads?: number;
  /** The onnxruntime of the ort backend. Default onnxruntime-node (Node only); the browser passes onnxruntime-web. */
  ort?: OrtModule;
  /** onnxruntime execution providers in order of preference (ort backend). Default: the runtime's own. */
  executionProviders?: string[];
  /**
   * Whether onnxruntime's idle intra-op threads spin (ort backend, threads > 1). Default false:
   * in Node at 2 threads a spinning thread took the core the session's own thread needed
   * (1.5× slower); in headless chromium (wasm) it measured both slower and faster between runs,
   * so the browser player leaves it off too (`?spin=1` turns it on).
   */
  spinning?: boolean;
}

/**
 * The passes of a session on one backend (session-jax.ts, session-ort.ts); the per-layer KV
 * caches of the dynamics and of the decoder live inside.
 */
export interface FrameStepper {
  /** Append a frame with known tokens to the dynamics caches. */
  commit(tokens: Int32Array, code: number): Promise<void>;
  /**
   * Sample the next frame's N tokens, then commit them. `uniforms`: passes × N values in (0, 1),
   * row i for MaskGIT pass i (sampling.ts), then passes × N more for the choice noise when the
   * choice temperature is on; null at temperature 0.
   */
  sample(code: number, uniforms: Float32Array | null): Promise<Int32Array>;
  /** Decode a frame (H·W·C values in [0, 1]), appending it to the decoder caches. */
  decode(tokens: Int32Array): Promise<Float32Array>;
  /** Frames held by the first layer's cache of each stack (real frames, not a padded cache's empty slots). */
  cacheFrames(): { dynamics: number; decoder: number };
  /** Drop the caches (back to no frames). */
  clear(): void;
  /** Where the time of the steps since the last call went (ms per part), if the stepper keeps count. */
  timings?(): Record<string, number>;
  /** Get every pass ready now (compile what would otherwise compile on first use), if the stepper compiles; `decoder: false` skips the decoder's. */
  prepare?(opts?: { decoder?: boolean }): Promise<void>;
  dispose(): void | Promise<void>;
}

/** What a stepper reads: the session's arrays, borrowed (it takes its own references per use). */
export interface StepperParts {
  tokenizer: TokenizerParams;
  codebook_KD: np.Array;
  tokenizerConfig: TokenizerConfig;
  dynamics: DynamicsParams;
  dynamicsConfig: DynamicsConfig;
}

/**
 * onnxruntime-node's binding (src/onnx/runtime.ts) by a variable specifier, so that bundlers (the
 * web player) and the browser typecheck do not follow it into the native addon; only Node reaches it.
 */
const NODE_RUNTIME_MODULE = "../onnx/runtime.js";

/** True under Node (where onnxruntime-node is installed with worldkit). */
function inNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";
}

/** Frames to start from: T·H·W·C values in [0, 1] (C = the tokenizer's channels), T = count. */
export interface FramesInput {
  frames: Float32Array;
  count: number;
  /** Action code (or name) that led into each frame; default "none" for all. */
  actions?: (number | string)[];
  /** The frames' tokens (count × N) under this world's tokenizer, when known: the start skips the encoder. */
  tokens?: Int32Array;
}

/**
 * A text prompt: the world's prompt model (prompt.safetensors) imagines the first frame
 * (src/world/imagine.ts), and the session starts from it as from an image.
 */
export interface PromptInput {
  prompt: string;
  /** Seed of the prompt model's sampling noise. Default: the session's seed. */
  seed?: number;
  /** Classifier-free guidance scale (1 = none). Default: the prompt model's. */
  guidance?: number;
}

/** One frame: H·W·3 RGB or H·W·C in [0, 1]; a missing depth channel becomes zeros. */
export interface ImageInput {
  image: Float32Array;
}

export interface StepResult {
  /** H·W·3 bytes. */
  rgb: Uint8Array;
  /** H·W depth in [0, 1] (null for RGB-only worlds). */
  depth: Float32Array | null;
  /** H·W·C decoded values in [0, 1], what rgb and depth are made of (C = the tokenizer's channels). */
  pixels: Float32Array;
  /** The frame's N tokens. */
  tokens: Int32Array;
  /** Wall time of the step, milliseconds. */
  ms: number;
}

export class WorldSession {
  readonly tokenizerConfig: TokenizerConfig;
  readonly dynamicsConfig: DynamicsConfig;
  readonly actionMap: Record<string, number> | null;
  /** The backend the passes run on. */
  readonly backend: SessionBackend;
  private readonly tok: TokenizerParams;
  private readonly codebook: np.Array;
  private readonly dyn: DynamicsParams;
  private readonly opts: Required<Omit<SessionOptions, "threads" | "ort" | "executionProviders" | "spinning">> & Pick<SessionOptions, "threads" | "ort" | "executionProviders" | "spinning">;
  private readonly schedule: number[];
  private stepper: FrameStepper | null = null;
  private started: FramesInput | null = null;
  private stepIndex = 0;
  /** The prompt model (own references), or null when the world has none. */
  private readonly prompt: LoadedPrompt | null;
  private readonly source: string;
  private imaginer: Imaginer | null = null;

  /** Borrows the world's arrays (takes its own references); `dispose()` releases them. */
  constructor(world: LoadedWorld, opts: SessionOptions = {}) {
    this.source = world.source;
    this.prompt = world.prompt ? { ...world.prompt, params: keep(world.prompt.params) } : null;
    this.tokenizerConfig = world.tokenizer.config;
    this.dynamicsConfig = world.dynamics.config;
    this.actionMap = world.actionMap;
    const d = this.dynamicsConfig;
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as SessionOptions;
    this.opts = { seed: 0, sampleSteps: d.sampleSteps, sampleSchedule: d.sampleSchedule, temperature: d.temperature, choiceTemperature: d.choiceTemperature ?? 0, decoderWindow: DECODER_WINDOW, jit: true, backend: inNode() ? "ort" : "jax", int8: false, ...given };
    this.backend = this.opts.backend;
    if (this.backend !== "jax" && this.backend !== "ort") throw new Error(`session: backend must be "jax" or "ort", got "${String(this.backend)}"`);
    if (!(this.opts.choiceTemperature >= 0)) throw new Error(`session: choiceTemperature must be ≥ 0, got ${String(this.opts.choiceTemperature)}`);
    if (this.opts.int8 && this.backend !== "ort") throw new Error("session: int8 needs the ort backend (jax-js has no int8 path)");
    if (this.backend === "ort" && !inNode() && !this.opts.ort) throw new Error("session: the ort backend outside Node needs an onnxruntime module (options.ort: onnxruntime-web), or use backend \"jax\"");
    this.schedule = maskgitSchedule(d.tokensPerFrame, this.opts.sampleSteps, this.opts.sampleSchedule);
    this.tok = keep(world.tokenizer.params);
    this.codebook = world.tokenizer.codebook_KD.ref;
    this.dyn = keep(world.dynamics.params);
  }

  /** Number of latent action codes A (0..A−1; the LAM's codes also when the model groups them, DynamicsConfig.actionGroups). */
  get actionCount(): number {
    return codeCount(this.dynamicsConfig);
  }

  /** Frames held by the caches now (the first layer of each stack), to check they stay bounded. */
  cacheFrames(): { dynamics: number; decoder: number } {
    return this.stepper?.cacheFrames() ?? { dynamics: 0, decoder: 0 };
  }

  /** Milliseconds per part of the steps since the last call (ort: noise, sample, decode), or null. */
  timings(): Record<string, number> | null {
    return this.stepper?.timings?.() ?? null;
  }

  /** The action code of a key name or code; "none"/undefined = the no-action code A. */
  actionCode(action: number | string | undefined): number {
    const A = codeCount(this.dynamicsConfig);
    if (action === undefined || action === "none") return A;
    if (typeof action === "number") {
      if (!Number.isInteger(action) || action < 0 || action > A) throw new Error(`session: action code ${action} outside 0..${A - 1} (or ${A} = none)`);
      return action;
    }
    if (this.actionMap && action in this.actionMap) return this.actionMap[action];
    if (/^\d+$/.test(action)) return this.actionCode(Number(action));
    const known = this.actionMap ? Object.keys(this.actionMap).join(", ") : `codes 0..${A - 1} (this world has no actions.json)`;
    throw new Error(`session: unknown action "${action}" (known: ${known})`);
  }

  /** Start (or restart) from context frames, one image or a text prompt. Returns the last context frame, decoded. */
  async start(input: FramesInput | ImageInput | PromptInput): Promise<StepResult> {
    this.started = await this.startFrames(input);
    return this.replay();
  }

  /** Back to the state just after `start`, with the step counter (and so the noise) rewound. */
  async reset(): Promise<StepResult> {
    if (!this.started) throw new Error("session.reset: call start() first");
    return this.replay();
  }

  /**
   * The dynamics half of `start`, for a caller that decodes elsewhere (the browser player's second
   * worker, with an OrtDecoder): the start frames' tokens in order, for that decoder to decode
   * after clearing its cache. This session's own decoder is left as it was, so a session driven
   * by startTokens / resetTokens / stepTokens should not also be stepped with step().
   */
  async startTokens(input: FramesInput | ImageInput | PromptInput): Promise<Int32Array[]> {
    this.started = await this.startFrames(input);
    return (await this.commitStart(false)).tokens;
  }

  /** The dynamics half of `reset` (see startTokens). */
  async resetTokens(): Promise<Int32Array[]> {
    if (!this.started) throw new Error("session.resetTokens: call startTokens() first");
    return (await this.commitStart(false)).tokens;
  }

  /** The dynamics half of `step`: the next frame's tokens (see startTokens). */
  async stepTokens(action: number | string): Promise<Int32Array> {
    if (!this.started || !this.stepper) throw new Error("session.stepTokens: call startTokens() first");
    return this.sampleNext(action);
  }

  private async startFrames(input: FramesInput | ImageInput | PromptInput): Promise<FramesInput> {
    const c = this.tokenizerConfig;
    const frame = c.height * c.width * c.channels;
    if ("prompt" in input) {
      if (!this.prompt) throw new Error(`session.start: ${this.source} has no prompt model (prompt.safetensors); add one with worldkit pack --prompt RUN`);
      this.imaginer ??= new Imaginer(this.prompt, { params: this.tok, codebook_KD: this.codebook, config: this.tokenizerConfig });
      const r = await this.imaginer.imagine([input.prompt], { seed: input.seed ?? this.opts.seed, guidance: input.guidance });
      return { frames: r.pixels, count: 1 };
    }
    if ("image" in input) {
      const px = c.height * c.width;
      const ch = input.image.length / px;
      if (ch !== 3 && ch !== c.channels) throw new Error(`session.start: image has ${input.image.length} values; expected ${c.height}×${c.width}×3 or ×${c.channels}`);
      const x = new Float32Array(frame);
      for (let i = 0; i < px; i++) for (let k = 0; k < Math.min(ch, c.channels); k++) x[i * c.channels + k] = input.image[i * ch + k];
      return { frames: x, count: 1 };
    }
    if (input.frames.length !== input.count * frame) {
      throw new Error(`session.start: ${input.frames.length} values for ${input.count} frames of ${c.height}×${c.width}×${c.channels}`);
    }
    if (input.tokens && input.tokens.length !== input.count * this.dynamicsConfig.tokensPerFrame) {
      throw new Error(`session.start: ${input.tokens.length} tokens for ${input.count} frames of ${this.dynamicsConfig.tokensPerFrame}`);
    }
    return { ...input }; // our own: commitStart keeps the tokens it computes in it
  }

  private async replay(): Promise<StepResult> {
    const t0 = performance.now();
    const { tokens, pixels } = await this.commitStart(true);
    return this.result(pixels!, tokens[tokens.length - 1], t0);
  }

  /**
   * Back to the started frames: caches cleared, step counter rewound, the frames tokenized once
   * (or their stored tokens taken; a reset reuses them) and committed; with `decode`, each also
   * decoded. Returns the frames' tokens and, with `decode`, the last one's pixels.
   */
  private async commitStart(decode: boolean): Promise<{ tokens: Int32Array[]; pixels: Float32Array | null }> {
    const c = this.tokenizerConfig;
    const input = this.started!;
    const stepper = await this.ensureStepper();
    await stepper.prepare?.({ decoder: decode }); // so the first step after the start does not stall on a compile
    stepper.clear();
    this.stepIndex = 0;
    const N = this.dynamicsConfig.tokensPerFrame;
    const T = input.count;
    input.tokens ??= (await tokenize(keep(this.tok), this.codebook.ref, np.array(input.frames, { shape: [1, T, c.height, c.width, c.channels] }), c).data()) as Int32Array;
    const tokens: Int32Array[] = [];
    let pixels: Float32Array | null = null;
    for (let t = 0; t < T; t++) {
      const tk = input.tokens.slice(t * N, (t + 1) * N);
      await stepper.commit(tk, modelAction(this.dynamicsConfig, this.actionCode(input.actions?.[t])));
      if (decode) pixels = await stepper.decode(tk);
      tokens.push(tk);
    }
    stepper.timings?.(); // the start is not a step
    return { tokens, pixels };
  }

  /** Generate the next frame under `action` (a code 0..A−1 or a key name from actions.json). */
  async step(action: number | string): Promise<StepResult> {
    if (!this.started || !this.stepper) throw new Error("session.step: call start() first");
    const t0 = performance.now();
    const tk = await this.sampleNext(action);
    return this.result(await this.stepper.decode(tk), tk, t0);
  }

  private async sampleNext(action: number | string): Promise<Int32Array> {
    const code = modelAction(this.dynamicsConfig, this.actionCode(action));
    const noiseSeed = (Math.imul(this.opts.seed + 1, 0x9e3779b1) ^ Math.imul(this.stepIndex + 1, 0x85ebca77)) | 0;
    this.stepIndex++;
    const uniforms = this.opts.temperature > 0 ? frameUniforms(noiseSeed, this.schedule.length, this.dynamicsConfig.tokensPerFrame, this.opts.choiceTemperature > 0) : null;
    return this.stepper!.sample(code, uniforms);
  }

  /** Free the session's references and compiled functions (onnxruntime sessions are released in the background). */
  dispose(): void {
    const stepper = this.stepper;
    this.stepper = null;
    this.imaginer?.dispose();
    this.imaginer = null;
    if (this.prompt) tree.dispose(this.prompt.params as unknown as ParamTree);
    const done = stepper?.dispose();
    if (done) done.catch((e: unknown) => console.error(`session: releasing onnxruntime sessions failed: ${String(e)}`));
    tree.dispose(this.tok as unknown as ParamTree);
    tree.dispose(this.dyn as unknown as ParamTree);
    this.codebook.dispose();
  }

  /** The stepper of the chosen backend, made on first use (the ort one is loaded then). */
  private async ensureStepper(): Promise<FrameStepper> {
    if (this.stepper) return this.stepper;
    const parts: StepperParts = { tokenizer: this.tok, codebook_KD: this.codebook, tokenizerConfig: this.tokenizerConfig, dynamics: this.dyn, dynamicsConfig: this.dynamicsConfig };
    const o = this.opts;
    const common = { schedule: this.schedule, temperature: o.temperature, choiceTemperature: o.choiceTemperature, decoderWindow: o.decoderWindow };
    if (this.backend === "jax") this.stepper = new JaxStepper(parts, { ...common, jit: o.jit });
    else {
      let { ort } = o;
      // One thread: a step is ~2,000 small ops, which a second thread slows down more than it
      // splits (2-core machine, default world: 33 ms at 1 thread, 35 ms at 2, bench/RESULTS.md).
      const threads = o.threads ?? 1;
      if (!ort) {
        ort = ((await import(/* @vite-ignore */ NODE_RUNTIME_MODULE)) as { nodeOrt: OrtModule }).nodeOrt;
      }
      this.stepper = new OrtStepper(parts, { ...common, ort, int8: o.int8, threads, executionProviders: o.executionProviders, spinning: o.spinning });
    }
    return this.stepper;
  }

  private result(px: Float32Array, tokens: Int32Array, t0: number): StepResult {
    return stepResult(px, tokens, this.tokenizerConfig, performance.now() - t0);
  }
}

/** A decoded frame (H·W·C values in [0, 1]) as a step's result: RGB bytes, depth apart (4 channels). */
export function stepResult(px: Float32Array, tokens: Int32Array, c: Pick<TokenizerConfig, "height" | "width" | "channels">, ms: number): StepResult {
  const HW = c.height * c.width;
  const rgb = new Uint8Array(HW * 3);
  const depth = c.channels === 4 ? new Float32Array(HW) : null;
  for (let i = 0; i < HW; i++) {
    for (let k = 0; k < 3; k++) rgb[i * 3 + k] = Math.round(px[i * c.channels + k] * 255);
    if (depth) depth[i] = px[i * 4 + 3];
  }
  return { rgb, depth, pixels: px, tokens, ms };
}
