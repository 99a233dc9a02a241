/**
 * WorldSession: play a learned world one frame at a time (one API for the CLI and the player).
 *
 *   const s = new WorldSession(await loadWorld("models/default"), { seed: 1 });
 *   await s.start({ frames, count: 4 });        // or { image } (one RGB frame)
 *   const f = await s.step("right");            // { rgb, depth, tokens, ms }
 *   s.reset();                                  // back to just after start, same seed
 *
 * Each step samples the new frame's tokens with MaskGIT (`sampleSteps` passes of the dynamics
 * over the new frame only, against the per-layer temporal KV caches of the past frames), then
 * one more pass with the final tokens, whose cache rows are kept: the cache then holds exactly
 * what the full block-causal forward over unmasked frames computes. The sampling passes use a
 * reference to the old caches and discard what they append. The tokenizer decoder is stepped
 * the same way (src/world/frame-decoder.ts).
 *
 * Bounded: both stacks trim their caches to their window (the dynamics' `timeWindow`, the
 * decoder's `decoderWindow`), so cost per step and memory are flat however long the session
 * runs. Seeded: the noise of step i comes from (seed, i), so the same seed and actions give
 * the same frames, also after `reset()`.
 *
 * `start({ image })`: an RGB frame has no depth; the depth channel is filled with zeros (not
 * predicted) before tokenizing, and the decoded depth of later frames is the model's own.
 */
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { makeKey, splitKey } from "../core/keys.js";
import type { ParamTree } from "../core/tree-names.js";
import type { KVCache } from "../nn/attention.js";
import { boolArray, dynamicsStep } from "../models/dynamics.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import { gumbelNoise, maskgitIteration, maskgitSchedule } from "../models/maskgit.js";
import { tokenize } from "../models/tokenizer.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import { decodeFrameStep, decoderHalf } from "./frame-decoder.js";
import type { DecoderParams } from "./frame-decoder.js";
import type { LoadedWorld } from "./world-types.js";
import { keep } from "../core/refs.js";

export interface SessionOptions {
  /** Seed of the sampling noise. Default 0. */
  seed?: number;
  /** MaskGIT passes per frame. Default: the dynamics config's `sampleSteps`. */
  sampleSteps?: number;
  /** Sampling temperature (0 = greedy). Default: the dynamics config's `temperature`. */
  temperature?: number;
  /** Frames the tokenizer decoder attends to (its training clip length). Default 4. */
  decoderWindow?: number;
  /** Compile the passes with jit (per cache length). Default true. */
  jit?: boolean;
}

/** Frames to start from: T·H·W·C values in [0, 1] (C = the tokenizer's channels), T = count. */
export interface FramesInput {
  frames: Float32Array;
  count: number;
  /** Action code (or name) that led into each frame; default "none" for all. */
  actions?: (number | string)[];
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
  /** The frame's N tokens. */
  tokens: Int32Array;
  /** Wall time of the step, milliseconds. */
  ms: number;
}

type Decode = (p: DecoderParams, codebook_KD: np.Array, tokens_BN: np.Array, caches: KVCache[] | null) => { x_BHWC: np.Array; caches: KVCache[] };
type Iteration = (logits_BNK: np.Array, tokens_BN: np.Array, mask_BN: np.Array, gumbel_BNK: np.Array) => { tokens_BN: np.Array; mask_BN: np.Array };
type Pass = (p: DynamicsParams, tokens: np.Array, action: np.Array, mask: np.Array, caches: KVCache[] | null) => { logits_BNK: np.Array; caches: KVCache[] };

export class WorldSession {
  readonly tokenizerConfig: TokenizerConfig;
  readonly dynamicsConfig: DynamicsConfig;
  readonly actionMap: Record<string, number> | null;
  private readonly tok: TokenizerParams;
  private readonly codebook: np.Array;
  private readonly dyn: DynamicsParams;
  private readonly opts: Required<SessionOptions>;
  private readonly schedule: number[];
  private dynCaches: KVCache[] | null = null;
  private decCaches: KVCache[] | null = null;
  private started: FramesInput | null = null;
  private stepIndex = 0;
  private readonly pass: Pass;
  private readonly iterations = new Map<number, Iteration>();
  private readonly decode: Decode;
  private readonly disposers: (() => void)[] = [];

