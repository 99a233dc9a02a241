/**
 * The WorldSession's passes on onnxruntime (fp32, or int8 weights): 4–6× faster than jax-js's
 * wasm kernels on a CPU, and int8 about 2× more. Runs on whichever onnxruntime it is given
 * (`ort`: onnxruntime-node in Node, onnxruntime-web in the browser player's worker); nothing here
 * imports either, so the web bundle reaches this file without the native addon.
 *
 * Three graph families, each traced with makeJaxpr and exported once, compiled on first use.
 * Every cache has a fixed length, its window less one (timeWindow − 1 frames for the dynamics,
 * decoderWindow − 1 for the decoder), with the empty slots first and an additive mask input
 * (0 = a real frame, −Infinity = empty; attention.ts `pastMask`) that says which are real, so one
 * graph of each family serves every step. (One graph per cache length instead compiled 4–8
 * graphs while a session started and its context filled: in the browser player each took
 * ~0.6 s, which the first steps of a session spent frozen.) Masked slots get probability exactly
 * 0, so the frames equal the unpadded computation's (test/session-ort.test.ts).
 *
 * - sample: every MaskGIT pass of a new frame, then the commit pass with the final tokens, in one
 *   graph: (action, mask, caches, uniforms per pass) → (tokens, caches with the frame appended
 *   and the oldest slot dropped). One call per step instead of a host round trip per pass; the
 *   sampling is sampling.ts's.
 * - commit: a frame with known tokens (the start's context frames) → caches.
 * - decode: the tokenizer decoder's step (frame-decoder.ts): (tokens, mask, caches) → pixels and
 *   its caches.
 *
 * The params, codebook included, are closed over while tracing, so they are the graph's
 * constants: nothing is copied per call but the caches, and int8 quantisation (which applies to
 * MatMuls with a constant weight, src/onnx/quantize.ts) sees them. Caches live on the host as
 * onnxruntime's own output buffers and are fed straight back (zeros before the first frame).
 *
 * Dimension keys: N tokens per frame · K codebook size · S cached frames · H heads · Dh head width.
 */
import { makeJaxpr, np, tree } from "../core/jax.js";
import { keep } from "../core/refs.js";
import type { KVCache } from "../nn/attention.js";
import { trimCache } from "../nn/attention.js";
import { boolArray, dynamicsStep, prepareDynamicsCaches, slotsPerFrame } from "../models/dynamics.js";
import type { DynamicsParams } from "../models/dynamics.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import { exportJaxpr } from "../onnx/export.js";
import { OrtSession } from "../onnx/runtime-core.js";
import type { HostTensor, OrtModule } from "../onnx/runtime-core.js";
import { decodeFrameStep, decoderHalf } from "./frame-decoder.js";
import { choiceScales, sessionIteration } from "./sampling.js";
import type { FrameStepper, StepperParts } from "./session.js";

export interface OrtStepperOptions {
  /** MaskGIT schedule: tokens still hidden after each pass. */
  schedule: number[];
  temperature: number;
  /** MaskGIT choice temperature (sampling.ts `choiceScales`; 0 = off). */
  choiceTemperature: number;
  decoderWindow: number;
  /** int8 weights in every MatMul with a constant weight (DynamicQuantizeMatMul). */
  int8: boolean;
  /** The onnxruntime the graphs run on (onnxruntime-node or onnxruntime-web). */
  ort: OrtModule;
  /** onnxruntime intra-op threads (default 1; onnxruntime-web reads `ort.env.wasm.numThreads` instead). */
  threads?: number;
  /** Execution providers in order of preference (default: the runtime's own, cpu or wasm). */
  executionProviders?: string[];
  /** Idle intra-op threads spin (default false; session.ts's SessionOptions.spinning). */
  spinning?: boolean;
}

type Graph = (...xs: np.Array[]) => np.Array[];

/**
 * Flat [k0, v0, k1, v1, ...] → per-layer caches sharing the slot mask (inside traced functions;
 * consumes the arrays and the mask).
 */
