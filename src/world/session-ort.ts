/**
 * The WorldSession's passes on onnxruntime (fp32, or int8 weights): 4–6× faster than jax-js's
 * wasm kernels on a CPU, and int8 about 2× more. Runs on whichever onnxruntime it is given
 * (`ort`: onnxruntime-node in Node, onnxruntime-web in the browser player's worker); nothing here
 * imports either, so the web bundle reaches this file without the native addon.
 *
 * Three graph families, each traced with makeJaxpr and exported once per input cache length
 * (caches grow until their window, then stay there: at most timeWindow + 1 and decoderWindow + 1
 * variants each), compiled on first use:
 *
 * - sample: every MaskGIT pass of a new frame, then the commit pass with the final tokens, in one
 *   graph: (action, caches, uniforms per pass) → (tokens, caches with the frame appended). One
 *   call per step instead of a host round trip per pass; the sampling is sampling.ts's.
 * - commit: a frame with known tokens (the start's context frames) → caches.
 * - decode: the tokenizer decoder's step (frame-decoder.ts) → pixels and its caches.
 *
 * The params, codebook included, are closed over while tracing, so they are the graph's
 * constants: nothing is copied per call but the caches, and int8 quantisation (which applies to
 * MatMuls with a constant weight, src/onnx/quantize.ts) sees them. Caches live on the host as
 * onnxruntime's own output buffers and are fed straight back; the first frame has none, so
 * length 0 is a variant without cache inputs.
 *
 * Dimension keys: N tokens per frame · K codebook size · S cached frames · H heads · Dh head width.
 */
import { makeJaxpr, np, tree } from "../core/jax.js";
import { keep } from "../core/refs.js";
import type { KVCache } from "../nn/attention.js";
import { boolArray, dynamicsStep, prepareDynamicsCaches, slotsPerFrame } from "../models/dynamics.js";
import type { DynamicsParams } from "../models/dynamics.js";
import type { TokenizerConfig, TokenizerParams } from "../models/tokenizer.js";
import { exportJaxpr } from "../onnx/export.js";
import { OrtSession } from "../onnx/runtime-core.js";
import type { HostTensor, OrtModule } from "../onnx/runtime-core.js";
import { decodeFrameStep, decoderHalf } from "./frame-decoder.js";
import { sessionIteration } from "./sampling.js";
import type { FrameStepper, StepperParts } from "./session.js";

