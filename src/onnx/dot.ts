/**
 * Lowering of jax-js `dot` to ONNX MatMul.
 *
 * jax-js has no matmul primitive: `np.matmul(a_MK, b_KN)` traces as
 * `dot(reshape(a, [M, 1, K]), reshape(transpose(b), [1, N, K]))`, i.e. `sum(x * y, axis=-1)` after
 * NumPy broadcasting. Emitting that literally (Mul + ReduceSum) would materialise an M·N·K
 * tensor, so we read the broadcast pattern instead: every output axis is either
 *   batch  — both operands have it (size > 1 in both),
 *   m      — only x has it (y is 1 there),
 *   n      — only y has it (x is 1 there),
 *   unit   — the output is 1 there,
 * and rebuild the product as one batched MatMul `[batch..., M, K] @ [batch..., K, N]`, with
 * Reshape/Transpose only where the axes are not already in that order. onnxruntime's transpose
 * optimiser then folds the `[.., N, K] -> [.., K, N]` transpose into the weight or into a
 * FusedMatMul.
 */
import type { GraphBuilder } from "./graph.js";
import type { LowerContext } from "./ops.js";
import { broadcastShapes, prod } from "./shapes.js";

type AxisRole = "batch" | "m" | "n" | "unit";

const reshapeIfNeeded = (g: GraphBuilder, name: string, from: number[], to: number[]): string => g.reshape(name, from, to);
const transposeIfNeeded = (g: GraphBuilder, name: string, perm: number[], shape: number[]): string => g.transpose(name, perm, shape);

/**
 * Emit `dot(x, y)` as MatMul. Shapes are the operands' (x and y broadcast against each other on
 * all but their shared last axis K; either may be an un-expanded broadcast). Returns the result
 * and its shape: rank `outRank`, size 1 on axes where both operands are 1 (the caller broadcasts).
 */
export function lowerDot(
  g: GraphBuilder,
  x: string,
  xShape: number[],
  y: string,
  yShape: number[],
  outRank: number,
): { name: string; shape: number[] } {
  const K = xShape[xShape.length - 1];
  if (yShape[yShape.length - 1] !== K) {
    throw new Error(`src/onnx/dot.ts: dot contracts last axes of different sizes ${xShape} and ${yShape}`);
  }
  // Right-align both operands' leading axes with the output axes.
  const xLead = [...Array(outRank - (xShape.length - 1)).fill(1), ...xShape.slice(0, -1)];
  const yLead = [...Array(outRank - (yShape.length - 1)).fill(1), ...yShape.slice(0, -1)];
  const outShape = xLead.map((d, i) => Math.max(d, yLead[i]));
  const roles: AxisRole[] = outShape.map((d, i) => {
    if (d === 1) return "unit";
    if (xLead[i] === d && yLead[i] === d) return "batch";
    if (xLead[i] === d) return "m";
    return "n";
  });
  const axesOf = (role: AxisRole): number[] => roles.flatMap((r, i) => (r === role ? [i] : []));
  const batch = axesOf("batch");
  const mAxes = axesOf("m");
  const nAxes = axesOf("n");
  const batchDims = batch.map((i) => outShape[i]);
  const M = prod(mAxes.map((i) => outShape[i]));
  const N = prod(nAxes.map((i) => outShape[i]));

  // x: drop its size-1 axes, order [batch..., m..., K], flatten to [batch..., M, K].
  const xKept = [...batch, ...mAxes];
  const xSqueezed = roles.flatMap((r, i) => (r === "batch" || r === "m" ? [i] : []));
  let xs = reshapeIfNeeded(g, x, xShape, [...xSqueezed.map((i) => outShape[i]), K]); // (..kept, K)
  const xPerm = [...xKept.map((a) => xSqueezed.indexOf(a)), xSqueezed.length];
  xs = transposeIfNeeded(g, xs, xPerm, [...xSqueezed.map((i) => outShape[i]), K]);
  xs = reshapeIfNeeded(g, xs, [...xKept.map((i) => outShape[i]), K], [...batchDims, M, K]); // -> (batch.., M, K)

  // y: order [batch..., K, n...], flatten to [batch..., K, N].
  const ySqueezed = roles.flatMap((r, i) => (r === "batch" || r === "n" ? [i] : []));
  let ys = reshapeIfNeeded(g, y, yShape, [...ySqueezed.map((i) => outShape[i]), K]); // (..kept, K)
  const yPerm = [...batch.map((a) => ySqueezed.indexOf(a)), ySqueezed.length, ...nAxes.map((a) => ySqueezed.indexOf(a))];
  ys = transposeIfNeeded(g, ys, yPerm, [...ySqueezed.map((i) => outShape[i]), K]);
  ys = reshapeIfNeeded(g, ys, [...batchDims, K, ...nAxes.map((i) => outShape[i])], [...batchDims, K, N]); // -> (batch.., K, N)

  let out = g.op("MatMul", [xs, ys]); // (batch.., M, N)
  // Unflatten M and N, move axes back to the output order, re-insert the unit axes.
  const order = [...batch, ...mAxes, ...nAxes];
  out = reshapeIfNeeded(g, out, [...batchDims, M, N], order.map((i) => outShape[i])); // (batch.., m.., n..)
  const sortedOrder = [...order].sort((a, b) => a - b);
  out = transposeIfNeeded(g, out, sortedOrder.map((a) => order.indexOf(a)), order.map((i) => outShape[i]));
  return { name: reshapeIfNeeded(g, out, sortedOrder.map((i) => outShape[i]), outShape), shape: outShape };
}

/**
 * dot = sum(x * y, axis=-1). Usually a MatMul (dot.ts). When one operand is a broadcast that is
 * constant along K (jax-js's gradient of a dot broadcasts the cotangent that way), there is no
 * product to form: it is that operand times the row sums of the other.
 */
export function lowerDotEqn(cx: LowerContext): string[] {
  const g = cx.g;
  const dtype = cx.outDtype();
  const outRank = cx.outShape().length;
  const x = cx.inputLazy(0, dtype);
  const y = cx.inputLazy(1, dtype);
  const K = cx.inShape(0)[cx.inShape(0).length - 1];
  const xConst = x.shape[x.shape.length - 1] === 1 && K !== 1;
  const yConst = y.shape[y.shape.length - 1] === 1 && K !== 1;
  if (!xConst && !yConst) {
    const r = lowerDot(g, x.name, x.shape, y.name, y.shape, outRank);
    return [cx.deferBroadcast(r.name, r.shape)];
  }
  const lead = (s: number[]) => [...Array(outRank - (s.length - 1)).fill(1), ...s.slice(0, -1)];
  const rowSum = (v: { name: string; shape: number[] }, constant: boolean) =>
    g.op("Reshape", [constant ? v.name : g.op("ReduceSum", [v.name, g.ints([-1])], { keepdims: 1 }), g.ints(lead(v.shape))]);
  let out = g.op("Mul", [rowSum(x, xConst), rowSum(y, yConst)]);
  if (xConst && yConst) out = g.op("Mul", [out, g.scalar(K, dtype)]);
  return [cx.deferBroadcast(out, broadcastShapes([lead(x.shape), lead(y.shape)]))];
}