function toCaches(xs: np.Array[], mask_S: np.Array): KVCache[] {
  const caches = Array.from({ length: xs.length / 2 }, (_, i) => ({ k: xs[2 * i], v: xs[2 * i + 1], pastMask: mask_S.ref }));
  mask_S.dispose();
  return caches;
}
/** Per-layer caches with a new frame appended → flat, the oldest slot dropped so the length stays `slots`. */
const fromCaches = (cs: KVCache[], slots: number): np.Array[] => cs.map((c) => trimCache(c, slots)).flatMap((c) => [c.k, c.v]);

/** A cache of `slots` frames: the slot mask (additive: −Infinity for the empty slots, which come first) and zeros. */
interface HostCache {
  slots: number;
  /** Real frames held (≤ slots). */
  frames: number;
  tensors: HostTensor[];
}

function emptyCache(slots: number, layers: number, N: number, heads: number, headDim: number): HostCache {
  const tensor = (): HostTensor => ({ data: new Float32Array(N * heads * slots * headDim), shape: [N, heads, slots, headDim] });
  return { slots, frames: 0, tensors: Array.from({ length: 2 * layers }, tensor) };
}

function slotMask(c: HostCache): HostTensor {
  return { data: Float32Array.from({ length: c.slots }, (_, i) => (i < c.slots - c.frames ? -Infinity : 0)), shape: [c.slots] };
}

/** The cache after a graph call appended one frame: its new tensors, one more real frame (up to the slots). */
const advanced = (c: HostCache, tensors: HostTensor[]): HostCache => ({ slots: c.slots, frames: Math.min(c.frames + 1, c.slots), tensors });

/** Trace `f` at `examples` (disposed here), export and open an onnxruntime session. */
async function compile(f: Graph, examples: np.Array[], opts: OrtDecoderOptions): Promise<OrtSession> {
  const { jaxpr } = makeJaxpr(f)(...examples);
  tree.dispose(examples);
  const model = exportJaxpr(jaxpr, opts.int8 ? { quantize: "int8" } : {});
  jaxpr.dispose();
  return OrtSession.open(opts.ort, model, { threads: opts.threads, executionProviders: opts.executionProviders, spinning: opts.spinning ?? false });
}

/** Run a session on host tensors fed in graph input order; outputs in graph output order. */
async function runHost(session: OrtSession, inputs: HostTensor[]): Promise<HostTensor[]> {
  const feeds: Record<string, HostTensor> = {};
  session.inputNames.forEach((n, i) => (feeds[n] = inputs[i]));
  const out = await session.run(feeds);
  return session.outputNames.map((n) => out[n]);
}

const int32 = (data: Int32Array): HostTensor => ({ data, shape: [1, data.length] });
const actionTensor = (code: number): HostTensor => ({ data: Int32Array.of(code), shape: [1] });

/** Options of the decoder alone (OrtDecoder). */
export type OrtDecoderOptions = Pick<OrtStepperOptions, "decoderWindow" | "int8" | "ort" | "threads" | "executionProviders" | "spinning">;

/** What the decoder reads: the tokenizer's arrays, borrowed (it takes its own references per use). */
export type DecoderParts = Pick<StepperParts, "tokenizer" | "codebook_KD" | "tokenizerConfig">;

/**
 * The tokenizer decoder's step on onnxruntime with its cache: tokens → pixels, one frame at a
 * time. Part of every OrtStepper; on its own, it lets the browser player decode frame t in one
 * worker while another samples frame t+1 (web/decode-worker.ts).
 */
export class OrtDecoder {
  private cache: HostCache;
  private graph: Promise<OrtSession> | null = null;
  private spent = 0;

  constructor(
    private readonly parts: DecoderParts,
    private readonly opts: OrtDecoderOptions,
  ) {
    if (!Number.isInteger(opts.decoderWindow) || opts.decoderWindow < 2) throw new Error(`session-ort.ts: decoderWindow must be an integer ≥ 2 (the caches hold it less one frame), got ${opts.decoderWindow}`);
    this.cache = this.empty();
  }

  /** Real frames in the cache. */
  frames(): number {
    return this.cache.frames;
  }

  /** Drop the cache (back to no frames). */
  clear(): void {
    this.cache = this.empty();
  }

  /** Compile the graph now rather than on the first frame. */
  async prepare(): Promise<void> {
    await this.session();
  }

