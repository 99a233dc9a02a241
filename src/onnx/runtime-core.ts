/**
 * The onnxruntime wrapper, over whichever onnxruntime the caller runs on: onnxruntime-node in
 * Node (runtime.ts binds it and keeps the Node API), onnxruntime-web in the browser player's
 * worker (web/session-worker.ts). Both packages re-export onnxruntime-common's API, so one
 * `OrtModule` type covers them; this file imports neither at run time, so a bundle that reaches
 * it pulls in no native addon.
 *
 * Host arrays go in and out as typed arrays with a shape. Inputs are wrapped without copying
 * (onnxruntime reads the typed array's memory). Outputs can be preallocated: pass `into` buffers
 * and onnxruntime writes the results straight into them, so a training loop that keeps params and
 * optimiser moments as graph inputs/outputs reuses the same buffers every step (ping-pong two
 * sets: an output must not alias an input of the same run).
 */
// Type-only: onnxruntime-node re-exports onnxruntime-common, the API onnxruntime-web shares.
import type { InferenceSession, Tensor } from "onnxruntime-node";

/** What we use of an onnxruntime package: `import * as ort from "onnxruntime-node" | "onnxruntime-web"`. */
export interface OrtModule {
  Tensor: typeof Tensor;
  InferenceSession: typeof InferenceSession;
}

/** Element data onnxruntime accepts from us: float32, int32, and bool as bytes (0/1). */
export type HostData = Float32Array | Int32Array | Uint8Array;

/** A host-side tensor: row-major data plus its shape. */
export interface HostTensor<D extends HostData = HostData> {
  data: D;
  shape: number[];
}

export interface OnnxSessionConfig {
  /** Threads inside one op (onnxruntime `intraOpNumThreads`); default: all cores of this machine (Node), 1 elsewhere. */
  threads?: number;
  /** Graph optimisation level; default "all" (layout and fusion passes, e.g. MatMul+Add, GELU). */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /**
   * Execution providers in order of preference; default onnxruntime's own (cpu in Node, wasm in
   * the browser). onnxruntime-web takes its thread count from `ort.env.wasm.numThreads` instead.
   */
  executionProviders?: string[];
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default). Spinning helps
   * graphs of few large ops; on a graph of many small ops (a world session's step) with more
   * than one thread it measured 1.5× slower here (2 cores: the spinning thread takes the core the
   * caller needs). Default true.
   */
  spinning?: boolean;
}

/** Wrap a typed array as an onnxruntime tensor of `ort` without copying it. */
export function hostToOrt(ort: OrtModule, { data, shape }: HostTensor): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw new Error(`src/onnx/runtime-core.ts: data of length ${data.length} does not fit shape [${shape}]`);
  }
  if (data instanceof Float32Array) return new ort.Tensor("float32", data, shape);
  if (data instanceof Int32Array) return new ort.Tensor("int32", data, shape);
  return new ort.Tensor("bool", data, shape);
}

function ortToHost(t: Tensor): HostTensor {
  const data = t.data;
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) {
    return { data, shape: [...t.dims] };
  }
  throw new Error(`src/onnx/runtime-core.ts: output of type ${t.type} is not supported (float32, int32, bool are)`);
}

/** One model loaded on an onnxruntime; Node callers open it through runtime.ts's `OnnxSession.create`. */
export class OrtSession {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    /** Graph input names, in graph order. */
    readonly inputNames: readonly string[],
    /** Graph output names, in graph order. */
    readonly outputNames: readonly string[],
  ) {}

  /** Load model bytes (from `exportJaxpr`) into a new session on `ort`. */
  static async open(ort: OrtModule, model: Uint8Array, config: OnnxSessionConfig = {}): Promise<OrtSession> {
    const threads = config.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`src/onnx/runtime-core.ts: threads must be a positive integer, got ${threads}`);
    }
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: config.optimization ?? "all",
      logSeverityLevel: 3, // errors only: optimiser notes would flood test and CLI output
      ...(config.executionProviders ? { executionProviders: config.executionProviders } : {}),
      ...(config.spinning === false ? { extra: { session: { intra_op: { allow_spinning: "0" } } } } : {}),
    });
    return new OrtSession(ort, session, session.inputNames, session.outputNames);
  }

  /**
   * Run the graph. Every graph input must be fed. With `into`, the named outputs are written into
   * those preallocated buffers (which are also what is returned for them); other outputs are
   * allocated by onnxruntime.
   */
  async run(
    feeds: Record<string, HostTensor>,
    into: Record<string, HostTensor> = {},
  ): Promise<Record<string, HostTensor>> {
    const missing = this.inputNames.filter((n) => !(n in feeds));
    if (missing.length > 0) throw new Error(`src/onnx/runtime-core.ts: missing inputs ${missing.join(", ")}`);
    const ortFeeds: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = hostToOrt(this.ort, t);
    const fetches: Record<string, Tensor | null> = {};
    for (const name of this.outputNames) fetches[name] = name in into ? hostToOrt(this.ort, into[name]) : null;
    const results = await this.session.run(ortFeeds, fetches);
    const out: Record<string, HostTensor> = {};
    for (const name of this.outputNames) {
      out[name] = name in into ? into[name] : ortToHost(results[name] as Tensor);
    }
    return out;
  }

  /** Free the session (native memory in Node, wasm heap in the browser). */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
