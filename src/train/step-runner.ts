/**
 * Runs a phase's whole training step — a pure function of array trees — on the configured
 * backend: onnxruntime (traced and exported on the first call, at the first batch's shapes) or
 * jax-js `jit`. Every phase uses this, so the choice lives in one place (`train.backend`).
 */
import { jit, np, tree } from "../core/jax.js";
import type { JsTree, OwnedFunction } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { adamwInit } from "../nn/optim.js";
import type { AdamWState } from "../nn/optim.js";
import { makeTrainStep } from "../nn/train-step.js";
import { compileOrt } from "../onnx/compiled.js";
import type { CompiledFunction } from "../onnx/compiled.js";
import type { StepMetrics, TrainConfig } from "./loop.js";

type ArrayTree = JsTree<np.Array>;

export interface StepRunner<O> {
  /** Run the step; consumes `args`. */
  run(...args: ArrayTree[]): Promise<O>;
  dispose(): void;
}

export function stepRunner<F extends (...args: never[]) => unknown>(fullStep: F, train: Pick<TrainConfig, "backend" | "threads">): StepRunner<ReturnType<F>> {
  const jaxStep = jit(fullStep as never) as unknown as OwnedFunction<(...a: ArrayTree[]) => ReturnType<F>>;
  let ortStep: CompiledFunction | null = null;
  return {
    async run(...args) {
      if (train.backend === "jax") return jaxStep(...args);
      ortStep ??= await compileOrt(fullStep as never, args, { threads: train.threads || undefined });
      return (await ortStep.run(...args)) as ReturnType<F>;
    },
    dispose() {
      void ortStep?.dispose();
      jaxStep.dispose();
    },
  };
}

/** The AdamW step of a model whose loss reports an `accuracy` (dynamics, prompt), on the configured backend. */
export interface AccuracyStepper<P, Args> {
  /** AdamW state for fresh params (borrows them). */
  initOpt(params: P): ParamTree;
  /** One step; consumes params, opt, the batch arrays and lr. Metrics: loss, accuracy, grad_norm. */
  step(params: P, opt: ParamTree, batch: Args, lr: np.Array): Promise<{ params: P; opt: ParamTree; metrics: StepMetrics }>;
  dispose(): void;
}

export function accuracyStepper<P, Args>(
  lossFn: (p: P, batch: Args) => { loss: np.Array; aux: { accuracy: np.Array } & Record<string, np.Array> },
  cfg: TrainConfig,
): AccuracyStepper<P, Args> {
  const train = makeTrainStep<ArrayTree, Args>((p, b) => lossFn(p as unknown as P, b), {
    adamw: { b1: cfg.b1, b2: cfg.b2, weightDecay: cfg.weightDecay },
    clipNorm: cfg.clipNorm,
  });
  const fullStep = (params: ArrayTree, opt: ArrayTree, b: Args, lr: np.Array) => {
    const o = train.stepFn(params, opt as unknown as AdamWState<ArrayTree>, b, lr);
    const aux = o.aux as Record<string, np.Array>;
    return { params: o.params, opt: o.optState, metrics: { loss: o.loss, accuracy: aux.accuracy, grad_norm: o.gradNorm } };
  };
  const runner = stepRunner(fullStep, cfg);
  return {
    initOpt: (params) => adamwInit(tree.ref(params as unknown as ArrayTree)) as unknown as ParamTree,
    async step(params, opt, batch, lr) {
      const o = await runner.run(params as unknown as ArrayTree, opt, batch as unknown as ArrayTree, lr);
      return { params: o.params as unknown as P, opt: o.opt as unknown as ParamTree, metrics: o.metrics as StepMetrics };
    },
    dispose() {
      runner.dispose();
      train.dispose();
    },
  };
}