export interface OrtStepperOptions {
  /** MaskGIT schedule: tokens still hidden after each pass. */
  schedule: number[];
  temperature: number;
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

/** Flat [k0, v0, k1, v1, ...] ⇄ per-layer caches (inside traced functions). */
const toCaches = (xs: np.Array[]): KVCache[] => Array.from({ length: xs.length / 2 }, (_, i) => ({ k: xs[2 * i], v: xs[2 * i + 1] }));
const fromCaches = (cs: KVCache[]): np.Array[] => cs.flatMap((c) => [c.k, c.v]);

/** Trace `f` at `examples` (disposed here), export and open an onnxruntime session. */
async function compile(f: Graph, examples: np.Array[], opts: OrtStepperOptions): Promise<OrtSession> {
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

export class OrtStepper implements FrameStepper {
  private dynCaches: HostTensor[] = [];
  private decCaches: HostTensor[] = [];
  private readonly graphs = new Map<string, Promise<OrtSession>>();
  /** Time spent in each graph family since the last `timings()` (ms). */
  private spent = { sample: 0, decode: 0 };

  /** Borrows `parts` (the session owns them and disposes them after this stepper). */
  constructor(
    private readonly parts: StepperParts,
    private readonly opts: OrtStepperOptions,
  ) {}

  cacheFrames(): { dynamics: number; decoder: number } {
    return { dynamics: this.dynCaches[0]?.shape[2] ?? 0, decoder: this.decCaches[0]?.shape[2] ?? 0 };
  }

  clear(): void {
    this.dynCaches = [];
    this.decCaches = [];
  }

  async commit(tokens: Int32Array, code: number): Promise<void> {
    const g = await this.graph("commit", this.cacheFrames().dynamics);
    this.dynCaches = await runHost(g, [int32(tokens), actionTensor(code), ...this.dynCaches]);
  }

  async sample(code: number, uniforms: Float32Array | null): Promise<Int32Array> {
    const t1 = performance.now();
    const N = this.parts.dynamicsConfig.tokensPerFrame;
    const noise: HostTensor[] = this.opts.schedule.flatMap((_, i) => (uniforms ? [{ data: uniforms.slice(i * N, (i + 1) * N), shape: [1, N] }] : []));
    const g = await this.graph("sample", this.cacheFrames().dynamics);
    const [tokens, ...caches] = await runHost(g, [actionTensor(code), ...this.dynCaches, ...noise]);
    this.dynCaches = caches;
    this.spent.sample += performance.now() - t1;
    return tokens.data as Int32Array;
  }

  async decode(tokens: Int32Array): Promise<Float32Array> {
    const t0 = performance.now();
    const g = await this.graph("decode", this.cacheFrames().decoder);
    const [x, ...caches] = await runHost(g, [int32(tokens), ...this.decCaches]);
    this.decCaches = caches;
    this.spent.decode += performance.now() - t0;
    return x.data as Float32Array;
  }

  /** Milliseconds spent in the sample graphs (dynamics) and in the decoder since the last call. */
  timings(): { sample: number; decode: number } {
    const t = this.spent;
    this.spent = { sample: 0, decode: 0 };
    return t;
  }

  async dispose(): Promise<void> {
    const sessions = await Promise.allSettled([...this.graphs.values()]);
    this.graphs.clear();
    for (const s of sessions) if (s.status === "fulfilled") await s.value.dispose();
  }

  /** The graph of a family at an input cache length, compiled on first use. */
  private graph(family: "sample" | "commit" | "decode", frames: number): Promise<OrtSession> {
    const id = `${family}:${frames}`;
    let g = this.graphs.get(id);
    if (!g) {
      g = family === "decode" ? this.compileDecode(frames) : this.compileDynamics(family, frames);
      this.graphs.set(id, g);
    }
    return g;
  }

  private compileDynamics(family: "sample" | "commit", frames: number): Promise<OrtSession> {
    const { dynamics, dynamicsConfig: d } = this.parts;
    const N = d.tokensPerFrame;
    const L = d.layers;
    const { schedule, temperature } = this.opts;
    const pass = (tokens: np.Array, action: np.Array, mask: np.Array, caches: KVCache[] | null) =>
      dynamicsStep(keep(dynamics) as DynamicsParams, tokens, action, mask, caches, d);
    const commit = (tokens_BN: np.Array, action_B: np.Array, caches: KVCache[] | null) => {
      const r = pass(tokens_BN, action_B, boolArray(new Uint8Array(N), [1, N]), caches);
      r.logits_BNK.dispose();
      return fromCaches(r.caches);
    };
    const cacheExamples = cacheShapes(frames, L, slotsPerFrame(d), d.heads, d.dim / d.heads);
    if (family === "commit") {
      const f: Graph = (tokens, action, ...flat) => commit(tokens, action, frames ? toCaches(flat) : null);
      return compile(f, [np.zeros([1, N], { dtype: np.int32 }), np.zeros([1], { dtype: np.int32 }), ...cacheExamples], this.opts);
    }
    const noisy = temperature > 0;
    const f: Graph = (action, ...rest) => {
      const caches = frames ? prepareDynamicsCaches(toCaches(rest.slice(0, 2 * L)), d) : null;
      const noise = rest.slice(frames ? 2 * L : 0);
      let tokens = np.zeros([1, N], { dtype: np.int32 });
      let mask = boolArray(new Uint8Array(N).fill(1), [1, N]);
      schedule.forEach((hiddenAfter, i) => {
        const r = pass(tokens.ref, action.ref, mask.ref, caches ? (tree.ref(caches as never) as KVCache[]) : null);
        tree.dispose(r.caches as never);
        ({ tokens_BN: tokens, mask_BN: mask } = sessionIteration(r.logits_BNK, tokens, mask, noisy ? noise[i] : null, temperature, hiddenAfter));
      });
      mask.dispose();
      return [tokens.ref, ...commit(tokens, action, caches)];
    };
    const noiseExamples = noisy ? schedule.map(() => np.zeros([1, N])) : [];
    return compile(f, [np.zeros([1], { dtype: np.int32 }), ...cacheExamples, ...noiseExamples], this.opts);
  }

  private compileDecode(frames: number): Promise<OrtSession> {
    const { tokenizer, codebook_KD, tokenizerConfig: c } = this.parts;
    const N = (c.height / c.patch) * (c.width / c.patch);
    const window = this.opts.decoderWindow;
    const f: Graph = (tokens, ...flat) => {
      const r = decodeFrameStep(keep(decoderHalf(tokenizer as TokenizerParams)), codebook_KD.ref, tokens, frames ? toCaches(flat) : null, c as TokenizerConfig, window);
      return [r.x_BHWC, ...fromCaches(r.caches)];
    };
    const cacheExamples = cacheShapes(frames, c.decoderLayers, N, c.heads, c.dim / c.heads);
    return compile(f, [np.zeros([1, N], { dtype: np.int32 }), ...cacheExamples], this.opts);
  }
}

/** Zero caches of `frames` frames for tracing: k and v per layer, (N, H, S, Dh) (none for 0). */
function cacheShapes(frames: number, layers: number, N: number, heads: number, headDim: number): np.Array[] {
  if (frames === 0) return [];
  return Array.from({ length: 2 * layers }, () => np.zeros([N, heads, frames, headDim]));
}
