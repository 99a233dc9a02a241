/**
 * Parity harness: trace `f` with makeJaxpr, export it to ONNX, run it on onnxruntime-node and
 * compare with jax-js evaluating `f` on the same inputs.
 */
import { expect } from "vitest";
import { makeJaxpr, tree, type Array as JArray, type Jaxpr } from "../../src/core/index.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../../src/onnx/runtime.js";
import { decodeModel } from "../../src/onnx/proto.js";

/** Primitives seen in every traced jaxpr (nested jits included), for the coverage test. */
/** The op types of an exported model's nodes, in graph order. */
export const opTypes = (model: Uint8Array): string[] =>
  ((decodeModel(model).graph as { node: { opType: string }[] }).node ?? []).map((n) => n.opType);

/** How many nodes of `op` a list of op types holds. */
export const count = (ops: string[], op: string): number => ops.filter((o) => o === op).length;

export const seenPrimitives = new Set<string>();

function recordPrimitives(jaxpr: Jaxpr): void {
  for (const eqn of jaxpr.eqns) {
    seenPrimitives.add(eqn.primitive);
    if (eqn.primitive === "jit") recordPrimitives(eqn.params.jaxpr as Jaxpr);
  }
}

/** Host copy of an array in the layout onnxruntime takes (bool as bytes). Consumes `x`. */
export async function toHost(x: JArray): Promise<HostTensor> {
  const shape = x.shape;
  const dtype = x.dtype;
  const data = await x.data();
  if (dtype === "float32") return { data: Float32Array.from(data as Float32Array), shape };
  if (dtype === "int32") return { data: Int32Array.from(data as Int32Array), shape };
  if (dtype === "bool") return { data: Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0)), shape };
  throw new Error(`test/onnx/parity.ts: dtype ${dtype} not handled`);
}

export interface ParityResult {
  onnx: HostTensor[];
  jax: HostTensor[];
  model: Uint8Array;
}

/** Export `f(...args)` and run both; consumes `args`. */
export async function runBoth(
  f: (...args: any[]) => any,
  args: JArray[],
  opts: { threads?: number; opset?: number } = {},
): Promise<ParityResult> {
  // makeJaxpr reads only the avals of its arguments and does not consume them.
  const { jaxpr } = makeJaxpr(f)(...args);
  recordPrimitives(jaxpr.jaxpr);
  const model = exportJaxpr(jaxpr, { opset: opts.opset });
  jaxpr.dispose();
  const feeds: Record<string, HostTensor> = {};
  for (const [i, a] of args.entries()) feeds[`input_${i}`] = await toHost(a.ref);
  const session = await OnnxSession.create(model, { threads: opts.threads ?? 1 });
  const out = await session.run(feeds);
  await session.dispose();
  const onnx = session.outputNames.map((n) => out[n]);
  const jaxOut = tree.leaves(f(...args)) as JArray[];
  const jax: HostTensor[] = [];
  for (const y of jaxOut) jax.push(await toHost(y));
  return { onnx, jax, model };
}

/** Assert onnxruntime matches jax-js: shapes equal, values within rtol (exact for int/bool). */
export async function expectParity(
  f: (...args: any[]) => any,
  args: JArray[],
  opts: { rtol?: number; atol?: number; opset?: number } = {},
): Promise<ParityResult> {
  const result = await runBoth(f, args, { opset: opts.opset });
  expect(result.onnx.length).toBe(result.jax.length);
  result.onnx.forEach((o, i) => {
    const j = result.jax[i];
    expect(o.shape).toEqual(j.shape);
    expect(o.data.constructor).toBe(j.data.constructor);
    if (o.data instanceof Float32Array) {
      expect(Array.from(o.data)).toBeAllclose(Array.from(j.data), { rtol: opts.rtol ?? 1e-4, atol: opts.atol ?? 1e-5 });
    } else {
      expect(Array.from(o.data)).toEqual(Array.from(j.data));
    }
  });
  return result;
}