  /** Decode a frame (H·W·C values in [0, 1]), appending it to the cache. */
  async decode(tokens: Int32Array): Promise<Float32Array> {
    const t0 = performance.now();
    const g = await this.session();
    const [x, ...caches] = await runHost(g, [int32(tokens), slotMask(this.cache), ...this.cache.tensors]);
    this.cache = advanced(this.cache, caches);
    this.spent += performance.now() - t0;
    return x.data as Float32Array;
  }

  /** Milliseconds spent decoding since the last call. */
  takeSpent(): number {
    const t = this.spent;
    this.spent = 0;
    return t;
  }

  async dispose(): Promise<void> {
    const g = this.graph;
    this.graph = null;
    const s = await g?.catch(() => null);
    await s?.dispose();
  }

  private empty(): HostCache {
    const c = this.parts.tokenizerConfig;
    return emptyCache(this.opts.decoderWindow - 1, c.decoderLayers, (c.height / c.patch) * (c.width / c.patch), c.heads, c.dim / c.heads);
  }

  private session(): Promise<OrtSession> {
    this.graph ??= this.compile();
    return this.graph;
  }

  private compile(): Promise<OrtSession> {
    const { tokenizer, codebook_KD, tokenizerConfig: c } = this.parts;
    const N = (c.height / c.patch) * (c.width / c.patch);
    const window = this.opts.decoderWindow;
    const S = this.cache.slots;
    const f: Graph = (tokens, mask, ...flat) => {
      const r = decodeFrameStep(keep(decoderHalf(tokenizer as TokenizerParams)), codebook_KD.ref, tokens, toCaches(flat, mask), c as TokenizerConfig, window);
      return [r.x_BHWC, ...fromCaches(r.caches, S)];
    };
    return compile(f, [np.zeros([1, N], { dtype: np.int32 }), np.zeros([S]), ...cacheShapes(S, c.decoderLayers, N, c.heads, c.dim / c.heads)], this.opts);
  }
}

export class OrtStepper implements FrameStepper {
  private dyn: HostCache;
  private readonly decoder: OrtDecoder;
  private readonly graphs = new Map<string, Promise<OrtSession>>();
  /** Time spent sampling since the last `timings()` (ms). */
  private spent = 0;

  /** Borrows `parts` (the session owns them and disposes them after this stepper). */
  constructor(
    private readonly parts: StepperParts,
    private readonly opts: OrtStepperOptions,
  ) {
    const d = parts.dynamicsConfig;
    if (!Number.isInteger(d.timeWindow) || d.timeWindow < 2) throw new Error(`session-ort.ts: the dynamics' timeWindow must be an integer ≥ 2 (the caches hold it less one frame), got ${d.timeWindow}`);
    this.decoder = new OrtDecoder(parts, opts);
    this.dyn = this.emptyDynamics();
  }

  cacheFrames(): { dynamics: number; decoder: number } {
    return { dynamics: this.dyn.frames, decoder: this.decoder.frames() };
  }

  clear(): void {
    this.dyn = this.emptyDynamics();
    this.decoder.clear();
  }

  async commit(tokens: Int32Array, code: number): Promise<void> {
    const g = await this.graph("commit");
    this.dyn = advanced(this.dyn, await runHost(g, [int32(tokens), actionTensor(code), slotMask(this.dyn), ...this.dyn.tensors]));
  }

  async sample(code: number, uniforms: Float32Array | null): Promise<Int32Array> {
    const t1 = performance.now();
    const N = this.parts.dynamicsConfig.tokensPerFrame;
    const rows = uniforms ? uniforms.length / N : 0; // passes, or 2 × passes with the choice noise
    const noise: HostTensor[] = Array.from({ length: rows }, (_, i) => ({ data: uniforms!.slice(i * N, (i + 1) * N), shape: [1, N] }));
    const g = await this.graph("sample");
    const [tokens, ...caches] = await runHost(g, [actionTensor(code), slotMask(this.dyn), ...this.dyn.tensors, ...noise]);
    this.dyn = advanced(this.dyn, caches);
    this.spent += performance.now() - t1;
    return tokens.data as Int32Array;
  }

  decode(tokens: Int32Array): Promise<Float32Array> {
    return this.decoder.decode(tokens);
  }

  /** Milliseconds spent in the sample graphs (dynamics) and in the decoder since the last call. */
  timings(): { sample: number; decode: number } {
    const sample = this.spent;
    this.spent = 0;
    return { sample, decode: this.decoder.takeSpent() };
  }

