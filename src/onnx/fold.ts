/**
 * Constant folding over uniform constants (every element equal), before lowering.
 *
 * jax-js's linearised gradients keep many dead tangent terms inside nested jits — `mul a 0`,
 * `where k 0 0`, then products and sums of those — each a full-size ONNX node that onnxruntime
 * (which does not fuse element-wise chains on CPU) would run. In the GELU MLP's gradient they
 * are a third of the element-wise work. Folding them here removes them from the graph.
 *
 * Like jax-js's own `Jaxpr.simplify()`, `x * 0` folds to 0 without regard to x being inf/NaN.
 */

/** A fold: the output is a uniform constant, or it equals (a broadcast of) input `input`. */
export type Fold = { constant: number } | { input: number } | undefined;

export interface FoldInputs {
  primitive: string;
  params: Record<string, any>;
  /** Uniform value of each input, undefined where unknown. */
  values: (number | undefined)[];
  inShapes: number[][];
  outShape: number[];
  inDtypes: string[];
  outDtype: string;
}

const toDtype = (x: number, dtype: string): number => {
  if (dtype === "bool") return x ? 1 : 0;
  if (dtype === "int32") return Math.trunc(x) | 0;
  return Math.fround(x);
};

/** Fold one equation, or return undefined to lower it normally. */
export function foldEquation(f: FoldInputs): Fold {
  const [a, b] = f.values;
  const known = (v: number | undefined): v is number => v !== undefined;
  const constant = (x: number): Fold => ({ constant: toDtype(x, f.outDtype) });
  const sameAsOut = (i: number) => f.inDtypes[i] === f.outDtype;
  switch (f.primitive) {
    case "mul":
      if (a === 0 || b === 0) return constant(0);
      if (known(a) && known(b)) return constant(a * b);
      if (a === 1 && sameAsOut(1)) return { input: 1 };
      if (b === 1 && sameAsOut(0)) return { input: 0 };
      return undefined;
    case "add":
      if (known(a) && known(b)) return constant(f.outDtype === "bool" ? Number(a || b) : a + b);
      if (a === 0 && sameAsOut(1)) return { input: 1 };
      if (b === 0 && sameAsOut(0)) return { input: 0 };
      return undefined;
    case "neg":
      return known(a) ? constant(f.outDtype === "bool" ? Number(!a) : -a) : undefined;
    case "where": {
      const [cond, x, y] = f.values;
      if (known(x) && known(y) && x === y) return constant(x);
      if (known(cond)) return { input: cond ? 1 : 2 };
      return undefined;
    }
    case "dot":
      return a === 0 || b === 0 ? constant(0) : undefined;
    case "reduce": {
      if (!known(a)) return undefined;
      const count = (f.params.axis as number[]).reduce((n, ax) => n * f.inShapes[0][ax], 1);
      if (f.params.op === "Add") return constant(f.outDtype === "bool" ? a : a * count);
      if (f.params.op === "Min" || f.params.op === "Max") return constant(a);
      return undefined;
    }
    case "pad":
      return a === 0 ? constant(0) : undefined;
    case "broadcast":
    case "reshape":
    case "transpose":
    case "flip":
    case "shrink":
    case "stop_gradient":
    case "cast":
      return known(a) ? constant(a) : undefined;
    case "concatenate":
      return f.values.every((v) => v === a) && known(a) ? constant(a) : undefined;
    default:
      return undefined;
  }
}
