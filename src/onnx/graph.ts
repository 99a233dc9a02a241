/**
 * A small builder for ONNX graphs: fresh value names, nodes with typed attributes, deduplicated
 * constant initializers. The jaxpr exporter (export.ts) and the per-primitive lowerings (ops.ts)
 * emit through it; it knows nothing about jax-js.
 */
import {
  OnnxAttributeType,
  OnnxDataType,
  type AttributeProtoInit,
  type NodeProtoInit,
  type TensorProtoInit,
  type ValueInfoProtoInit,
} from "./proto.js";

/** Element types as jax-js names them (plus int64, which ONNX needs for shapes and axes). */
export type ElemType = "float32" | "int32" | "uint32" | "bool" | "float16" | "float64" | "int64" | "int8" | "uint8";

const ONNX_TYPE: Record<ElemType, number> = {
  float32: OnnxDataType.FLOAT,
  int32: OnnxDataType.INT32,
  uint32: OnnxDataType.UINT32,
  bool: OnnxDataType.BOOL,
  float16: OnnxDataType.FLOAT16,
  float64: OnnxDataType.DOUBLE,
  int64: OnnxDataType.INT64,
  int8: OnnxDataType.INT8,
  uint8: OnnxDataType.UINT8,
};

/** The ONNX `TensorProto.DataType` of an element type. */
export function onnxType(dtype: ElemType): number {
  const t = ONNX_TYPE[dtype];
  if (t === undefined) throw new Error(`src/onnx/graph.ts: no ONNX type for dtype "${dtype}"`);
  return t;
}

/** Attribute values: numbers are ints unless wrapped with `float()`; arrays are int lists. */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** Wrap a number so it is written as a float attribute (plain numbers are ints). */
export const float = (x: number): { float: number } => ({ float: x });

/** Little-endian bytes of `values` stored as `dtype` (the layout of `TensorProto.raw_data`). */
export function rawBytes(values: ArrayLike<number>, dtype: ElemType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case "float32":
      return new Uint8Array(Float32Array.from(values).buffer);
    case "float64":
      return new Uint8Array(Float64Array.from(values).buffer);
    case "int32":
      return new Uint8Array(Int32Array.from(values).buffer);
    case "uint32":
      return new Uint8Array(Uint32Array.from(values).buffer);
    case "int64":
      return new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    case "bool":
    case "uint8":
      return Uint8Array.from(values, (v) => (v ? (dtype === "bool" ? 1 : v) : 0));
    case "int8":
      return new Uint8Array(Int8Array.from(values).buffer);
    case "float16":
      // Node 20 has no Float16Array; float16 graphs are not exported yet.
      throw new Error(`src/onnx/graph.ts: float16 constants are not supported (${n} values)`);
  }
}

export class GraphBuilder {
  readonly nodes: NodeProtoInit[] = [];
  readonly initializers: TensorProtoInit[] = [];
  readonly inputs: ValueInfoProtoInit[] = [];
  readonly outputs: ValueInfoProtoInit[] = [];
  /** Extra opset domains used by emitted nodes (e.g. "com.microsoft"), with their versions. */
  readonly domains = new Map<string, number>();
  #counter = 0;
  #constCache = new Map<string, string>();
  #usedNames = new Set<string>();
  #reshapeOrigin = new Map<string, { source: string; shape: number[] }>();
  #transposeOrigin = new Map<string, { source: string; perm: number[]; shape?: number[] }>();

