/**
 * GELU and its gradient as a handful of ONNX nodes.
 *
 * In a gradient, jax-js splits `jit[name=gelu]` into `gelu_jvp_peval` (the forward plus ~15
 * full-size residual arrays) and `gelu_jvp_resid_t` (the backward, ~20 element-wise products of
 * those residuals with the cotangent). onnxruntime's CPU provider does not fuse element-wise
 * chains, so inlined they were the largest cost of an ST-stack training step (2.4 s of 8.6 s at
 * the dynamics-like shape: every node is a full pass over the MLP's hidden activations). Here the
 * forward becomes one `Gelu` node and the backward is written from the input alone:
 *
 *   tanh form:  gelu(x) = x·σ(z), z = 2c(x + k x³), c = √(2/π), k = 0.044715
 *               gelu'(x) = σ(z)·(1 + x·(1 − σ(z))·z'),  z' = 2c(1 + 3k x²)
 *   exact form: gelu'(x) = Φ(x) + x·φ(x)
 *
 * The jits are recognised by name and by their body (the 0.044715 constant, or erf/erfc);
 * anything else is inlined as before. Parity tests: test/onnx/functions.test.ts.
 */
import type { GraphBuilder } from "./graph.js";

export type GeluForm = "tanh" | "none";

interface Body {
  inBinders: unknown[];
  outs: unknown[];
  eqns: { primitive: string; inputs: unknown[]; params: Record<string, any> }[];
}

const K = 0.044715;

/** The GELU form a `gelu_jvp_peval` body computes, or undefined if it is not one. */
export function geluPevalForm(name: string, body: Body): GeluForm | undefined {
  if (name !== "gelu_jvp_peval" || body.inBinders.length !== 1) return undefined;
  const hasConst = body.eqns.some(
    (e) => e.primitive === "mul" && e.inputs.some((a) => Math.abs(Number((a as { value?: number }).value) - K) < 1e-6),
  );
  const hasErf = body.eqns.some((e) => e.primitive === "erf" || e.primitive === "erfc");
  if (hasConst === hasErf) return undefined;
  return hasConst ? "tanh" : "none";
}

/** gelu(x) as one ONNX `Gelu` (opset 20). */
export function emitGelu(g: GraphBuilder, x: string, form: GeluForm): string {
  return g.op("Gelu", [x], { approximate: form });
}

/** gelu'(x) · ct, element-wise (x and ct of the same shape). */
export function emitGeluGrad(g: GraphBuilder, x: string, ct: string, form: GeluForm): string {
  const s = (v: number) => g.scalar(v, "float32");
  const x2 = g.op("Mul", [x, x]);
  let d: string;
  if (form === "tanh") {
    const c2 = 2 * Math.sqrt(2 / Math.PI);
    const z = g.op("Mul", [x, g.op("Add", [g.op("Mul", [x2, s(c2 * K)]), s(c2)])]);
    const sig = g.op("Sigmoid", [z]);
    const dz = g.op("Add", [g.op("Mul", [x2, s(3 * c2 * K)]), s(c2)]);
    const inner = g.op("Mul", [g.op("Mul", [x, g.op("Sub", [s(1), sig])]), dz]);
    d = g.op("Mul", [sig, g.op("Add", [inner, s(1)])]);
  } else {
    const cdf = g.op("Mul", [g.op("Add", [g.op("Erf", [g.op("Mul", [x, s(Math.SQRT1_2)])]), s(1)]), s(0.5)]);
    const pdf = g.op("Exp", [g.op("Mul", [x2, s(-0.5)])]);
    d = g.op("Add", [cdf, g.op("Mul", [x, g.op("Mul", [pdf, s(1 / Math.sqrt(2 * Math.PI))])])]);
  }
  return g.op("Mul", [d, ct]);
}
