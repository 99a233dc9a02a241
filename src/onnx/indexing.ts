/**
 * Lowerings of jax-js `gather` (NumPy advanced indexing: index arrays on `axis`, broadcast
 * together, their axes placed at `outDim` among the remaining axes) and of its transpose
 * `scatter` (into zeros of `shape`; `op` "add" accumulates duplicates, which is the gradient of
 * an embedding lookup) to ONNX Gather / GatherND / ScatterND.
 */
import type { GraphBuilder } from "./graph.js";
import type { LowerContext } from "./ops.js";
import { broadcastShapes, invertPerm, sameShape } from "./shapes.js";

function transpose(g: GraphBuilder, x: string, perm: number[]): string {
  return g.transpose(x, perm);
}

/**
 * Shared by gather and scatter: the operand permutation that brings the indexed axes first, the
 * stacked int64 index tensor `[...indexShape, k]`, and the permutation from `[...indexShape,
 * ...rest]` to jax-js's layout (index axes inserted at `outDim` among the rest).
 */
function indexLayout(cx: LowerContext, operandShape: number[]) {
  const g = cx.g;
  const axis = cx.params.axis as number[];
  const outDim = cx.params.outDim as number;
  const k = axis.length;
  const indexShape = cx.outShape().length - (operandShape.length - k);
  const idxShape = broadcastShapes(Array.from({ length: k }, (_, j) => cx.inShape(j + 1)));
  if (idxShape.length !== indexShape) throw new Error("src/onnx/ops.ts: gather index rank mismatch");
  const rest = operandShape.map((_, i) => i).filter((i) => !axis.includes(i));
  const operandPerm = [...axis, ...rest];
  const columns = axis.map((_, j) => {
    let idx = g.op("Cast", [cx.input(j + 1, "int32")], { to: 7 });
    if (!sameShape(cx.inShape(j + 1), idxShape)) idx = g.op("Expand", [idx, g.ints(idxShape)]);
    return g.op("Unsqueeze", [idx, g.ints([-1])]); // (...idx, 1)
  });
  const stacked = k === 1 ? columns[0] : g.op("Concat", columns, { axis: -1 }); // (...idx, k)
  // [...idx, ...rest] -> rest with the idx axes at outDim.
  const r = idxShape.length;
  const restIds = rest.map((_, i) => r + i);
  const idxIds = idxShape.map((_, i) => i);
  const outPerm = [...restIds.slice(0, outDim), ...idxIds, ...restIds.slice(outDim)];
  return { operandPerm, stacked, outPerm, idxShape, rest };
}

export function lowerGather(cx: LowerContext): string[] {
  const g = cx.g;
  const shape = cx.inShape(0);
  const axis = cx.params.axis as number[];
  if (axis.length === 1) return [gatherOneAxis(cx, axis[0], cx.params.outDim as number)];
  const { operandPerm, stacked, outPerm } = indexLayout(cx, shape);
  const x = transpose(g, cx.input(0), operandPerm);
  const gathered = g.op("GatherND", [x, stacked]); // (...idx, ...rest)
  return [transpose(g, gathered, outPerm)];
}

/** One index array: plain Gather (an embedding lookup), which beats GatherND. */
function gatherOneAxis(cx: LowerContext, axis: number, outDim: number): string {
  const g = cx.g;
  const restRank = cx.inShape(0).length - 1;
  const idxRank = cx.inShape(1).length;
  const gathered = g.op("Gather", [cx.input(0), cx.input(1, "int32")], { axis }); // rest with idx at `axis`
  // Label gathered axes: rest axes 0..restRank-1, index axes restRank...
  const rest = Array.from({ length: restRank }, (_, i) => i);
  const idx = Array.from({ length: idxRank }, (_, i) => restRank + i);
  const have = [...rest.slice(0, axis), ...idx, ...rest.slice(axis)];
  const want = [...rest.slice(0, outDim), ...idx, ...rest.slice(outDim)];
  return transpose(g, gathered, want.map((label) => have.indexOf(label)));
}

export function lowerScatter(cx: LowerContext): string[] {
  const g = cx.g;
  const { op, shape } = cx.params as { op: string; shape: number[] };
  const { operandPerm, stacked, outPerm } = indexLayout(cx, shape);
  const updates = transpose(g, cx.input(0), invertPerm(outPerm)); // (...idx, ...rest)
  const zeros = g.op("Expand", [g.scalar(0, cx.outDtype()), g.ints(operandPerm.map((a) => shape[a]))]);
  const reduction = op === "add" ? "add" : "none";
  const scattered = g.op("ScatterND", [zeros, stacked, updates], { reduction });
  return [transpose(g, scattered, invertPerm(operandPerm))];
}

