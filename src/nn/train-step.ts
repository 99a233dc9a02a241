/**
 * One training step for any model: value-and-grad of a loss, global-norm clipping and AdamW,
 * compiled together with `jit`. Every phase (tokenizer, LAM, dynamics) supplies only its loss.
 *
 * The learning rate is an argument (a scalar array), not a constant baked into the trace, so a
 * schedule changes it every step without recompiling. The un-jitted `stepFn` is the same pure
 * function, for `makeJaxpr` (ONNX export) or for composing into a larger jit.
 *
 * Ownership: `step` and `stepFn` consume params, optState, batch, lr and rng, and return fresh
 * params and state; the loss function must consume its params and batch.
 */
import { jit, np, tree, valueAndGrad } from "../core/jax.js";
import type { JsTree, OwnedFunction } from "../core/jax.js";
import type { Key } from "../core/keys.js";
import { ADAMW_DEFAULTS, adamwUpdate, clipByGlobalNorm, globalNorm } from "./optim.js";
import type { AdamWHyper, AdamWState, ArrayTree } from "./optim.js";

/** What a loss function returns: a float32 scalar loss and any arrays to report (metrics). */
export interface LossOutput {
  loss: np.Array;
  aux?: JsTree<np.Array>;
}

/** A loss over `params` and `batch` (both consumed); `rng` is given when the step gets one. */
export type LossFn<P, B> = (params: P, batch: B, rng?: Key) => LossOutput;

export interface TrainStepOptions {
  /** AdamW settings other than the rate (which comes with each step). Default ADAMW_DEFAULTS. */
  adamw?: Partial<Omit<AdamWHyper, "lr">>;
  /** Clip the global gradient norm to this before the update; null disables clipping. Default 1. */
  clipNorm?: number | null;
}

export type StepOutput<P> = {
  /** Parameters after the update. */
  params: P;
  /** Optimizer state after the update. */
  optState: AdamWState<P>;
  /** Loss at the parameters before the update (float32 scalar). */
  loss: np.Array;
  /** Global gradient norm before clipping (float32 scalar). */
  gradNorm: np.Array;
  /** The loss function's aux tree ({} when it returns none). */
  aux: JsTree<np.Array>;
};

export type StepFn<P, B> = (
  params: P,
  optState: AdamWState<P>,
  batch: B,
  lr: np.Array,
  rng?: Key,
) => StepOutput<P>;

export interface TrainStep<P, B> {
  /** The jit-compiled step (compiled once per input shapes). */
  step: StepFn<P, B>;
  /** The same step, un-jitted: pure and traceable with `makeJaxpr`. */
  stepFn: StepFn<P, B>;
  /** Free the compiled step. */
  dispose(): void;
}

/** Build a training step from `lossFn`. */
export function makeTrainStep<P, B>(
  lossFn: LossFn<P, B>,
  opts: TrainStepOptions = {},
): TrainStep<P, B> {
  const hyper: Omit<AdamWHyper, "lr"> = { ...ADAMW_DEFAULTS, ...opts.adamw };
  const clipNorm = opts.clipNorm === undefined ? 1 : opts.clipNorm;
  if (clipNorm !== null && !(clipNorm > 0)) {
    throw new Error(`train-step.ts makeTrainStep: clipNorm must be > 0 or null, got ${clipNorm}`);
  }

  const stepFn: StepFn<P, B> = (params, optState, batch, lr, rng) => {
    if (lr.ndim !== 0) throw new Error(`train-step.ts step: lr must be a scalar array, got shape [${lr.shape}]`);
    // valueAndGrad with aux needs an [out, aux] pair; batch and rng are closed over (traced once).
    const objective = (p: P): [np.Array, JsTree<np.Array>] => {
      const out = lossFn(p, batch, rng);
      if (out.loss.ndim !== 0) throw new Error(`train-step.ts: the loss must be a scalar, got shape [${out.loss.shape}]`);
      return [out.loss, out.aux ?? {}];
    };
    const [[loss, aux], rawGrads] = valueAndGrad(objective, { hasAux: true })(tree.ref(params) as never) as unknown as [
      [np.Array, JsTree<np.Array>],
      P,
    ];
    let grads: P;
    let gradNorm: np.Array;
    if (clipNorm === null) {
      grads = rawGrads;
      gradNorm = globalNorm(tree.ref(rawGrads));
    } else {
      ({ grads, norm: gradNorm } = clipByGlobalNorm(rawGrads, clipNorm));
    }
    const updated = adamwUpdate(grads, optState, params, { ...hyper, lr });
    return { params: updated.params, optState: updated.state, loss, gradNorm, aux };
  };

  const compiled = jit(stepFn as unknown as (...args: JsTree<np.Array>[]) => JsTree<np.Array>) as unknown as OwnedFunction<StepFn<P, B>>;
  // jit sees the argument list as a tree; leave a missing rng out instead of passing undefined.
  const step: StepFn<P, B> = (params, optState, batch, lr, rng) =>
    rng === undefined ? compiled(params, optState, batch, lr) : compiled(params, optState, batch, lr, rng);
  return { step, stepFn, dispose: () => compiled.dispose() };
}
