/**
 * One ONNX lowering per jax-js primitive.
 *
 * Each lowering reads its equation through a `LowerContext` (input names, avals, params) and
 * emits nodes into the graph builder, returning the ONNX names of the equation's outputs.
 * Semantics follow jax-js (node_modules/@jax-js/jax/dist/index.js), not NumPy, where they differ:
 * `idiv` truncates toward zero, `mod` takes the sign of the dividend (C-style), `reduce` drops
 * the reduced axes, `broadcast` inserts new axes at `axis` and then broadcasts to `shape`.
 *
 * Not lowered on purpose: `random_bits` (randomness such as dropout or MaskGIT masks enters the
 * graph as an input array, so an exported step is a pure function and replayable), and the
 * linear-algebra / sort / conv routines worldkit's models do not use.
 */
import { lowerDotEqn } from "./dot.js";
import { onnxType, type ElemType, type GraphBuilder } from "./graph.js";
import { lowerGather, lowerScatter } from "./indexing.js";
import { reshapeGroups, sameShape } from "./shapes.js";

/** What a lowering sees of one jaxpr equation. */
export interface LowerContext {
  readonly g: GraphBuilder;
  /** Target ONNX opset (reduce ops take `axes` as an input from 18 on). */
  readonly opset: number;
  readonly params: Record<string, any>;
  readonly numInputs: number;
  /** ONNX name of input `i`; a literal becomes a scalar constant of `dtype` (default: its own). */
  input(i: number, dtype?: ElemType): string;
  /**
   * Input `i` without expanding a deferred broadcast: its source (same rank, size 1 on the
   * broadcast axes) and that source's shape. Lowerings that commute with broadcasting use it.
   */
  inputLazy(i: number, dtype?: ElemType): { name: string; shape: number[] };
  inShape(i: number): number[];
  inDtype(i: number): ElemType;
  outShape(i?: number): number[];
  outDtype(i?: number): ElemType;
  /** Inputs of an element-wise n-ary op, literals cast to `dtype`, broadcasts left to ONNX. */
  broadcastInputs(indices: number[], dtype: ElemType): string[];
  /** Output 0 as `source` (same rank, size-1 axes) broadcast to the output shape, expanded only when a consumer needs it. */
  deferBroadcast(source: string, sourceShape: number[]): string;
}

export type Lowering = (cx: LowerContext) => string[];

const isFloat = (d: ElemType): boolean => d === "float32" || d === "float16" || d === "float64";

/** Element-wise unary op; it commutes with broadcasting, so it runs on a deferred broadcast's source. */
function unary(opType: string | ((cx: LowerContext) => string), emit?: (cx: LowerContext, x: string) => string): Lowering {
  return (cx) => {
    const x = cx.inputLazy(0);
    const type = typeof opType === "string" ? opType : opType(cx);
    return [cx.deferBroadcast(emit ? emit(cx, x.name) : cx.g.op(type, [x.name]), x.shape)];
  };
}

/** Element-wise binary op; `boolOp` replaces it on bool operands (ONNX Add/Mul reject bool). */
function binary(opType: string, boolOp?: string): Lowering {
  return (cx) => {
    const dtype = cx.outDtype();
    const [a, b] = cx.broadcastInputs([0, 1], dtype);
    if (dtype === "bool") {
      if (!boolOp) throw new Error(`src/onnx/ops.ts: ${opType} on bool operands is not supported`);
      return [cx.g.op(boolOp, [a, b])];
    }
    return [cx.g.op(opType, [a, b])];
  };
}

/** Round toward zero (jax-js idiv on floats); ONNX has no Trunc. */
function trunc(g: GraphBuilder, x: string): string {
  const negative = g.op("Less", [x, g.scalar(0, "float32")]);
  return g.op("Where", [negative, g.op("Ceil", [x]), g.op("Floor", [x])]);
}

const REDUCE_OPS: Record<string, string> = { Add: "ReduceSum", Mul: "ReduceProd", Min: "ReduceMin", Max: "ReduceMax" };

