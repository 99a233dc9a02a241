/**
 * A minimal PNG encoder (8-bit RGB or RGBA, no interlace) on node:zlib, so previews and world
 * snapshots need no image dependency. Decoding is not needed anywhere in worldkit.
 *
 * Dimension keys: H,W pixels · C channels.
 */
import { deflateSync } from "node:zlib";

/** CRC-32 (IEEE 802.3, reflected 0xEDB88320) lookup table, as the PNG spec requires per chunk. */
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `bytes` (the chunk type followed by its data). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** One chunk: length, type, data, CRC over type+data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encode row-major 8-bit pixels `pixels_HWC` (H*W*channels bytes) as a PNG file.
 * Every row uses filter type 0 (none): simple, and deflate still compresses flat game frames well.
 */
export function encodePng(
  pixels_HWC: Uint8Array,
  width: number,
  height: number,
  channels: 3 | 4 = 3,
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`png.ts encodePng: width and height must be positive integers, got ${width}×${height}`);
  }
  if (channels !== 3 && channels !== 4) {
    throw new Error(`png.ts encodePng: channels must be 3 (RGB) or 4 (RGBA), got ${channels}`);
  }
  const rowBytes = width * channels;
  if (pixels_HWC.length !== rowBytes * height) {
    throw new Error(
      `png.ts encodePng: expected ${height}×${width}×${channels} = ${rowBytes * height} bytes, got ${pixels_HWC.length}`,
    );
  }
  // Each scanline is prefixed with its filter-type byte: (H, W*C) -> (H, 1 + W*C).
  const raw = new Uint8Array(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    raw.set(pixels_HWC.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = channels === 3 ? 2 : 6; // colour type: truecolour or truecolour with alpha
  // bytes 10..12: compression 0, filter method 0, interlace 0
  const idat = deflateSync(raw);
  const parts = [
    SIGNATURE,
    chunk("IHDR", header),
    chunk("IDAT", new Uint8Array(idat.buffer, idat.byteOffset, idat.byteLength)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