  /** Borrows the world's arrays (takes its own references); `dispose()` releases them. */
  constructor(world: LoadedWorld, opts: SessionOptions = {}) {
    this.tokenizerConfig = world.tokenizer.config;
    this.dynamicsConfig = world.dynamics.config;
    this.actionMap = world.actionMap;
    this.tok = keep(world.tokenizer.params);
    this.codebook = world.tokenizer.codebook_KD.ref;
    this.dyn = keep(world.dynamics.params);
    const d = this.dynamicsConfig;
    const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as SessionOptions;
    this.opts = { seed: 0, sampleSteps: d.sampleSteps, temperature: d.temperature, decoderWindow: 4, jit: true, ...given };
    this.schedule = maskgitSchedule(d.tokensPerFrame, this.opts.sampleSteps);
    const pass: Pass = (p, tokens, action, mask, caches) => dynamicsStep(p, tokens, action, mask, caches, d);
    const tc = this.tokenizerConfig;
    const window = this.opts.decoderWindow;
    const decode: Decode = (p, codebook, tokens, caches) => decodeFrameStep(p, codebook, tokens, caches, tc, window);
    if (this.opts.jit) {
      const jp = jit(pass as never) as unknown as OwnedFunction<Pass>;
      const jd = jit(decode as never) as unknown as OwnedFunction<Decode>;
      this.disposers.push(() => jp.dispose(), () => jd.dispose());
      // jit takes trees of arrays, not null: the first frame (no cache yet) runs eagerly.
      this.pass = (p, t, a, m, c) => (c ? jp(p, t, a, m, c) : pass(p, t, a, m, c));
      this.decode = (p, cb, t, c) => (c ? jd(p, cb, t, c) : decode(p, cb, t, c));
    } else {
      this.pass = pass;
      this.decode = decode;
    }
  }

  /** Number of latent actions A (codes 0..A−1). */
  get actionCount(): number {
    return this.dynamicsConfig.actions;
  }

  /** Frames held by the caches now (the first layer of each stack), to check they stay bounded. */
  cacheFrames(): { dynamics: number; decoder: number } {
    return { dynamics: this.dynCaches?.[0].k.shape[2] ?? 0, decoder: this.decCaches?.[0].k.shape[2] ?? 0 };
  }

