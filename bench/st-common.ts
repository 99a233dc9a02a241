/**
 * Shared setup of the ST-stack benchmarks (bench/st-block.ts, bench/ort.ts): the two shapes the
 * fast-path issue names, an MSE training step of an ST stack (src/nn/train-step.ts), and that
 * step exported to ONNX and run on onnxruntime with its outputs fed back as the next inputs.
 */
import { makeJaxpr, makeKey, np, random, tree, type Array as JArray, type JsTree } from "../src/core/index.js";
import { adamwInit } from "../src/nn/optim.js";
import { initSTStack, stStack, type STStackConfig, type STStackParams } from "../src/nn/st-block.js";
import { makeTrainStep, type TrainStep } from "../src/nn/train-step.js";
import { exportJaxpr } from "../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../src/onnx/runtime.js";

/** One benchmark shape: batch, frames, tokens per frame, width, layers. Heads are D/32. */
export interface STShape {
  name: string;
  B: number;
  T: number;
  N: number;
  D: number;
  L: number;
}

export const TOKENIZER_LIKE: STShape = { name: "tokenizer-like", B: 16, T: 4, N: 256, D: 128, L: 4 };
export const DYNAMICS_LIKE: STShape = { name: "dynamics-like", B: 8, T: 16, N: 64, D: 256, L: 6 };

export const stackConfig = (s: STShape): STStackConfig => ({ dim: s.D, heads: s.D / 32, mlpHidden: 4 * s.D, layers: s.L });
export const tokensOf = (s: STShape): number => s.B * s.T * s.N;

export type Batch = { x: JArray; y: JArray };

/** MSE of the stack's output against a target: the cheapest loss that trains every weight. */
export function stLoss(p: STStackParams, b: Batch): { loss: JArray } {
  const d = stStack(p, b.x).sub(b.y);
  return { loss: d.ref.mul(d).mean() };
}

export interface StackSetup {
  params: STStackParams;
  batch: Batch;
}

/** Deterministic params and a random batch at `s` with batch size `B`. */
export function makeSetup(s: STShape, B = s.B, seed = 0): StackSetup {
  const params = initSTStack(makeKey(seed), stackConfig(s));
  const shape = [B, s.T, s.N, s.D];
  const batch = { x: random.normal(random.key(seed + 1), shape), y: random.normal(random.key(seed + 2), shape) };
  return { params, batch };
}

export function makeStackStep(): TrainStep<STStackParams, Batch> {
  return makeTrainStep<STStackParams, Batch>(stLoss);
}

/** Host copy of a jax-js float32/int32 array. Consumes `x`. */
export async function toHost(x: JArray): Promise<HostTensor> {
  const data = await x.data();
  const shape = x.shape;
  return { data: x.dtype === "int32" ? Int32Array.from(data as Int32Array) : Float32Array.from(data as Float32Array), shape };
}

/**
 * The whole training step of `setup` exported to ONNX: inputs are (params, m, v, count, batch,
 * lr) leaves; outputs start with the new params, m, v, count in the same order, then loss and
 * gradient norm. `step()` runs it once and feeds the state outputs back. Consumes `setup`.
 */
export async function ortTrainStep(setup: StackSetup, threads: number, lr = 1e-3) {
  const { stepFn } = makeStackStep();
  const opt = adamwInit(tree.ref(setup.params as unknown as JsTree<JArray>) as never);
  const state = [setup.params, opt, setup.batch, np.array(lr)] as unknown as JsTree<JArray>[];
  const [leaves, def] = tree.flatten(state as JsTree<JArray>);
  const flat = (...xs: JArray[]) => {
    const [p, o, b, l] = tree.unflatten(def, xs) as unknown as [never, never, never, JArray];
    return tree.leaves(stepFn(p, o, b, l) as unknown as JsTree<JArray>) as JArray[];
  };
  const { jaxpr } = makeJaxpr(flat)(...(leaves as JArray[]));
  const model = exportJaxpr(jaxpr);
  jaxpr.dispose();
  const session = await OnnxSession.create(model, { threads });
  const nState = 3 * tree.leaves(setup.params as unknown as JsTree<JArray>).length + 1;
  const feeds: Record<string, HostTensor> = {};
  for (const [i, a] of (leaves as JArray[]).entries()) feeds[`input_${i}`] = await toHost(a);
  return {
    model,
    /** The current graph inputs (the state after the last step), e.g. to profile the graph. */
    feeds,
    /** One step; returns the loss (at the params before the update). */
    async step(): Promise<number> {
      const out = await session.run(feeds);
      const outs = session.outputNames.map((n) => out[n]);
      for (let i = 0; i < nState; i++) feeds[`input_${i}`] = outs[i];
      return outs[nState].data[0];
    },
    dispose: () => session.dispose(),
  };
}

/** Mean ms of `f` after `warmup` calls, over at least `minRuns` runs and `minMs` ms. */
export async function timeIt(f: () => Promise<unknown>, opts: { warmup?: number; minRuns?: number; minMs?: number } = {}): Promise<number> {
  for (let i = 0; i < (opts.warmup ?? 1); i++) await f();
  let n = 0;
  const t0 = performance.now();
  while (n < (opts.minRuns ?? 2) || performance.now() - t0 < (opts.minMs ?? 0)) {
    await f();
    n++;
  }
  return (performance.now() - t0) / n;
}

/** 1-minute load average, to print beside figures (other processes share the cores). */
export async function loadAverage(): Promise<number> {
  const { loadavg } = await import("node:os");
  return Math.round(loadavg()[0] * 100) / 100;
}
