/**
 * int8 weights for inference graphs: every MatMul whose right operand is a constant fp32 weight
 * (reached through Transpose/Reshape/Identity nodes, as the dot lowering leaves it) becomes one
 * onnxruntime `com.microsoft.DynamicQuantizeMatMul`: the weight is quantized once here, per
 * output column and symmetric (zero point 0, scale = max|w| / 127); the activation is quantized
 * per tensor by onnxruntime at run time (uint8 with a zero point), and the product runs in int8
 * arithmetic. Only for graphs whose weights are baked in as constants (`ExportOptions.constants`).
 *
 * Constants under MIN_QUANTIZED_WEIGHT values stay fp32: in our graphs those are structural, not
 * learned (the sampling's triangular matrices of ones, which sum probabilities: quantizing their
 * input to 8 bits per tensor would move the cumulative sums), and a small product gains nothing
 * from int8 while its activation still pays the dynamic quantization pass.
 */

/** Fewest values (K·N) a constant weight needs to be quantized; the smallest learned weight in our models is 32 × 128. */
export const MIN_QUANTIZED_WEIGHT = 4096;
import { OnnxDataType, type NodeProtoInit, type TensorProtoInit } from "./proto.js";
import type { GraphBuilder } from "./graph.js";

const PASS_THROUGH = new Set(["Transpose", "Reshape", "Identity"]);

/** Host copy of an fp32 initializer's values. */
function floatValues(t: TensorProtoInit): Float32Array {
  const bytes = t.rawData;
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Values of an int64 initializer (a Reshape's target shape, a Split's sizes). */
export function int64Values(t: TensorProtoInit): number[] {
  const raw = t.rawData;
  return Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), Number);
}

function transposeHost(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const index = new Array(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < index.length; d++) src += index[d] * inStrides[perm[d]];
    out[o] = data[src];
    for (let d = index.length - 1; d >= 0 && ++index[d] === outShape[d]; d--) index[d] = 0;
  }
  return out;
}

/**
 * The constant a MatMul operand evaluates to, if it is an fp32 initializer seen through
 * Transpose/Reshape/Identity nodes; undefined otherwise.
 */
export function constantOperand(g: GraphBuilder, name: string): { data: Float32Array; shape: number[] } | undefined {
  const producers = new Map<string, NodeProtoInit>();
  for (const n of g.nodes) for (const o of n.output) producers.set(o, n);
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const chain: NodeProtoInit[] = [];
  let current = name;
  for (let node = producers.get(current); node && PASS_THROUGH.has(node.opType); node = producers.get(current)) {
    chain.unshift(node);
    current = node.input[0];
  }
  const init = inits.get(current);
  if (!init || init.dataType !== OnnxDataType.FLOAT) return undefined;
  let data = floatValues(init);
  let shape = [...init.dims];
  for (const node of chain) {
    if (node.opType === "Transpose") {
      const perm = node.attribute.find((a) => a.name === "perm")?.ints ?? [...shape.keys()].reverse();
      data = transposeHost(data, shape, perm);
      shape = perm.map((p) => shape[p]);
    } else if (node.opType === "Reshape") {
      const target = inits.get(node.input[1]);
      if (!target) return undefined;
      shape = int64Values(target);
    }
  }
  return { data, shape };
}

/** Per-column symmetric int8 quantization of a [K, N] weight. */
export function quantizeColumns(w: Float32Array, K: number, N: number): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) scale[n] = Math.max(scale[n], Math.abs(w[k * N + n]));
  for (let n = 0; n < N; n++) scale[n] = scale[n] > 0 ? scale[n] / 127 : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(w[k * N + n] / scale[n])));
  }
  return { q, scale };
}

/**
 * `DynamicQuantizeMatMul(x, w) + b` with a constant bias of N values: the bias becomes the op's
 * fifth input (added in its output loop instead of one more pass over the output).
 */
function foldBias(g: GraphBuilder, node: NodeProtoInit, N: number): void {
  const out = node.output[0];
  const consumers = g.nodes.filter((n) => n.input.includes(out));
  if (consumers.length !== 1 || consumers[0].opType !== "Add" || g.outputs.some((o) => o.name === out)) return;
  const add = consumers[0];
  const biasName = add.input[0] === out ? add.input[1] : add.input[0];
  const bias = g.initializers.find((t) => t.name === biasName);
  const isVector = bias && bias.dataType === OnnxDataType.FLOAT && bias.dims[bias.dims.length - 1] === N;
  if (!isVector || bias.dims.some((d, i) => i < bias.dims.length - 1 && d !== 1) || add.input[0] === add.input[1]) return;
  node.input.push(g.constant(floatValues(bias), "float32", [N]));
  node.output = [...add.output];
  g.nodes.splice(g.nodes.indexOf(add), 1);
}

/** Rewrite constant-weight MatMuls as DynamicQuantizeMatMul; returns how many were rewritten. */
export function quantizeMatMulWeights(g: GraphBuilder): number {
  let rewritten = 0;
  for (const node of g.nodes) {
    if (node.opType !== "MatMul") continue;
    const w = constantOperand(g, node.input[1]);
    if (!w || w.shape.length !== 2 || w.shape[0] * w.shape[1] < MIN_QUANTIZED_WEIGHT) continue;
    const [K, N] = w.shape;
    const { q, scale } = quantizeColumns(w.data, K, N);
    const qName = g.constant(q, "int8", [K, N]);
    const scaleName = g.constant(scale, "float32", [N]);
    const zeroName = g.constant(new Int8Array(N), "int8", [N]);
    node.opType = "DynamicQuantizeMatMul";
    node.domain = "com.microsoft";
    node.input = [node.input[0], qName, scaleName, zeroName];
    foldBias(g, node, N);
    rewritten++;
  }
  if (rewritten > 0) g.domains.set("com.microsoft", 1);
  return rewritten;
}
