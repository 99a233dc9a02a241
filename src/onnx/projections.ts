/**
 * Split fused projections of constant weights: `Split(Reshape(MatMul(x, W)))` along the
 * weight's output columns (q, k, v out of one `wqkv`) becomes one MatMul per piece with that
 * piece's columns of W, each reshaped straight to the piece's shape. The fused form makes
 * onnxruntime write the whole projection and then copy it apart (a Split over 3·S·D values per
 * attention call, about 7% of an ST stack's int8 inference); the pieces' MatMuls cost what the
 * fused one did. Only for weights baked in as constants (inference graphs): a training graph's
 * weights are inputs and its fused MatMul stays.
 *
 * Only for large projections (at least MIN_SPLIT_ELEMENTS outputs): each piece's MatMul reads
 * (and under int8, quantizes) the input again, which costs more than the copy it saves on a small
 * one. Measured on onnxruntime-node, 1 thread: the ST stack bench's [1024 × 256] · [256 × 768]
 * got faster (int8 1.76–1.81× → 1.83–1.87× fp32's speed), the world session's [256 × 128] ·
 * [128 × 384] step got slower in int8 (32.9–33.1 → 34.4–34.6 ms).
 */
import type { NodeProtoInit } from "./proto.js";
import type { GraphBuilder } from "./graph.js";
import { constantOperand, int64Values } from "./quantize.js";

const product = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

/** Smallest fused projection output (elements) that is split. */
export const MIN_SPLIT_ELEMENTS = 1 << 18;

/** int64 values of an initializer (a Reshape's target shape), or undefined. */
function intsOf(g: GraphBuilder, name: string): number[] | undefined {
  const t = g.initializers.find((i) => i.name === name);
  return t && t.dims.length === 1 ? int64Values(t) : undefined;
}

/** Columns [from, to) of a row-major [K, N] matrix. */
function columns(w: Float32Array, K: number, N: number, from: number, to: number): Float32Array {
  const out = new Float32Array(K * (to - from));
  for (let k = 0; k < K; k++) out.set(w.subarray(k * N + from, k * N + to), k * (to - from));
  return out;
}

/** Rewrite every fused constant-weight projection that is split by columns; returns how many. */
export function splitConstantProjections(g: GraphBuilder, minElements = MIN_SPLIT_ELEMENTS): number {
  const consumers = new Map<string, NodeProtoInit[]>();
  for (const n of g.nodes) {
    for (const i of n.input) {
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
  }
  const producer = new Map<string, NodeProtoInit>();
  for (const n of g.nodes) for (const o of n.output) producer.set(o, n);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const only = (name: string) => (graphOutputs.has(name) ? undefined : consumers.get(name)?.length === 1 ? consumers.get(name)![0] : undefined);

  let rewritten = 0;
  for (const split of [...g.nodes]) {
    if (split.opType !== "Split" || split.input.length < 2) continue;
    const reshape = producer.get(split.input[0]);
    if (reshape?.opType !== "Reshape" || only(reshape.output[0]) !== split) continue;
    const matmul = producer.get(reshape.input[0]);
    if (matmul?.opType !== "MatMul" || only(matmul.output[0]) !== reshape) continue;
    const w = constantOperand(g, matmul.input[1]);
    const target = intsOf(g, reshape.input[1]);
    const sizes = intsOf(g, split.input[1]);
    if (!w || w.shape.length !== 2 || !target || !sizes || target.some((d) => d < 0)) continue;
    const rank = target.length;
    const rawAxis = split.attribute.find((a) => a.name === "axis")?.i;
    const axis = Number(rawAxis ?? 0) < 0 ? Number(rawAxis) + rank : Number(rawAxis ?? 0);
    const [K, N] = w.shape;
    // The split axis must be the leading digit of W's column index: target[axis..] spans N.
    if (product(target.slice(axis)) !== N || sizes.length !== split.output.length || product(target) < minElements) continue;
    const inner = product(target.slice(axis + 1));
    const replacement: NodeProtoInit[] = [];
    let offset = 0;
    sizes.forEach((size, i) => {
      const wi = g.constant(columns(w.data, K, N, offset * inner, (offset + size) * inner), "float32", [K, size * inner]);
      const yi = g.fresh("matmul");
      const shape = target.map((d, a) => (a === axis ? size : d));
      replacement.push(
        { name: `${matmul.name}_piece${i}`, opType: "MatMul", input: [matmul.input[0], wi], output: [yi], attribute: [] },
        { name: `${reshape.name}_piece${i}`, opType: "Reshape", input: [yi, g.ints(shape)], output: [split.output[i]], attribute: [] },
      );
      offset += size;
    });
    g.nodes.splice(g.nodes.indexOf(split), 1, ...replacement);
    g.nodes.splice(g.nodes.indexOf(reshape), 1);
    g.nodes.splice(g.nodes.indexOf(matmul), 1);
    rewritten++;
  }
  return rewritten;
}
