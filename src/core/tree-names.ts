/**
 * Parameter trees <-> flat dotted names, the naming safetensors files use:
 * `{ enc: { layers: [{ attn: { wq } }] } }` <-> `enc.layers.0.attn.wq`.
 *
 * The mapping is exact both ways because flattening refuses the keys that would make a name
 * ambiguous: an object key that is empty, contains ".", or looks like an array index ("0"), and
 * which would come back as a different structure. Empty objects and arrays have no names; they
 * come back only when a template gives the structure (`tensorsToTreeLike`).
 */
import { Array as JaxArray, np } from "./jax.js";
import type { DType, JsTree } from "./jax.js";
import type { SafetensorsDType, Tensor } from "./safetensors.js";

export type ParamTree = JsTree<np.Array>;

/** The shape and dtype of one array, without its data: a template leaf. */
export interface TensorSpec {
  shape: number[];
  dtype: DType | `${DType}`;
}

/** A tree whose leaves are arrays or specs: what a loaded tree is checked against. */
export type TreeTemplate = JsTree<np.Array | TensorSpec>;

/**
 * A tree's structure as JSON, leaves replaced by null. Stored beside the tensors, it brings back
 * what names alone lose: object key order (jax-js tree definitions compare it) and empty containers.
 */
export type Skeleton = null | Skeleton[] | { [key: string]: Skeleton };

const INDEX = /^(0|[1-9][0-9]*)$/;

/** True for a `{ shape, dtype }` leaf (exactly those two keys). */
export function isTensorSpec(v: unknown): v is TensorSpec {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof JaxArray) return false;
  const keys = Object.keys(v);
  const { shape, dtype } = v as Record<string, unknown>;
  return keys.length === 2 && Array.isArray(shape) && typeof dtype === "string";
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && (v as object).constructor === Object;
}

function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

/**
 * Visit every leaf with its dotted name, in tree order (object key order, then array index).
 * Throws naming the path for a key that cannot round-trip or a leaf that is not an array or spec.
 */
function walk<L>(t: unknown, path: string, isLeaf: (v: unknown) => v is L, visit: (name: string, leaf: L) => void): void {
  if (isLeaf(t)) {
    if (!path) throw new Error("tree names: a single array has no name; wrap it in an object ({ w: x })");
    visit(path, t);
  } else if (Array.isArray(t)) {
    t.forEach((child, i) => walk(child, join(path, String(i)), isLeaf, visit));
  } else if (isPlainObject(t)) {
    for (const [key, child] of Object.entries(t)) {
      if (key === "" || key.includes(".") || INDEX.test(key)) {
        throw new Error(
          `tree names: key ${JSON.stringify(key)} under "${path || "(root)"}" cannot be a name part ` +
            `(empty, contains ".", or looks like an array index); rename it`,
        );
      }
      walk(child, join(path, key), isLeaf, visit);
    }
  } else {
    const kind = t === null ? "null" : typeof t;
    throw new Error(`tree names: "${path || "(root)"}" is a ${kind}, not an array; keep numbers and strings out of parameter trees`);
  }
}

function isJaxArray(v: unknown): v is np.Array {
  return v instanceof JaxArray;
}

function isTemplateLeaf(v: unknown): v is np.Array | TensorSpec {
  return isJaxArray(v) || isTensorSpec(v);
}

/** Dotted names and arrays of a tree, in tree order; nothing is consumed. */
export function namedLeaves(t: ParamTree, prefix = ""): [string, np.Array][] {
  const out: [string, np.Array][] = [];
  walk(t, prefix, isJaxArray, (name, leaf) => out.push([name, leaf]));
  return out;
}

/** The structure of a tree (see `Skeleton`); checks names as flattening does. */
export function skeletonOf(t: ParamTree): Skeleton {
  namedLeaves(t, "root");
  const build = (node: unknown): Skeleton => {
    if (Array.isArray(node)) return node.map(build);
    if (isPlainObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, build(v)]));
    return null;
  };
  return build(t);
}

/** Dotted names with the shape and dtype of each leaf of a template (arrays are not consumed). */
export function namedSpecs(t: TreeTemplate, prefix = ""): [string, TensorSpec][] {
  const out: [string, TensorSpec][] = [];
  walk(t, prefix, isTemplateLeaf, (name, leaf) => out.push([name, { shape: [...leaf.shape], dtype: leaf.dtype }]));
  return out;
}

const TO_SAFETENSORS: Record<string, SafetensorsDType> = {
  float32: "F32",
  float16: "F16",
  float64: "F64",
  int32: "I32",
  uint32: "U32",
  bool: "BOOL",
};

const TO_JAX: Partial<Record<SafetensorsDType, `${DType}`>> = {
  F32: "float32",
  F16: "float16",
  F64: "float64",
  I32: "int32",
  U32: "uint32",
  BOOL: "bool",
};

/** The safetensors dtype that stores a jax-js dtype. */
export function safetensorsDType(dtype: DType | `${DType}`): SafetensorsDType {
  const st = TO_SAFETENSORS[dtype];
  if (!st) throw new Error(`tree names: jax-js dtype "${dtype}" has no safetensors mapping`);
  return st;
}

/** The jax-js dtype for a safetensors dtype, or undefined when jax-js has none (I8, U8, U16, I64). */
export function jaxDType(dtype: SafetensorsDType): `${DType}` | undefined {
  return TO_JAX[dtype];
}

