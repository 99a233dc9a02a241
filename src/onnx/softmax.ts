/**
 * The softmax of src/nn/attention.ts `maskedSoftmax` recognised in a forward jaxpr and emitted
 * as one ONNX `Softmax` (axis −1) instead of ~6 full-size element-wise and reduction nodes
 * (ReduceMax, Add of the negated max, Exp, ReduceSum, Mul by the reciprocal). In the world step
 * these ran over (1, 4, 256, 256) scores per spatial attention layer and pass: ~2.6 ms of a
 * ~33 ms step on onnxruntime-node.
 *
 * Matched: the contiguous run of equations maskedSoftmax traces without a mask, whose
 * intermediates are used nowhere else:
 *
 *   m = reshape(reduce_max(x, last)) → stop_gradient → max(·, floor) → neg → e = exp(x + ·)
 *   → reshape(reduce_sum(e, last)) → + tiny → jit "closure" { e · reciprocal(den) }
 *
 * Why it is the same numbers: ONNX Softmax also shifts by the row max. Where the row max is at
 * least the floor (−1e30, so any row with a finite entry of ordinary size) maskedSoftmax's
 * shift is that max, the denominator is ≥ 1, and adding `tiny` (≤ 2^−25, below half an ulp of
 * 1 in float32) changes nothing.
 *
 * Not matched:
 * - Gradients: the exp and the denominator are residuals of the backward (and the divide jit is
 *   split into `closure_jvp_peval`), so the equations are lowered one by one as before.
 * - The masked forms (x made by a `where` with −Infinity, or an `add` of an additive mask): a
 *   fully masked row is all −Infinity, where maskedSoftmax gives zeros but ONNX Softmax gives
 *   NaN (−inf − (−inf)). Those rows happen (padding, the first query of a sliding window), so
 *   the masked forms stay decomposed; the world step's hot softmaxes carry no mask.
 * - An unmasked x whose row is entirely −Infinity would give NaN here too; nothing in worldkit
 *   feeds such logits without a mask.
 *
 * Parity tests: test/onnx/softmax.test.ts.
 */
import type { Jaxpr } from "../core/jax.js";
import type { GraphBuilder } from "./graph.js";

type Eqn = Jaxpr["eqns"][number];
type Atom = Eqn["inputs"][number];

export interface SoftmaxMatch {
  /** The logits (softmax over their last axis). */
  x: Atom;
  /** The matched equations' count, from the first; the last one's output is the softmax's. */
  length: number;
}

/** Number of equations maskedSoftmax traces without a mask. */
const LENGTH = 11;
/** The floor must keep any ordinary finite row max unchanged (attention.ts uses −1e30). */
const MAX_FLOOR = -1e29;
/** Below half an ulp of 1 in float32: adding it to a denominator ≥ 1 is exact. */
const MAX_TINY = 2 ** -25;

const literal = (a: Atom): number | undefined => ("value" in a ? Number((a as { value: number }).value) : undefined);
const shapeOf = (a: Atom): number[] => (a.aval as unknown as { shape: number[] }).shape;
const dtypeOf = (a: Atom): string => (a.aval as unknown as { dtype: string }).dtype;

/** `reduce(op, last axis)` of `input` then a reshape to keepdims; returns the reshape's output. */
function reduceLast(r: Eqn, reshape: Eqn, op: string, input: Atom): Atom | undefined {
  const rank = shapeOf(input).length;
  const axis = r.params.axis as number[] | undefined;
  if (r.primitive !== "reduce" || r.params.op !== op || r.inputs[0] !== input) return undefined;
  if (!axis || axis.length !== 1 || axis[0] !== rank - 1) return undefined;
  if (reshape.primitive !== "reshape" || reshape.inputs[0] !== r.outBinders[0]) return undefined;
  const kept = shapeOf(reshape.outBinders[0]);
  const expected = [...shapeOf(input).slice(0, -1), 1];
  return kept.length === rank && kept.every((d, i) => d === expected[i]) ? reshape.outBinders[0] : undefined;
}