function lowerReduce(cx: LowerContext): string[] {
  const { op, axis } = cx.params as { op: string; axis: number[] };
  const opType = REDUCE_OPS[op];
  if (!opType) throw new Error(`src/onnx/ops.ts: reduce op "${op}" has no ONNX lowering`);
  const g = cx.g;
  // Reducing a deferred broadcast: a broadcast axis contributes its size (sum) or nothing (min/max).
  const lazy = cx.inputLazy(0);
  const full = cx.inShape(0);
  const broadcastAxes = axis.filter((a) => lazy.shape[a] === 1 && full[a] !== 1);
  const lazyOk = broadcastAxes.length === 0 || op === "Add" || op === "Min" || op === "Max";
  let x = lazyOk ? lazy.name : cx.input(0);
  const xShape = lazyOk ? lazy.shape : full;
  const keptShape = xShape.filter((_, i) => !axis.includes(i));
  if (axis.length === 0) return [cx.deferBroadcast(g.op("Identity", [x]), keptShape)];
  // onnxruntime's reductions take no bool; min/max over {0,1} as int32 are and/or.
  const dtype = cx.inDtype(0);
  if (dtype === "bool") x = g.op("Cast", [x], { to: 6 });
  const useInput = opType === "ReduceSum" ? cx.opset >= 13 : cx.opset >= 18;
  let out = useInput
    ? g.op(opType, [x, g.ints(axis)], { keepdims: 0 })
    : g.op(opType, [x], { axes: axis, keepdims: 0 });
  if (dtype === "bool") out = g.op("Cast", [out], { to: 9 });
  const count = lazyOk && op === "Add" && dtype !== "bool" ? broadcastAxes.reduce((n, a) => n * full[a], 1) : 1;
  if (count !== 1) out = g.op("Mul", [out, g.scalar(count, dtype)]);
  return [cx.deferBroadcast(out, keptShape)];
}

const COMPARE_OPS: Record<string, string> = { less: "Less", equal: "Equal", less_equal: "LessOrEqual", not_equal: "Equal" };

function lowerCompare(cx: LowerContext): string[] {
  const op = cx.params.op as string;
  const opType = COMPARE_OPS[op];
  if (!opType) throw new Error(`src/onnx/ops.ts: compare op "${op}" has no ONNX lowering`);
  // Both operands share one dtype; a literal takes the other operand's.
  const dtype = cx.numInputs > 1 && cx.inShape(0).length === 0 ? cx.inDtype(1) : cx.inDtype(0);
  let [a, b] = cx.broadcastInputs([0, 1], dtype);
  if (dtype === "bool" && opType !== "Equal") {
    a = cx.g.op("Cast", [a], { to: 6 });
    b = cx.g.op("Cast", [b], { to: 6 });
  }
  const out = cx.g.op(opType, [a, b]);
  return [op === "not_equal" ? cx.g.op("Not", [out]) : out];
}

function lowerBroadcast(cx: LowerContext): string[] {
  const { shape, axis } = cx.params as { shape: number[]; axis: number[] };
  const lazy = cx.inputLazy(0, cx.outDtype()); // broadcasting a broadcast: extend its source
  let x = lazy.name;
  const full = [...lazy.shape];
  for (const a of [...axis].sort((p, q) => p - q)) full.splice(a, 0, 1);
  if (axis.length > 0) x = cx.g.op("Unsqueeze", [x, cx.g.ints(axis)]); // new axes of size 1
  return [cx.deferBroadcast(x, full)];
}

function lowerSlice(g: GraphBuilder, x: string, shape: number[], bounds: [number, number][]): string {
  const axes = bounds.flatMap(([s, e], i) => (s !== 0 || e !== shape[i] ? [i] : []));
  if (axes.length === 0) return x;
  return g.op("Slice", [x, g.ints(axes.map((a) => bounds[a][0])), g.ints(axes.map((a) => bounds[a][1])), g.ints(axes)]);
}

