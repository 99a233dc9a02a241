/**
 * LayerNorm and RMSNorm (src/nn/norm.ts) recognised in a forward jaxpr and emitted as one ONNX
 * `LayerNormalization` (opset 17+) or onnxruntime's `SimplifiedLayerNormalization` (RMSNorm;
 * a CPU kernel in the default domain, also in onnxruntime-web) instead of ~12 element-wise and
 * reduction nodes each: in an ST stack's inference graph they are 5 norms per block.
 *
 * Matched: a contiguous run of equations exactly as norm.ts traces them (statistics over the
 * last axis, `mul` by the literal 1/D for the mean, `+ eps`, `sqrt`, a jit dividing by it,
 * then `* scale` (+ `bias`) with 1-D params), whose intermediates are used nowhere else. In a
 * gradient the intermediates are residuals of the backward, so nothing matches there and the
 * norm is lowered equation by equation as before.
 */
import type { Jaxpr } from "../core/jax.js";

type Eqn = Jaxpr["eqns"][number];
type Atom = Eqn["inputs"][number];

export interface NormMatch {
  kind: "layer" | "rms";
  x: Atom;
  scale: Atom;
  bias?: Atom;
  eps: number;
  /** The matched equations' count, from the first; the last one's output is the norm's. */
  length: number;
}

const literal = (a: Atom): number | undefined => ("value" in a ? Number((a as { value: number }).value) : undefined);
const shapeOf = (a: Atom): number[] => (a.aval as unknown as { shape: number[] }).shape;
const same = (a: Atom, b: Atom): boolean => a === b;

/** Count uses of every variable (equation inputs, nested jits not entered, and the outputs). */
export function useCounts(jaxpr: Jaxpr): Map<Atom, number> {
  const uses = new Map<Atom, number>();
  const add = (a: Atom) => uses.set(a, (uses.get(a) ?? 0) + 1);
  for (const e of jaxpr.eqns) e.inputs.forEach(add);
  jaxpr.outs.forEach(add);
  return uses;
}

/** `mul v c` with c the literal 1/D (either operand order); returns v. */
function meanOf(e: Eqn, D: number): Atom | undefined {
  if (e.primitive !== "mul") return undefined;
  const [a, b] = e.inputs;
  const c = literal(b) ?? literal(a);
  if (c === undefined || Math.abs(c * D - 1) > 1e-6) return undefined;
  return literal(b) !== undefined ? a : b;
}

/** reduce(Add, last axis) then reshape to keepdims: returns the reduced input. */
function sumLast(r: Eqn, reshape: Eqn): Atom | undefined {
  const input = r.inputs[0];
  const rank = shapeOf(input).length;
  const axis = r.params.axis as number[];
  if (r.primitive !== "reduce" || r.params.op !== "Add" || axis.length !== 1 || axis[0] !== rank - 1) return undefined;
  if (reshape.primitive !== "reshape" || !same(reshape.inputs[0], r.outBinders[0])) return undefined;
  return input;
}

/** `sqrt(m + eps)` divided into `num` by the `closure` jit norm.ts's divide traces; returns eps. */
function divideBySqrt(add: Eqn, sqrt: Eqn, div: Eqn, m: Atom, num: Atom): number | undefined {
  const eps = add.primitive === "add" && same(add.inputs[0], m) ? literal(add.inputs[1]) : undefined;
  if (eps === undefined || sqrt.primitive !== "sqrt" || !same(sqrt.inputs[0], add.outBinders[0])) return undefined;
  if (div.primitive !== "jit" || div.inputs.length !== 2 || !same(div.inputs[0], num) || !same(div.inputs[1], sqrt.outBinders[0])) return undefined;
  const body = (div.params.jaxpr as Jaxpr).eqns.map((e) => e.primitive);
  return body.length === 2 && body[0] === "reciprocal" && body[1] === "mul" ? eps : undefined;
}

