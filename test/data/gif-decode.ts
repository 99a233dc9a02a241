/** A GIF block parser and LZW decoder for tests: checks the structure and returns the frames. */
export interface DecodedGif {
  width: number;
  height: number;
  palette: Uint8Array;
  loop: number | null;
  delaysCs: number[];
  /** RGB frames, H·W·3 bytes each. */
  frames: Uint8Array[];
}

function lzwDecode(data: Uint8Array, minCodeSize: number, pixels: number): Uint8Array {
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  const out = new Uint8Array(pixels);
  let n = 0;
  let dict: number[][] = [];
  let codeSize = minCodeSize + 1;
  let prev: number[] | null = null;
  let bit = 0;
  const reset = () => {
    dict = Array.from({ length: clear + 2 }, (_, i) => [i]);
    codeSize = minCodeSize + 1;
    prev = null;
  };
  reset();
  for (;;) {
    if (bit + codeSize > data.length * 8) throw new Error("gif: LZW data ends without an end code");
    let code = 0;
    for (let i = 0; i < codeSize; i++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << i;
    if (code === clear) { reset(); continue; }
    if (code === eoi) break;
    let entry: number[];
    if (code < dict.length) entry = dict[code];
    else if (code === dict.length && prev) entry = [...prev, prev[0]];
    else throw new Error(`gif: bad LZW code ${code} (table has ${dict.length})`);
    for (const v of entry) {
      if (n >= pixels) throw new Error("gif: frame has too many pixels");
      out[n++] = v;
    }
    if (prev && dict.length < 4096) dict.push([...prev, entry[0]]);
    prev = entry;
    if (dict.length === 1 << codeSize && codeSize < 12) codeSize++;
  }
  if (n !== pixels) throw new Error(`gif: frame has ${n} pixels, expected ${pixels}`);
  return out;
}

export function decodeGif(bytes: Uint8Array): DecodedGif {
  const text = (a: number, b: number) => String.fromCharCode(...bytes.subarray(a, b));
  const u16 = (at: number) => bytes[at] | (bytes[at + 1] << 8);
  if (text(0, 6) !== "GIF89a") throw new Error("gif: bad header");
  const width = u16(6);
  const height = u16(8);
  const packed = bytes[10];
  if (!(packed & 0x80)) throw new Error("gif: no global colour table");
  const tableSize = 1 << ((packed & 7) + 1);
  const palette = bytes.subarray(13, 13 + tableSize * 3);
  let at = 13 + tableSize * 3;
  const subBlocks = (): Uint8Array => {
    const parts: number[] = [];
    for (let len = bytes[at++]; len !== 0; len = bytes[at++]) {
      parts.push(...bytes.subarray(at, at + len));
      at += len;
    }
    return Uint8Array.from(parts);
  };
  const result: DecodedGif = { width, height, palette, loop: null, delaysCs: [], frames: [] };
  for (;;) {
    if (at >= bytes.length) throw new Error("gif: missing trailer");
    const kind = bytes[at++];
    if (kind === 0x3b) {
      if (at !== bytes.length) throw new Error("gif: bytes after the trailer");
      return result;
    }
    if (kind === 0x21) {
      const label = bytes[at++];
      const body = subBlocks();
      // Application extension: an 11-byte "NETSCAPE2.0" block, then [1, loop lo, loop hi].
      if (label === 0xff && String.fromCharCode(...body.subarray(0, 11)) === "NETSCAPE2.0") result.loop = body[12] | (body[13] << 8);
      if (label === 0xf9) result.delaysCs.push(body[1] | (body[2] << 8));
    } else if (kind === 0x2c) {
      const w = u16(at + 4);
      const h = u16(at + 6);
      if (w !== width || h !== height || bytes[at + 8] !== 0) throw new Error("gif: unexpected image descriptor");
      at += 9;
      const minCodeSize = bytes[at++];
      const indices = lzwDecode(subBlocks(), minCodeSize, w * h);
      const rgb = new Uint8Array(w * h * 3);
      indices.forEach((k, p) => rgb.set(palette.subarray(k * 3, k * 3 + 3), p * 3));
      result.frames.push(rgb);
    } else {
      throw new Error(`gif: unknown block 0x${kind.toString(16)} at ${at - 1}`);
    }
  }
}