function lowerPad(cx: LowerContext): string[] {
  const width = cx.params.width as [number, number][];
  const shape = cx.inShape(0);
  const g = cx.g;
  // Negative widths crop: slice them off first, then pad the positive parts with zeros.
  const cropped = lowerSlice(
    g,
    cx.input(0),
    shape,
    width.map(([lo, hi], i) => [Math.max(0, -lo), shape[i] - Math.max(0, -hi)]),
  );
  const pads = [...width.map(([lo]) => Math.max(0, lo)), ...width.map(([, hi]) => Math.max(0, hi))];
  if (pads.every((p) => p === 0)) return [g.op("Identity", [cropped])];
  return [g.op("Pad", [cropped, g.ints(pads)], { mode: "constant" })];
}

function lowerFlip(cx: LowerContext): string[] {
  const axis = cx.params.axis as number[];
  const shape = cx.inShape(0);
  const g = cx.g;
  if (axis.length === 0) return [g.op("Identity", [cx.input(0)])];
  // Step -1 from the last element; an end of -(dim+1) means "past index 0".
  const starts = g.ints(axis.map(() => -1));
  const ends = g.ints(axis.map((a) => -(shape[a] + 1)));
  return [g.op("Slice", [cx.input(0), starts, ends, g.ints(axis), g.ints(axis.map(() => -1))])];
}

/**
 * Reshape; on a deferred broadcast it reshapes the source when every merged/split group of axes
 * is either wholly broadcast or wholly not (the common case in gradients), else expands first.
 */
function lowerReshape(cx: LowerContext): string[] {
  const shape = cx.params.shape as number[];
  const lazy = cx.inputLazy(0);
  const full = cx.inShape(0);
  const groups = reshapeGroups(full, shape);
  if (!sameShape(lazy.shape, full) && groups) {
    const sourceShape: number[] = [];
    let ok = true;
    for (const [oldAxes, newAxes] of groups) {
      const big = oldAxes.filter((a) => full[a] !== 1);
      const broadcast = big.filter((a) => lazy.shape[a] === 1);
      if (broadcast.length > 0 && broadcast.length < big.length) ok = false;
      for (const a of newAxes) sourceShape.push(broadcast.length > 0 ? 1 : shape[a]);
    }
    if (ok) return [cx.deferBroadcast(cx.g.reshape(lazy.name, lazy.shape, sourceShape), sourceShape)];
  }
  return [cx.g.reshape(cx.input(0), full, shape)];
}