  async dispose(): Promise<void> {
    const sessions = await Promise.allSettled([...this.graphs.values()]);
    this.graphs.clear();
    for (const s of sessions) if (s.status === "fulfilled") await s.value.dispose();
    await this.decoder.dispose();
  }

  private emptyDynamics(): HostCache {
    const d = this.parts.dynamicsConfig;
    return emptyCache(d.timeWindow - 1, d.layers, slotsPerFrame(d), d.heads, d.dim / d.heads);
  }

  /**
   * Compile every graph family (one after another: onnxruntime-web opens one session at a time);
   * `decoder: false` leaves the decoder's for whoever decodes (the player's second worker).
   */
  async prepare(opts: { decoder?: boolean } = {}): Promise<void> {
    await this.graph("commit");
    if (opts.decoder !== false) await this.decoder.prepare();
    await this.graph("sample");
  }

  /** The graph of a family, compiled on first use. */
  private graph(family: "sample" | "commit"): Promise<OrtSession> {
    let g = this.graphs.get(family);
    if (!g) {
      g = this.compileDynamics(family);
      this.graphs.set(family, g);
    }
    return g;
  }

  private compileDynamics(family: "sample" | "commit"): Promise<OrtSession> {
    const { dynamics, dynamicsConfig: d } = this.parts;
    const N = d.tokensPerFrame;
    const L = d.layers;
    const S = this.dyn.slots;
    const { schedule, temperature } = this.opts;
    const scales = choiceScales(this.opts.choiceTemperature, schedule.length);
    const pass = (tokens: np.Array, action: np.Array, mask: np.Array, caches: KVCache[]) =>
      dynamicsStep(keep(dynamics) as DynamicsParams, tokens, action, mask, caches, d);
    const commit = (tokens_BN: np.Array, action_B: np.Array, caches: KVCache[]) => {
      const r = pass(tokens_BN, action_B, boolArray(new Uint8Array(N), [1, N]), caches);
      r.logits_BNK.dispose();
      return fromCaches(r.caches, S);
    };
    const cacheExamples = () => [np.zeros([S]), ...cacheShapes(S, L, slotsPerFrame(d), d.heads, d.dim / d.heads)];
    if (family === "commit") {
      const f: Graph = (tokens, action, mask, ...flat) => commit(tokens, action, toCaches(flat, mask));
      return compile(f, [np.zeros([1, N], { dtype: np.int32 }), np.zeros([1], { dtype: np.int32 }), ...cacheExamples()], this.opts);
    }
    const noisy = temperature > 0;
    const choosy = noisy && this.opts.choiceTemperature > 0;
    const f: Graph = (action, mask, ...rest) => {
      const caches = prepareDynamicsCaches(toCaches(rest.slice(0, 2 * L), mask), d);
      const noise = rest.slice(2 * L);
      let tokens = np.zeros([1, N], { dtype: np.int32 });
      let hidden = boolArray(new Uint8Array(N).fill(1), [1, N]);
      schedule.forEach((hiddenAfter, i) => {
        const r = pass(tokens.ref, action.ref, hidden.ref, tree.ref(caches as never) as KVCache[]);
        tree.dispose(r.caches as never);
        const choice = choosy ? { u_BN: noise[schedule.length + i], scale: scales[i] } : null;
        ({ tokens_BN: tokens, mask_BN: hidden } = sessionIteration(r.logits_BNK, tokens, hidden, noisy ? noise[i] : null, temperature, hiddenAfter, choice));
      });
      hidden.dispose();
      return [tokens.ref, ...commit(tokens, action, caches)];
    };
    const noiseExamples = Array.from({ length: (noisy ? schedule.length : 0) * (choosy ? 2 : 1) }, () => np.zeros([1, N]));
    return compile(f, [np.zeros([1], { dtype: np.int32 }), ...cacheExamples(), ...noiseExamples], this.opts);
  }
}

/** Zero caches of `frames` frames for tracing: k and v per layer, (N, H, S, Dh). */
function cacheShapes(frames: number, layers: number, N: number, heads: number, headDim: number): np.Array[] {
  return Array.from({ length: 2 * layers }, () => np.zeros([N, heads, frames, headDim]));
}
