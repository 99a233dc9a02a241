/**
 * Runs a phase's whole training step — a pure function of array trees — on the configured
 * backend: onnxruntime (traced and exported on the first call, at the first batch's shapes) or
 * jax-js `jit`. Every phase uses this, so the choice lives in one place (`train.backend`).
 */
import { jit, np } from "../core/jax.js";
import type { JsTree, OwnedFunction } from "../core/jax.js";
import { compileOrt } from "../onnx/compiled.js";
import type { CompiledFunction } from "../onnx/compiled.js";
import type { TrainConfig } from "./loop.js";

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
