import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "../src/core/safetensors.js";
import type { Tensor } from "../src/core/safetensors.js";

/** A file from a hand-written header object and data bytes (header padded as the format says). */
function rawFile(header: unknown, data: Uint8Array, pad = true): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  if (pad) json = json.padEnd(Math.ceil(json.length / 8) * 8, " ");
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(body.length), true);
  out.set(body, 8);
  out.set(data, 8 + body.length);
  return out;
}

function bytesOf(t: Tensor): number[] {
  return Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

describe("safetensors codec", () => {
  it("writes the exact bytes the format specifies", () => {
    const bytes = encodeSafetensors({ a: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
    const json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expect(json.length).toBe(54);
    const expected = rawFile(json, new Uint8Array(new Float32Array([1, 2]).buffer));
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    expect(Array.from(bytes.subarray(0, 8))).toEqual([56, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(bytes.subarray(8 + 54, 8 + 56))).toEqual([0x20, 0x20]);
  });

  it("orders tensors by name, contiguously, with metadata, and round-trips every dtype bit-exactly", () => {
    const tensors: Record<string, Tensor> = {
      "z.last": { dtype: "F32", shape: [2, 3], data: new Float32Array([1.5, -0, NaN, Infinity, 1e-45, -3.25]) },
      "a.first": { dtype: "I32", shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
      f16: { dtype: "F16", shape: [2], data: new Uint16Array([0x3c00, 0xfbff]) },
      f64: { dtype: "F64", shape: [], data: new Float64Array([Math.PI]) },
      i64: { dtype: "I64", shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n]) },
      u8: { dtype: "U8", shape: [1, 3], data: new Uint8Array([0, 128, 255]) },
      i8: { dtype: "I8", shape: [1], data: new Int8Array([-128]) },
      u16: { dtype: "U16", shape: [1], data: new Uint16Array([65535]) },
      u32: { dtype: "U32", shape: [1], data: new Uint32Array([4294967295]) },
      bool: { dtype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) },
      empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    };
    const bytes = encodeSafetensors(tensors, { note: "hello", n: "3" });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLen % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    expect(header.__metadata__).toEqual({ note: "hello", n: "3" });
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const sorted = [...names].sort();
    let end = 0;
    for (const name of sorted) {
      expect(header[name].data_offsets[0]).toBe(end);
      end = header[name].data_offsets[1];
    }
    expect(8 + headerLen + end).toBe(bytes.length);

    const { tensors: back, metadata } = decodeSafetensors(bytes, "mem.safetensors");
    expect(metadata).toEqual({ note: "hello", n: "3" });
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name].dtype).toBe(t.dtype);
      expect(back[name].shape).toEqual(t.shape);
      expect(back[name].data.constructor).toBe(t.data.constructor);
      expect(bytesOf(back[name])).toEqual(bytesOf(t));
    }
    // The decoded arrays are copies: changing the file bytes does not change them.
    bytes.fill(0, 8 + headerLen);
    expect(back["a.first"].data[2]).toBe(2147483647);
  });

  it("decodes from a Node Buffer that is a view at an offset (regression: Buffer.slice does not copy)", () => {
    const bytes = encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array([1, -2, 3.5]) } });
    const view = Buffer.concat([Buffer.from([9, 9, 9]), bytes]).subarray(3);
    expect(view.byteOffset).toBeGreaterThan(0);
    expect(Array.from(decodeSafetensors(view, "buf").tensors.w.data as Float32Array)).toEqual([1, -2, 3.5]);
  });

  it("refuses to encode data whose length does not match the shape", () => {
    expect(() => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } })).toThrow(/"w".*\[3\].*12 bytes.*8 bytes/);
  });

  const data8 = new Uint8Array(8);
  const ok = { w: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Uint8Array, RegExp][] = [
    ["shorter than 8 bytes", new Uint8Array(5), /only 5 bytes/],
    ["a header length beyond the file", (() => {
      const f = rawFile(ok, data8);
      new DataView(f.buffer).setBigUint64(0, 1000n, true);
      return f;
    })(), /header length 1000 exceeds/],
    ["an absurd header length (e.g. a PNG)", new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /not a safetensors file/],
    ["a header that is not JSON", rawFile("{not json", data8), /header is not JSON/],
    ["a header that is not an object", rawFile("[1,2]", data8), /header is not a JSON object/],
    ["an unknown dtype", rawFile({ w: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, data8), /"w" has unsupported dtype "Q4"/],
    ["a shape that disagrees with the offsets", rawFile({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, data8), /"w" has shape \[3\] F32 \(12 bytes\) but data_offsets span 8/],
    ["offsets past the data", rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, data8), /"w" data_offsets \[0, 16\] run past the 8-byte data section/],
    ["overlapping tensors", rawFile({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, data8), /"b" \[4, 8\) overlaps tensor "a"/],
    ["a gap between tensors", rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, data8), /"a" starts at 4 .* gap/],
    ["bytes after the last tensor", rawFile(ok, new Uint8Array(12)), /data section is 12 bytes but the header describes 8 \(extra bytes/],
    ["metadata that is not strings", rawFile({ __metadata__: { n: 3 }, ...ok }, data8), /"__metadata__.n" is number/],
    ["negative or fractional offsets", rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 7.5] } }, data8), /invalid data_offsets/],
  ];
  it.each(cases)("rejects a file with %s, naming the source", (_what, bytes, message) => {
    expect(() => decodeSafetensors(bytes, "weights/bad.safetensors")).toThrow(message);
    expect(() => decodeSafetensors(bytes, "weights/bad.safetensors")).toThrow(/^weights\/bad\.safetensors: /);
  });

  it("rejects a truncated file as truncated", () => {
    const full = encodeSafetensors({ w: { dtype: "F32", shape: [64], data: new Float32Array(64) } });
    expect(() => decodeSafetensors(full.subarray(0, full.length - 1), "t.safetensors")).toThrow(/t\.safetensors: .*truncated/);
    expect(() => decodeSafetensors(full.subarray(0, 40), "t.safetensors")).toThrow(/t\.safetensors: .*truncated/);
    expect(decodeSafetensors(full, "t.safetensors").tensors.w.shape).toEqual([64]);
  });
});