  /** A fresh value name that no input, output, node or initializer uses. */
  fresh(hint = "v"): string {
    let name: string;
    do name = `${hint}_${this.#counter++}`;
    while (this.#usedNames.has(name));
    this.#usedNames.add(name);
    return name;
  }

  /** Reserve a user-chosen name (graph input/output); throws on duplicates. */
  reserve(name: string): string {
    if (this.#usedNames.has(name)) throw new Error(`src/onnx/graph.ts: duplicate value name "${name}"`);
    this.#usedNames.add(name);
    return name;
  }

  /** Emit one node; returns its output names (fresh unless `outputs` is given). */
  node(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    opts: { outputs?: string[]; numOutputs?: number; domain?: string } = {},
  ): string[] {
    const outputs = opts.outputs ?? Array.from({ length: opts.numOutputs ?? 1 }, () => this.fresh(opType.toLowerCase()));
    const attribute = Object.entries(attrs).map(([name, value]) => toAttribute(name, value));
    this.nodes.push({
      name: `${opType}_${this.nodes.length}`,
      opType,
      ...(opts.domain ? { domain: opts.domain } : {}),
      input: inputs,
      output: outputs,
      attribute,
    });
    return outputs;
  }

  /** Emit a node with one output and return its name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string): string {
    return this.node(opType, inputs, attrs, domain ? { domain } : {})[0];
  }

  /** Reshape between static shapes: none when equal; a reshape of a reshape reads the original. */
  reshape(x: string, from: number[], to: number[]): string {
    if (sameDims(from, to)) return x;
    const origin = this.#reshapeOrigin.get(x) ?? { source: x, shape: from };
    if (sameDims(origin.shape, to)) return origin.source;
    const y = this.op("Reshape", [origin.source, this.ints(to)]);
    this.#reshapeOrigin.set(y, origin);
    return y;
  }

  /**
   * Transpose: none for the identity; a transpose of a transpose becomes one (or none). With the
   * input's `shape`, the node is emitted in its smallest form: size-1 axes dropped and axes that
   * stay neighbours merged, wrapped in Reshapes (free in onnxruntime). `[B, S, 1, H, Dh] →
   * [1, B, H, S, Dh]` becomes `[B, S, H, Dh] → [B, H, S, Dh]`, which onnxruntime's fast path for
   * one moved axis handles at about twice the speed of the rank-5 form.
   */
  transpose(x: string, perm: number[], shape?: number[]): string {
    const origin = this.#transposeOrigin.get(x);
    const source = origin ? origin.source : x;
    const composed = origin ? perm.map((p) => origin.perm[p]) : perm;
    const sourceShape = origin ? origin.shape : shape;
    if (composed.every((p, i) => p === i)) return source;
    let y: string;
    if (sourceShape) {
      const { inShape, perm: small } = canonicalTranspose(sourceShape, composed);
      const outShape = composed.map((p) => sourceShape[p]);
      const squeezed = this.reshape(source, sourceShape, inShape); // (kept, merged axes)
      const moved = small.every((p, i) => p === i) ? squeezed : this.op("Transpose", [squeezed], { perm: small });
      y = this.op("Reshape", [moved, this.ints(outShape)]); // -> (the full output shape)
      this.#reshapeOrigin.set(y, { source: moved, shape: small.map((p) => inShape[p]) });
    } else {
      y = this.op("Transpose", [source], { perm: composed });
    }
    this.#transposeOrigin.set(y, { source, perm: composed, shape: sourceShape });
    return y;
  }

  /** The source, permutation and source shape of a value made by `transpose` (with a shape), if any. */
  transposeOf(x: string): { source: string; perm: number[]; shape: number[] } | undefined {
    const origin = this.#transposeOrigin.get(x);
    return origin?.shape ? { source: origin.source, perm: origin.perm, shape: origin.shape } : undefined;
  }

  /** Drop nodes whose outputs no graph output depends on (left behind by the shortcuts above). */
  pruneDeadNodes(): void {
    const needed = new Set(this.outputs.map((o) => o.name));
    const kept: NodeProtoInit[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i];
      if (!n.output.some((o) => needed.has(o))) continue;
      kept.push(n);
      for (const input of n.input) needed.add(input);
    }
    this.nodes.splice(0, this.nodes.length, ...kept.reverse());
    const used = new Set(this.nodes.flatMap((n) => n.input));
    const liveInits = this.initializers.filter((t) => used.has(t.name));
    this.initializers.splice(0, this.initializers.length, ...liveInits);
  }

  /** A constant initializer (deduplicated by content), e.g. shapes and axes as int64. */
  constant(values: ArrayLike<number>, dtype: ElemType, dims: number[] = [values.length]): string {
    const key = `${dtype}|${dims.join(",")}|${values.length <= 64 ? Array.from(values).join(",") : ""}`;
    const cached = values.length <= 64 ? this.#constCache.get(key) : undefined;
    if (cached) return cached;
    const name = this.fresh("const");
    this.initializers.push({ name, dims, dataType: onnxType(dtype), rawData: rawBytes(values, dtype) });
    if (values.length <= 64) this.#constCache.set(key, name);
    return name;
  }

  /** A rank-0 constant. */
  scalar(value: number, dtype: ElemType): string {
    return this.constant([value], dtype, []);
  }

  /** A 1-D int64 constant (ONNX shape, axes, starts/ends, pads). */
  ints(values: number[]): string {
    return this.constant(values, "int64");
  }

  /** Declare a graph input or output with its static shape. */
  valueInfo(name: string, dtype: ElemType, shape: number[]): ValueInfoProtoInit {
    return {
      name,
      type: { tensorType: { elemType: onnxType(dtype), shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
    };
  }
}

/**
 * The smallest transpose equal to `perm` on `shape`: size-1 axes dropped, runs of input axes
 * that stay adjacent and in order in the output merged into one. Returns the merged input shape
 * and the permutation of the merged axes.
 */
export function canonicalTranspose(shape: number[], perm: number[]): { inShape: number[]; perm: number[] } {
  const kept = perm.filter((a) => shape[a] !== 1); // output order of the non-unit input axes
  // Group consecutive output axes whose input axes are consecutive too.
  const groups: number[][] = [];
  for (const a of kept) {
    const last = groups[groups.length - 1];
    if (last && nextKept(shape, last[last.length - 1]) === a) last.push(a);
    else groups.push([a]);
  }
  const byInput = [...groups].sort((g, h) => g[0] - h[0]);
  return {
    inShape: byInput.map((grp) => grp.reduce((n, a) => n * shape[a], 1)),
    perm: groups.map((grp) => byInput.indexOf(grp)),
  };
}

/** The next input axis after `a` that is not of size 1 (size-1 axes are dropped). */
function nextKept(shape: number[], a: number): number {
  let b = a + 1;
  while (b < shape.length && shape[b] === 1) b++;
  return b;
}

const sameDims = (a: number[], b: number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

function toAttribute(name: string, value: AttrValue): AttributeProtoInit {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error(`src/onnx/graph.ts: int attribute "${name}" got ${value}; use float()`);
    return { name, type: OnnxAttributeType.INT, i: value };
  }
  if (typeof value === "string") return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: OnnxAttributeType.INTS, ints: value };
  if ("float" in value) return { name, type: OnnxAttributeType.FLOAT, f: value.float };
  return { name, type: OnnxAttributeType.FLOATS, floats: value.floats };
}