/** Read one array (not consumed) into a tensor with the same bits. */
export async function arrayToTensor(x: np.Array): Promise<Tensor> {
  const shape = [...x.shape];
  const dtype = safetensorsDType(x.dtype);
  const data = await x.ref.data();
  if (dtype === "BOOL") return { dtype, shape, data: Uint8Array.from(data as Int32Array) };
  if (dtype === "F16") return { dtype, shape, data: new Uint16Array(data.buffer, data.byteOffset, data.length) };
  return { dtype, shape, data: data as Tensor["data"] };
}

/** Read every array of a tree (nothing consumed) into tensors named `prefix.<dotted name>`. */
export async function treeToTensors(t: ParamTree, prefix = ""): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  // One at a time: reading all at once would hold every pending read's buffer together.
  for (const [name, x] of namedLeaves(t, prefix)) out[name] = await arrayToTensor(x);
  return out;
}

/** A new array with the tensor's bits; `name` is for errors. */
export function tensorToArray(t: Tensor, name: string): np.Array {
  const dtype = jaxDType(t.dtype);
  if (!dtype) throw new Error(`tensor "${name}" has dtype ${t.dtype}, which jax-js has no array type for`);
  const shape = [...t.shape];
  if (dtype === "bool") return np.array(Int32Array.from(t.data as Uint8Array), { shape, dtype: np.bool });
  if (dtype === "float16") {
    const F16 = (globalThis as { Float16Array?: new (b: ArrayBufferLike, o: number, n: number) => Float32Array }).Float16Array;
    if (!F16) throw new Error(`tensor "${name}" is float16, which needs Float16Array (Node >= 24 or a recent browser)`);
    const bits = t.data as Uint16Array;
    return np.array(new F16(bits.buffer, bits.byteOffset, bits.length), { shape, dtype: np.float16 });
  }
  return np.array(t.data as Float32Array, { shape, dtype: dtype as DType });
}

/** Turn objects whose keys are exactly 0..n-1 back into arrays (flattening made them names). */
function arraysFromIndexKeys(node: unknown): unknown {
  if (!isPlainObject(node)) return node;
  const keys = Object.keys(node);
  for (const k of keys) node[k] = arraysFromIndexKeys(node[k]);
  const isList = keys.length > 0 && keys.every((k) => INDEX.test(k)) && keys.every((_, i) => Object.hasOwn(node, String(i)));
  return isList ? keys.map((_, i) => node[String(i)]) : node;
}

/**
 * Rebuild a tree from the tensors named `prefix.*` (all tensors when prefix is ""), creating new
 * arrays. Structure comes from the names alone: numeric parts become arrays.
 */
export function tensorsToTree(tensors: Record<string, Tensor>, prefix = ""): ParamTree {
  const root: Record<string, unknown> = {};
  const start = prefix ? `${prefix}.` : "";
  const names = Object.keys(tensors).filter((n) => n.startsWith(start)).sort(compareNames);
  for (const full of names) {
    const parts = full.slice(start.length).split(".");
    let node = root;
    for (const [i, part] of parts.entries()) {
      const here = start + parts.slice(0, i + 1).join(".");
      if (i === parts.length - 1) {
        if (Object.hasOwn(node, part)) throw new Error(`tensor "${full}": "${here}" is both a tensor and a group`);
        node[part] = tensorToArray(tensors[full], full);
      } else {
        const next = node[part] ?? (node[part] = {});
        if (!isPlainObject(next)) throw new Error(`tensor "${full}": "${here}" is both a tensor and a group`);
        node = next;
      }
    }
  }
  return arraysFromIndexKeys(root) as ParamTree;
}

/**
 * Rebuild a tree with exactly the structure of a template or skeleton (key order and empty
 * containers included), taking each leaf from the tensor `prefix.<dotted name>`. Check names
 * first (see checkpoint.ts): this throws only for a missing tensor.
 */
export function tensorsToTreeLike(template: TreeTemplate | Skeleton, tensors: Record<string, Tensor>, prefix = ""): ParamTree {
  const build = (t: unknown, path: string): unknown => {
    if (t === null || isTemplateLeaf(t)) {
      const tensor = Object.hasOwn(tensors, path) ? tensors[path] : undefined;
      if (!tensor) throw new Error(`tensor "${path}" is missing`);
      return tensorToArray(tensor, path);
    }
    if (Array.isArray(t)) return t.map((child, i) => build(child, join(path, String(i))));
    if (isPlainObject(t)) return Object.fromEntries(Object.entries(t).map(([k, child]) => [k, build(child, join(path, k))]));
    throw new Error(`template: "${path || "(root)"}" is neither an array, a { shape, dtype } spec nor a container`);
  };
  return build(template, prefix) as ParamTree;
}

/** Order names as a tree walk would: numeric parts by value (layers.2 before layers.10). */
export function compareNames(a: string, b: string): number {
  const pa = a.split(".");
  const pb = b.split(".");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    const na = INDEX.test(pa[i]);
    const nb = INDEX.test(pb[i]);
    if (na && nb) return Number(pa[i]) - Number(pb[i]);
    return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** The first difference of names or shapes between two param trees (borrows both), or "". */
export function compareShapes(got: ParamTree, want: ParamTree): string {
  const a = new Map(namedLeaves(got).map(([n, x]) => [n, x.shape.join("×")]));
  for (const [n, x] of namedLeaves(want)) {
    const s = a.get(n);
    if (s === undefined) return `params lack "${n}"`;
    if (s !== x.shape.join("×")) return `"${n}" is ${s}, the model wants ${x.shape.join("×")}`;
    a.delete(n);
  }
  return a.size ? `unexpected params ${[...a.keys()].slice(0, 3).join(", ")}` : "";
}
