/**
 * The safetensors file format, encoded and decoded from plain bytes (no Node APIs: the browser
 * player loads weights with the same code).
 *
 * Layout (https://huggingface.co/docs/safetensors): an 8-byte little-endian unsigned header
 * length N, then N bytes of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, ...,
 * "__metadata__"?: { string: string } }` padded with spaces to a multiple of 8, then the data
 * section, where each tensor's little-endian bytes lie at [begin, end) relative to its start.
 *
 * The decoder checks everything before it touches tensor bytes, so a damaged or foreign file is
 * an error naming the file and the key, never a RangeError from deep inside a typed array.
 */

/** Bytes per element of each safetensors dtype we read and write. */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  I64: 8,
  I32: 4,
  U32: 4,
  I8: 1,
  U8: 1,
  U16: 2,
  BOOL: 1,
} as const;

export type SafetensorsDType = keyof typeof DTYPE_BYTES;

/**
 * The typed array that holds each dtype's elements. F16 is carried as its raw bit patterns in a
 * Uint16Array, because Float16Array is missing from Node 20 and from older browsers.
 */
export interface DTypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  U32: Uint32Array;
  I8: Int8Array;
  U8: Uint8Array;
  U16: Uint16Array;
  BOOL: Uint8Array;
}

export type TypedArray = DTypeArrays[SafetensorsDType];

/** One tensor: `data.length` must equal the product of `shape` (1 for a scalar `[]`). */
export interface Tensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: TypedArray;
}

export interface DecodedSafetensors {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** The header and the order in which tensor bytes follow it; lets a writer stream the data. */
export interface SafetensorsPlan {
  /** Length prefix plus padded JSON header: the first bytes of the file. */
  head: Uint8Array;
  /** Tensor names in the order their bytes follow `head` (sorted, as the format suggests). */
  order: string[];
  /** Total file size in bytes. */
  totalBytes: number;
}

/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(DTYPE_BYTES, s);
}

function elementCount(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function checkHost(): void {
  // Typed arrays use the host's byte order and the format is little-endian; every platform we
  // run on is little-endian, so refuse the rare other rather than swap bytes.
  if (!LITTLE_ENDIAN) throw new Error("safetensors: big-endian hosts are not supported");
}

/** The bytes of a tensor's data, without copying. */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Check the tensors and lay out the header. Throws naming the tensor when a dtype is unknown,
 * a shape is not a list of non-negative integers, or the data length does not match the shape.
 */
export function planSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): SafetensorsPlan {
  checkHost();
  const order = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of order) {
    if (name === "__metadata__") throw new Error(`safetensors: "__metadata__" is reserved and cannot name a tensor`);
    const { dtype, shape, data } = tensors[name];
    if (!isDType(dtype)) throw new Error(`safetensors: tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`safetensors: tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const bytes = elementCount(shape) * DTYPE_BYTES[dtype];
    if (data.byteLength !== bytes) {
      throw new Error(
        `safetensors: tensor "${name}" has shape [${shape.join(",")}] ${dtype} (${bytes} bytes) ` +
          `but its data holds ${data.byteLength} bytes`,
      );
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, order, totalBytes: head.length + offset };
}

/** Encode tensors (and optional string metadata) as one safetensors file. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const plan = planSafetensors(tensors, metadata);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.head, 0);
  let at = plan.head.length;
  for (const name of plan.order) {
    const bytes = tensorBytes(tensors[name]);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** A fresh, aligned typed array holding a copy of `bytes` (file offsets need not be aligned). */
function typedCopy(dtype: SafetensorsDType, bytes: Uint8Array): TypedArray {
  // new Uint8Array(view) copies; `bytes.slice()` would not when `bytes` is a Node Buffer.
  const buf = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case "F64": return new Float64Array(buf);
    case "F32": return new Float32Array(buf);
    case "F16": return new Uint16Array(buf);
    case "I64": return new BigInt64Array(buf);
    case "I32": return new Int32Array(buf);
    case "U32": return new Uint32Array(buf);
    case "I8": return new Int8Array(buf);
    case "U8": return new Uint8Array(buf);
    case "U16": return new Uint16Array(buf);
    case "BOOL": return new Uint8Array(buf);
  }
}

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decode a safetensors file. `source` (a path or URL) names the file in every error. The returned
 * arrays are copies: they do not alias `bytes`.
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): DecodedSafetensors {
  checkHost();
  const fail = (what: string, fix = "re-save it, or check that the path points at a safetensors file"): never => {
    throw new Error(`${source}: ${what}; ${fix}`);
  };
  if (bytes.length < 8) fail(`not a safetensors file: only ${bytes.length} bytes, less than the 8-byte header length`);
  const headerLen = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`not a safetensors file: its first 8 bytes do not hold a plausible header length`);
  if (headerLen > BigInt(bytes.length - 8)) {
    fail(`truncated or not a safetensors file: header length ${headerLen} exceeds the ${bytes.length - 8} bytes after it`);
  }
  const dataStart = 8 + Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    fail(`not a safetensors file: its header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(`not a safetensors file: its header is not a JSON object`);
  }
  const fields = header as Record<string, unknown>;
  const metadata = parseMetadata(fields.__metadata__, fail);
  const dataBytes = bytes.length - dataStart;
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(fields)) {
    if (name === "__metadata__") continue;
    entries.push(parseEntry(name, info, dataBytes, fail));
  }
  // Tensors must tile the data section exactly: no overlap, no gap, nothing missing at the end.
  const byBegin = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let previous = "";
  for (const e of byBegin) {
    if (e.begin < expected) fail(`tensor "${e.name}" [${e.begin}, ${e.end}) overlaps tensor "${previous}" (ends at ${expected})`);
    if (e.begin > expected) fail(`tensor "${e.name}" starts at ${e.begin} but the previous tensor ends at ${expected}: a gap in the data`);
    expected = e.end;
    previous = e.name;
  }
  if (expected !== dataBytes) {
    fail(
      `data section is ${dataBytes} bytes but the header describes ${expected}` +
        (dataBytes < expected ? " (the file is truncated)" : " (extra bytes after the last tensor)"),
    );
  }
  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    const data = typedCopy(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data };
  }
  return { tensors, metadata };
}

function parseMetadata(raw: unknown, fail: (what: string) => never): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(`"__metadata__" is not an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as object)) {
    if (typeof v !== "string") fail(`"__metadata__.${k}" is ${typeof v}, not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, info: unknown, dataBytes: number, fail: (what: string) => never): Entry {
  if (typeof info !== "object" || info === null || Array.isArray(info)) fail(`tensor "${name}" is not described by an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (!isDType(dtype)) {
    fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(", ")})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`tensor "${name}" has data_offsets [${begin}, ${end}] that end before they begin`);
  if (end > dataBytes) {
    fail(`tensor "${name}" data_offsets [${begin}, ${end}] run past the ${dataBytes}-byte data section (the file is truncated)`);
  }
  const bytes = elementCount(shape as number[]) * DTYPE_BYTES[dtype];
  if (bytes !== end - begin) {
    fail(`tensor "${name}" has shape [${(shape as number[]).join(",")}] ${dtype} (${bytes} bytes) but data_offsets span ${end - begin} bytes`);
  }
  return { name, dtype, shape: [...(shape as number[])], begin, end };
}