export const LOWERINGS: Partial<Record<string, Lowering>> = {
  add: binary("Add", "Or"),
  mul: binary("Mul", "And"),
  min: binary("Min", "And"),
  max: binary("Max", "Or"),
  idiv: (cx) => {
    const dtype = cx.outDtype();
    const [a, b] = cx.broadcastInputs([0, 1], dtype);
    const q = cx.g.op("Div", [a, b]); // integer Div already truncates
    return [isFloat(dtype) ? trunc(cx.g, q) : q];
  },
  mod: (cx) => [cx.g.op("Mod", cx.broadcastInputs([0, 1], cx.outDtype()), { fmod: 1 })],
  neg: unary((cx) => (cx.outDtype() === "bool" ? "Not" : "Neg")),
  reciprocal: unary("Reciprocal"),
  floor: unary((cx) => (isFloat(cx.outDtype()) ? "Floor" : "Identity")),
  ceil: unary((cx) => (isFloat(cx.outDtype()) ? "Ceil" : "Identity")),
  stop_gradient: unary("Identity"),
  sin: unary("Sin"),
  cos: unary("Cos"),
  asin: unary("Asin"),
  atan: unary("Atan"),
  exp: unary("Exp"),
  log: unary("Log"),
  erf: unary("Erf"),
  erfc: unary("Erfc", (cx, x) => cx.g.op("Sub", [cx.g.scalar(1, cx.outDtype()), cx.g.op("Erf", [x])])),
  sqrt: unary("Sqrt"),
  cast: unary("Cast", (cx, x) =>
    cx.outDtype() === cx.inDtype(0) ? cx.g.op("Identity", [x]) : cx.g.op("Cast", [x], { to: onnxType(cx.outDtype()) }),
  ),
  reduce: lowerReduce,
  compare: lowerCompare,
  where: (cx) => {
    const [cond] = cx.broadcastInputs([0], "bool");
    const [a, b] = cx.broadcastInputs([1, 2], cx.outDtype());
    return [cx.g.op("Where", [cond, a, b])];
  },
  dot: lowerDotEqn,
  concatenate: (cx) => {
    const inputs = Array.from({ length: cx.numInputs }, (_, i) => cx.input(i, cx.outDtype()));
    return [cx.g.op("Concat", inputs, { axis: cx.params.axis as number })];
  },
  split: (cx) => {
    const sizes = cx.params.sizes as number[];
    const axis = cx.params.axis as number;
    const x = cx.input(0);
    // Split of a transpose: split the source instead, then transpose each (smaller) piece, so
    // the pieces' transposes lose the split axis (q, k, v out of one fused projection).
    const t = cx.g.transposeOf(x);
    if (t) {
      const pieces = cx.g.node("Split", [t.source, cx.g.ints(sizes)], { axis: t.perm[axis] }, { numOutputs: sizes.length });
      return pieces.map((p, i) => cx.g.transpose(p, t.perm, t.shape.map((d, a) => (a === t.perm[axis] ? sizes[i] : d))));
    }
    return cx.g.node("Split", [x, cx.g.ints(sizes)], { axis }, { numOutputs: sizes.length });
  },
  transpose: (cx) => {
    const perm = cx.params.perm as number[];
    const x = cx.inputLazy(0); // a transposed broadcast is a broadcast of the transposed source
    return [cx.deferBroadcast(cx.g.transpose(x.name, perm, x.shape), perm.map((a) => x.shape[a]))];
  },
  broadcast: lowerBroadcast,
  reshape: lowerReshape,
  flip: lowerFlip,
  shrink: (cx) => [
    cx.g.op("Identity", [lowerSlice(cx.g, cx.input(0), cx.inShape(0), cx.params.slice as [number, number][])]),
  ],
  pad: lowerPad,
  gather: lowerGather,
  scatter: lowerScatter,
};

/** What a named-jit lowering may inspect of the jit's body. */
interface JitBody {
  inBinders: unknown[];
  outs: unknown[];
  eqns: { primitive: string; params: Record<string, any> }[];
}

/**
 * jax-js wraps some activations in a named nested jit (`jit[name=gelu]`, `jit[name=tanh]`).
 * Emitted as their single ONNX op, they run as one fused kernel in onnxruntime instead of ~10
 * full-size element-wise nodes. Only forward calls keep these names: in a gradient jax-js
 * renames the body (`gelu_jvp_peval`, ...), which is then inlined like any other jit.
 * Returns undefined when the jit is not recognised (the caller inlines it).
 */
export function namedJitLowering(name: string, body: JitBody, opset: number): Lowering | undefined {
  if (body.inBinders.length !== 1 || body.outs.length !== 1) return undefined;
  const has = (p: (e: JitBody["eqns"][number]) => boolean) => body.eqns.some(p);
  if (name === "tanh") return unary("Tanh");
  if (name === "silu") return unary("Silu", (cx, x) => cx.g.op("Mul", [x, cx.g.op("Sigmoid", [x])]));
  if (name === "gelu" && opset >= 20) {
    const approximate = has((e) => e.primitive === "jit" && e.params.name === "tanh");
    const exact = has((e) => e.primitive === "erfc" || e.primitive === "erf");
    if (approximate === exact) return undefined;
    return unary("Gelu", (cx, x) => cx.g.op("Gelu", [x], { approximate: approximate ? "tanh" : "none" }));
  }
  return undefined;
}