  /** The action code of a key name or code; "none"/undefined = the no-action code A. */
  actionCode(action: number | string | undefined): number {
    const A = this.dynamicsConfig.actions;
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

  /** Start (or restart) from context frames or one image. Returns the last context frame, decoded. */
  async start(input: FramesInput | ImageInput): Promise<StepResult> {
    const c = this.tokenizerConfig;
    const frame = c.height * c.width * c.channels;
    let frames: FramesInput;
    if ("image" in input) {
      const px = c.height * c.width;
      const ch = input.image.length / px;
      if (ch !== 3 && ch !== c.channels) throw new Error(`session.start: image has ${input.image.length} values; expected ${c.height}×${c.width}×3 or ×${c.channels}`);
      const x = new Float32Array(frame);
      for (let i = 0; i < px; i++) for (let k = 0; k < Math.min(ch, c.channels); k++) x[i * c.channels + k] = input.image[i * ch + k];
      frames = { frames: x, count: 1 };
    } else {
      frames = input;
      if (frames.frames.length !== frames.count * frame) {
        throw new Error(`session.start: ${frames.frames.length} values for ${frames.count} frames of ${c.height}×${c.width}×${c.channels}`);
      }
    }
    this.started = frames;
    return this.replay();
  }

  /** Back to the state just after `start`, with the step counter (and so the noise) rewound. */
  async reset(): Promise<StepResult> {
    if (!this.started) throw new Error("session.reset: call start() first");
    return this.replay();
  }

  private async replay(): Promise<StepResult> {
    const t0 = performance.now();
    const c = this.tokenizerConfig;
    const input = this.started!;
    this.clearCaches();
    this.stepIndex = 0;
    const N = this.dynamicsConfig.tokensPerFrame;
    const T = input.count;
    const x = np.array(input.frames, { shape: [1, T, c.height, c.width, c.channels] });
    const tokens_TN = (await tokenize(this.tokRef(), this.codebook.ref, x, c).data()) as Int32Array;
    let last: { x: np.Array; tokens: Int32Array } | null = null;
    for (let t = 0; t < T; t++) {
      const tk = tokens_TN.slice(t * N, (t + 1) * N);
      this.commit(tk, this.actionCode(input.actions?.[t]));
      last?.x.dispose();
      last = { x: this.decodeNext(tk), tokens: tk };
    }
    return this.result(last!.x, last!.tokens, t0);
  }

  /** Generate the next frame under `action` (a code 0..A−1 or a key name from actions.json). */
  async step(action: number | string): Promise<StepResult> {
    if (!this.started) throw new Error("session.step: call start() first");
    const t0 = performance.now();
    const d = this.dynamicsConfig;
    const N = d.tokensPerFrame;
    const code = this.actionCode(action);
    const keys = splitKey(makeKey((Math.imul(this.opts.seed + 1, 0x9e3779b1) ^ Math.imul(this.stepIndex + 1, 0x85ebca77)) | 0), this.schedule.length);
    this.stepIndex++;
    let tokens = np.zeros([1, N], { dtype: np.int32 });
    let mask = boolArray(new Uint8Array(N).fill(1), [1, N]);
    for (let i = 0; i < this.schedule.length; i++) {
      const r = this.pass(this.dynRef(), tokens.ref, np.array([code], { shape: [1], dtype: np.int32 }), mask.ref, this.dynCaches ? (tree.ref(this.dynCaches as never) as KVCache[]) : null);
      tree.dispose(r.caches as never);
      const noise = gumbelNoise(keys[i], [1, N, d.codes]);
      ({ tokens_BN: tokens, mask_BN: mask } = this.iteration(this.schedule[i])(r.logits_BNK, tokens, mask, noise));
    }
    mask.dispose();
    const tk = (await tokens.data()) as Int32Array;
    this.commit(tk, code);
    return this.result(this.decodeNext(tk), tk, t0);
  }

  /** Free the session's references and compiled functions. */
  dispose(): void {
    this.clearCaches();
    tree.dispose(this.tok as unknown as ParamTree);
    tree.dispose(this.dyn as unknown as ParamTree);
    this.codebook.dispose();
    for (const f of this.disposers) f();
  }

  /** The iteration that leaves `hiddenAfter` tokens hidden (jitted once per schedule entry). */
  private iteration(hiddenAfter: number): Iteration {
    let f = this.iterations.get(hiddenAfter);
    if (!f) {
      const temperature = this.opts.temperature;
      const g: Iteration = (l, t, m, n) => maskgitIteration(l, t, m, n, temperature, hiddenAfter);
      if (this.opts.jit) {
        const jg = jit(g as never) as unknown as OwnedFunction<Iteration>;
        this.disposers.push(() => jg.dispose());
        f = (l, t, m, n) => jg(l, t, m, n);
      } else f = g;
      this.iterations.set(hiddenAfter, f);
    }
    return f;
  }

  /** Append a frame with known tokens to the dynamics caches (the pass whose cache is kept). */
  private commit(tokens: Int32Array, code: number): void {
    const N = this.dynamicsConfig.tokensPerFrame;
    const r = this.pass(
      this.dynRef(),
      np.array(tokens, { shape: [1, N], dtype: np.int32 }),
      np.array([code], { shape: [1], dtype: np.int32 }),
      boolArray(new Uint8Array(N), [1, N]),
      this.dynCaches,
    );
    r.logits_BNK.dispose();
    this.dynCaches = r.caches;
  }

  private decodeNext(tokens: Int32Array): np.Array {
    const r = this.decode(
      keep(decoderHalf(this.tok)),
      this.codebook.ref,
      np.array(tokens, { shape: [1, tokens.length], dtype: np.int32 }),
      this.decCaches,
    );
    this.decCaches = r.caches;
    return r.x_BHWC;
  }

  private async result(x_1HWC: np.Array, tokens: Int32Array, t0: number): Promise<StepResult> {
    const c = this.tokenizerConfig;
    const px = (await x_1HWC.data()) as Float32Array;
    const HW = c.height * c.width;
    const rgb = new Uint8Array(HW * 3);
    const depth = c.channels === 4 ? new Float32Array(HW) : null;
    for (let i = 0; i < HW; i++) {
      for (let k = 0; k < 3; k++) rgb[i * 3 + k] = Math.round(px[i * c.channels + k] * 255);
      if (depth) depth[i] = px[i * 4 + 3];
    }
    return { rgb, depth, tokens, ms: performance.now() - t0 };
  }

  private tokRef(): TokenizerParams {
    return keep(this.tok);
  }

  private dynRef(): DynamicsParams {
    return keep(this.dyn);
  }

  private clearCaches(): void {
    if (this.dynCaches) tree.dispose(this.dynCaches as never);
    if (this.decCaches) tree.dispose(this.decCaches as never);
    this.dynCaches = null;
    this.decCaches = null;
  }
}