/** `mul v p` with p a 1-D param of size D; returns p. */
function byParam(e: Eqn | undefined, v: Atom, D: number): Atom | undefined {
  if (!e || (e.primitive !== "mul" && e.primitive !== "add") || !same(e.inputs[0], v)) return undefined;
  const p = e.inputs[1];
  return literal(p) === undefined && shapeOf(p).length === 1 && shapeOf(p)[0] === D ? p : undefined;
}

/** A norm starting at `eqns[i]`, or undefined. */
export function matchNorm(eqns: Eqn[], i: number, uses: Map<Atom, number>): NormMatch | undefined {
  const m = matchLayer(eqns, i) ?? matchRms(eqns, i);
  if (!m) return undefined;
  // Every intermediate must stay inside the match (x may be used anywhere).
  const inside = new Map<Atom, number>();
  for (const e of eqns.slice(i, i + m.length)) for (const a of e.inputs) inside.set(a, (inside.get(a) ?? 0) + 1);
  for (const e of eqns.slice(i, i + m.length - 1)) {
    for (const v of e.outBinders) if ((uses.get(v) ?? 0) !== (inside.get(v) ?? 0)) return undefined;
  }
  return m;
}

function matchLayer(eqns: Eqn[], i: number): NormMatch | undefined {
  if (eqns.length < i + 13) return undefined;
  const [r1, s1, m1, neg, sub, sq, r2, s2, m2, add, sqrt, div, mulScale] = eqns.slice(i, i + 13);
  const x = r1.inputs[0];
  if (x === undefined || literal(x) !== undefined || (x.aval as unknown as { dtype: string }).dtype !== "float32") return undefined;
  const D = shapeOf(x)[shapeOf(x).length - 1];
  if (sumLast(r1, s1) !== x || meanOf(m1, D) !== s1.outBinders[0]) return undefined;
  if (neg.primitive !== "neg" || !same(neg.inputs[0], m1.outBinders[0])) return undefined;
  if (sub.primitive !== "add" || !same(sub.inputs[0], x) || !same(sub.inputs[1], neg.outBinders[0])) return undefined;
  const xc = sub.outBinders[0];
  if (sq.primitive !== "mul" || !same(sq.inputs[0], xc) || !same(sq.inputs[1], xc)) return undefined;
  if (sumLast(r2, s2) !== sq.outBinders[0] || meanOf(m2, D) !== s2.outBinders[0]) return undefined;
  const eps = divideBySqrt(add, sqrt, div, m2.outBinders[0], xc);
  const scale = byParam(mulScale, div.outBinders[0], D);
  if (eps === undefined || scale === undefined || mulScale.primitive !== "mul") return undefined;
  const bias = byParam(eqns[i + 13], mulScale.outBinders[0], D);
  const withBias = bias !== undefined && eqns[i + 13].primitive === "add";
  return { kind: "layer", x, scale, bias: withBias ? bias : undefined, eps, length: withBias ? 14 : 13 };
}

function matchRms(eqns: Eqn[], i: number): NormMatch | undefined {
  if (eqns.length < i + 8) return undefined;
  const [sq, r, s, m, add, sqrt, div, mulScale] = eqns.slice(i, i + 8);
  const x = sq.inputs[0];
  if (sq.primitive !== "mul" || literal(x) !== undefined || !same(sq.inputs[1], x)) return undefined;
  if ((x.aval as unknown as { dtype: string }).dtype !== "float32") return undefined;
  const D = shapeOf(x)[shapeOf(x).length - 1];
  if (sumLast(r, s) !== sq.outBinders[0] || meanOf(m, D) !== s.outBinders[0]) return undefined;
  const eps = divideBySqrt(add, sqrt, div, m.outBinders[0], x);
  const scale = byParam(mulScale, div.outBinders[0], D);
  if (eps === undefined || scale === undefined || mulScale.primitive !== "mul") return undefined;
  return { kind: "rms", x, scale, eps, length: 8 };
}
