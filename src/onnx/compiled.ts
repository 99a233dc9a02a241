/**
 * `compileOrt(f, exampleArgs)`: the fast path as a drop-in for `jit`. A pure function of array
 * trees is traced once at the example's shapes, exported to ONNX and run on onnxruntime; calls
 * take and return jax-js array trees, so a training phase can switch backend without changing
 * its bookkeeping. The copies to and from the host cost a few milliseconds per call; steps cost
 * hundreds, and onnxruntime's matmuls are 3–6× faster than jax-js's wasm ones here.
 *
 * Ownership: `run` consumes its arguments (like a jax-js function) and returns fresh arrays.
 */
import { makeJaxpr, np, tree } from "../core/jax.js";
import type { JsTree } from "../core/jax.js";
import { exportJaxpr } from "./export.js";
import type { ExportOptions } from "./export.js";
import { OnnxSession } from "./runtime.js";
import type { HostTensor } from "./runtime.js";

type ArrayTree = JsTree<np.Array>;

export interface CompileOptions {
  /** onnxruntime intra-op threads (default: all cores). */
  threads?: number;
  /** Passed to the exporter (opset, int8 quantisation, baked constants). */
  export?: ExportOptions;
}

export interface CompiledFunction {
  /** Run on onnxruntime; consumes `args`, returns the output tree as jax-js arrays. */
  run(...args: ArrayTree[]): Promise<ArrayTree>;
  /** The exported model bytes (to save, or to load in a browser). */
  readonly model: Uint8Array;
  dispose(): Promise<void>;
}

/** Host copy of a jax-js array in onnxruntime's layout (bool as bytes). Consumes `x`. */
export async function arrayToHost(x: np.Array): Promise<HostTensor> {
  const shape = x.shape;
  const dtype = x.dtype;
  const data = await x.data();
  if (dtype === np.float32) return { data: data as Float32Array, shape };
  if (dtype === np.int32) return { data: data as Int32Array, shape };
  if (dtype === np.bool) return { data: Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0)), shape };
  throw new Error(`compiled.ts: dtype ${dtype} cannot cross to onnxruntime (float32, int32 and bool can)`);
}

/** A jax-js array from an onnxruntime output. */
export function hostToArray(t: HostTensor, dtype: np.DType): np.Array {
  if (dtype === np.bool) return np.array(Int32Array.from(t.data), { shape: t.shape, dtype: np.int32 }).astype(np.bool);
  return np.array(t.data, { shape: t.shape, dtype });
}

/** Trace `f` at `exampleArgs` (not consumed), export, and open an onnxruntime session. */
export async function compileOrt(f: (...args: never[]) => unknown, exampleArgs: ArrayTree[], opts: CompileOptions = {}): Promise<CompiledFunction> {
  const [leaves, inDef] = tree.flatten(exampleArgs as ArrayTree);
  const inAvals = (leaves as np.Array[]).map((a) => ({ shape: a.shape.join(","), dtype: a.dtype }));
  let outDef: ReturnType<typeof tree.structure> | null = null;
  const flat = (...xs: np.Array[]) => {
    const args = tree.unflatten(inDef, xs) as unknown as never[];
    const [ys, def] = tree.flatten(f(...args) as ArrayTree);
    outDef = def;
    return ys as np.Array[];
  };
  const { jaxpr } = makeJaxpr(flat)(...(leaves as np.Array[]));
  if (!outDef) throw new Error("compiled.ts: tracing did not call the function");
  const outTree = outDef as ReturnType<typeof tree.structure>;
  const outDtypes = jaxpr.jaxpr.outs.map((o) => o.aval.dtype);
  const model = exportJaxpr(jaxpr, opts.export);
  jaxpr.dispose();
  const session = await OnnxSession.create(model, { threads: opts.threads });

  return {
    model,
    async run(...args) {
      const [xs, def] = tree.flatten(args as ArrayTree);
      if (!def.equals(inDef)) throw new Error(`compiled.ts: argument tree ${def.toString()} differs from the traced ${inDef.toString()}`);
      const feeds: Record<string, HostTensor> = {};
      for (const [i, x] of (xs as np.Array[]).entries()) {
        const a = inAvals[i];
        if (x.shape.join(",") !== a.shape || x.dtype !== a.dtype) {
          const msg = `compiled.ts: input ${i} is ${x.dtype}[${x.shape}] but was traced as ${a.dtype}[${a.shape}]`;
          tree.dispose(xs as np.Array[]);
          throw new Error(msg);
        }
        feeds[session.inputNames[i]] = await arrayToHost(x);
      }
      const out = await session.run(feeds);
      const ys = session.outputNames.map((n, i) => hostToArray(out[n], outDtypes[i]));
      return tree.unflatten(outTree, ys) as ArrayTree;
    },
    dispose: () => session.dispose(),
  };
}
