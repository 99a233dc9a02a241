/**
 * Node runtime for exported models: a thin wrapper over onnxruntime-node's `InferenceSession`.
 *
 * Host arrays go in and out as typed arrays with a shape. Inputs are wrapped without copying
 * (onnxruntime reads the typed array's memory). Outputs can be preallocated: pass `into` buffers
 * and onnxruntime writes the results straight into them, so a training loop that keeps params and
 * optimiser moments as graph inputs/outputs reuses the same buffers every step (ping-pong two
 * sets: an output must not alias an input of the same run).
 */
import { availableParallelism } from "node:os";
import * as ort from "onnxruntime-node";

/** Element data onnxruntime accepts from us: float32, int32, and bool as bytes (0/1). */
export type HostData = Float32Array | Int32Array | Uint8Array;

/** A host-side tensor: row-major data plus its shape. */
export interface HostTensor<D extends HostData = HostData> {
  data: D;
  shape: number[];
}

export interface OnnxSessionConfig {
  /** Threads inside one op (onnxruntime `intraOpNumThreads`); default: all cores of this machine. */
  threads?: number;
  /** Graph optimisation level; default "all" (layout and fusion passes, e.g. MatMul+Add, GELU). */
  optimization?: "disabled" | "basic" | "extended" | "all";
}

/** Wrap a typed array as an onnxruntime tensor without copying it. */
export function toOrtTensor({ data, shape }: HostTensor): ort.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw new Error(`src/onnx/runtime.ts: data of length ${data.length} does not fit shape [${shape}]`);
  }
  if (data instanceof Float32Array) return new ort.Tensor("float32", data, shape);
  if (data instanceof Int32Array) return new ort.Tensor("int32", data, shape);
  return new ort.Tensor("bool", data, shape);
}

function fromOrtTensor(t: ort.Tensor): HostTensor {
  const data = t.data;
  if (data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array) {
    return { data, shape: [...t.dims] };
  }
  throw new Error(`src/onnx/runtime.ts: output of type ${t.type} is not supported (float32, int32, bool are)`);
}

export class OnnxSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** Graph input names, in graph order. */
    readonly inputNames: readonly string[],
    /** Graph output names, in graph order. */
    readonly outputNames: readonly string[],
  ) {}

  /** Load model bytes (from `exportJaxpr`) into a new session. */
  static async create(model: Uint8Array, config: OnnxSessionConfig = {}): Promise<OnnxSession> {
    const threads = config.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`src/onnx/runtime.ts: threads must be a positive integer, got ${threads}`);
    }
    const session = await ort.InferenceSession.create(model, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: config.optimization ?? "all",
      logSeverityLevel: 3, // errors only: optimiser notes would flood test and CLI output
    });
    return new OnnxSession(session, session.inputNames, session.outputNames);
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
    if (missing.length > 0) throw new Error(`src/onnx/runtime.ts: missing inputs ${missing.join(", ")}`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(t);
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const name of this.outputNames) fetches[name] = name in into ? toOrtTensor(into[name]) : null;
    const results = await this.session.run(ortFeeds, fetches);
    const out: Record<string, HostTensor> = {};
    for (const name of this.outputNames) {
      out[name] = name in into ? into[name] : fromOrtTensor(results[name] as ort.Tensor);
    }
    return out;
  }

  /** Free the native session. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}