/** `prim(v, c)` or `prim(c, v)` with c a literal; returns c. */
function withLiteral(e: Eqn, prim: string, v: Atom): number | undefined {
  if (e.primitive !== prim || e.inputs.length !== 2) return undefined;
  const [a, b] = e.inputs;
  if (a === v) return literal(b);
  if (b === v) return literal(a);
  return undefined;
}

/** The `closure` jit src/nn/ops.ts `divide` traces (num · reciprocal(den)), applied to (num, den). */
function isDivide(e: Eqn, num: Atom, den: Atom): boolean {
  if (e.primitive !== "jit" || e.params.name !== "closure" || e.inputs.length !== 2 || e.outBinders.length !== 1) return false;
  if (e.inputs[0] !== num || e.inputs[1] !== den) return false;
  const body = e.params.jaxpr as Jaxpr;
  if (body.eqns.length !== 2 || body.outs.length !== 1) return false;
  const [recip, mul] = body.eqns;
  const [a, b] = body.inBinders;
  return (
    recip.primitive === "reciprocal" &&
    recip.inputs[0] === b &&
    mul.primitive === "mul" &&
    mul.inputs[0] === a &&
    mul.inputs[1] === recip.outBinders[0] &&
    body.outs[0] === mul.outBinders[0]
  );
}

/** maskedSoftmax (unmasked form) starting at `eqns[i]`, or undefined. `uses`: norms.ts `useCounts`. */
export function matchSoftmax(eqns: Eqn[], i: number, uses: Map<Atom, number>): SoftmaxMatch | undefined {
  if (eqns.length < i + LENGTH) return undefined;
  const [rMax, sMax, stop, floor, neg, shift, exp, rSum, sSum, addTiny, div] = eqns.slice(i, i + LENGTH);
  const x = rMax.inputs[0];
  if (x === undefined || literal(x) !== undefined || dtypeOf(x) !== "float32" || shapeOf(x).length < 1) return undefined;
  const m = reduceLast(rMax, sMax, "Max", x);
  if (m === undefined || stop.primitive !== "stop_gradient" || stop.inputs[0] !== m) return undefined;
  const f = withLiteral(floor, "max", stop.outBinders[0]);
  if (f === undefined || !(f <= MAX_FLOOR)) return undefined;
  if (neg.primitive !== "neg" || neg.inputs[0] !== floor.outBinders[0]) return undefined;
  if (shift.primitive !== "add" || shift.inputs[0] !== x || shift.inputs[1] !== neg.outBinders[0]) return undefined;
  if (exp.primitive !== "exp" || exp.inputs[0] !== shift.outBinders[0]) return undefined;
  const e = exp.outBinders[0];
  const sum = reduceLast(rSum, sSum, "Add", e);
  if (sum === undefined) return undefined;
  const tiny = withLiteral(addTiny, "add", sum);
  if (tiny === undefined || !(tiny >= 0 && tiny <= MAX_TINY)) return undefined;
  if (!isDivide(div, e, addTiny.outBinders[0])) return undefined;
  // Every intermediate must stay inside the match (x may be used anywhere).
  const inside = new Map<Atom, number>();
  for (const eq of eqns.slice(i, i + LENGTH)) for (const a of eq.inputs) inside.set(a, (inside.get(a) ?? 0) + 1);
  for (const eq of eqns.slice(i, i + LENGTH - 1)) {
    for (const v of eq.outBinders) if ((uses.get(v) ?? 0) !== (inside.get(v) ?? 0)) return undefined;
  }
  return { x, length: LENGTH };
}

/**
 * Whether the ONNX value `x` is made by a `Where` or an `Add` node: maskedSoftmax's boolean or
 * additive mask, whose fully masked rows ONNX Softmax would turn into NaN. Looked up in the
 * emitted graph rather than the jaxpr so a mask applied outside an inlined jit is seen too.
 */
export function isMaskedLogits(g: GraphBuilder, x: string): boolean {
  for (let j = g.nodes.length - 1; j >= 0; j--) {
    const n = g.nodes[j];
    if (n.output.includes(x)) return n.opType === "Where" || n.opType === "Add";
  }
  return false;
}

/** Softmax of `x` over its last axis as one ONNX node (axis −1 semantics: opset 13+). */
export function emitSoftmax(g: GraphBuilder, x: string): string {
  return g.op("Softmax", [x], { axis: -1 });
}
