/**
 * A small animated GIF89a encoder for previews: one global palette from median cut over all
 * frames, then LZW-compressed frames. No dependency, because previews must work offline and a
 * GIF is little code.
 *
 * Palette: colours are binned to 5 bits per channel (32768 bins); median cut splits the set of
 * occupied bins into at most 256 boxes, each box's colour is the mean of the pixels in it, and
 * a pixel's index is its bin's box. A picture with ≤ 256 distinct bins is thus reproduced with
 * each bin's mean colour (exactly, when each bin holds one colour, as in flat game graphics).
 *
 * Dimension keys: H,W pixels.
 */

/** A growable byte buffer. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  length = 0;
  push(...bytes: number[]): void {
    for (const b of bytes) this.byte(b);
  }
  byte(b: number): void {
    if (this.length === this.buf.length) {
      const bigger = new Uint8Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.length++] = b;
  }
  u16(v: number): void {
    this.push(v & 0xff, (v >> 8) & 0xff);
  }
  ascii(s: string): void {
    for (let i = 0; i < s.length; i++) this.byte(s.charCodeAt(i));
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export interface Quantized {
  /** K·3 bytes, K ≤ 256. */
  palette: Uint8Array;
  /** Bin (r>>3)<<10 | (g>>3)<<5 | b>>3 → palette index. */
  indexOfBin: Uint8Array;
}

const binOf = (r: number, g: number, b: number): number => ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);

/** Median-cut palette of at most `maxColors` colours for RGB frames (H·W·3 bytes each). */
export function quantize(frames_HWC: readonly Uint8Array[], maxColors = 256): Quantized {
  const count = new Float64Array(32768);
  const sum = new Float64Array(32768 * 3);
  for (const f of frames_HWC) {
    for (let p = 0; p < f.length; p += 3) {
      const k = binOf(f[p], f[p + 1], f[p + 2]);
      count[k]++;
      sum[k * 3] += f[p];
      sum[k * 3 + 1] += f[p + 1];
      sum[k * 3 + 2] += f[p + 2];
    }
  }
  const occupied: number[] = [];
  for (let k = 0; k < 32768; k++) if (count[k] > 0) occupied.push(k);
  if (occupied.length === 0) occupied.push(0);
  const channel = (k: number, c: number): number => (k >> (10 - 5 * c)) & 31;
  const range = (box: number[], c: number): number => {
    let lo = 31;
    let hi = 0;
    for (const k of box) {
      const v = channel(k, c);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return hi - lo;
  };
  const boxes: number[][] = [occupied];
  while (boxes.length < maxColors) {
    // Split the box with the widest channel range, weighted by how many pixels it covers.
    let best = -1;
    let bestScore = 0;
    let bestChannel = 0;
    boxes.forEach((box, i) => {
      if (box.length < 2) return;
      const pixels = box.reduce((a, k) => a + count[k], 0);
      for (let c = 0; c < 3; c++) {
        const score = range(box, c) * Math.sqrt(pixels);
        if (score > bestScore) [best, bestScore, bestChannel] = [i, score, c];
      }
    });
    if (best < 0) break;
    const box = boxes[best].sort((a, b) => channel(a, bestChannel) - channel(b, bestChannel) || a - b);
    const total = box.reduce((a, k) => a + count[k], 0);
    let acc = 0;
    let cut = 1;
    for (; cut < box.length - 1; cut++) {
      acc += count[box[cut - 1]];
      if (acc >= total / 2) break;
    }
    boxes.splice(best, 1, box.slice(0, cut), box.slice(cut));
  }
  const palette = new Uint8Array(boxes.length * 3);
  const indexOfBin = new Uint8Array(32768);
  boxes.forEach((box, i) => {
    let n = 0;
    const s = [0, 0, 0];
    for (const k of box) {
      n += count[k];
      for (let c = 0; c < 3; c++) s[c] += sum[k * 3 + c];
      indexOfBin[k] = i;
    }
    for (let c = 0; c < 3; c++) palette[i * 3 + c] = n > 0 ? Math.round(s[c] / n) : channel(box[0], c) << 3;
  });
  return { palette, indexOfBin };
}

/** GIF LZW: variable-width codes (min+1 … 12 bits), LSB-first, in ≤ 255-byte sub-blocks. */
function lzwEncode(indices: Uint8Array, minCodeSize: number, out: Bytes): void {
  const clear = 1 << minCodeSize;
  const eoi = clear + 1;
  let codeSize = minCodeSize + 1;
  let next = eoi + 1;
  const table = new Map<number, number>();
  const packed = new Bytes();
  let bitBuf = 0;
  let bitCount = 0;
  const emit = (code: number): void => {
    bitBuf |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) {
      packed.byte(bitBuf & 0xff);
      bitBuf >>>= 8;
      bitCount -= 8;
    }
  };
  emit(clear);
  let prefix = indices[0];
  for (let i = 1; i < indices.length; i++) {
    const k = indices[i];
    const key = (prefix << 8) | k;
    const found = table.get(key);
    if (found !== undefined) {
      prefix = found;
      continue;
    }
    emit(prefix);
    if (next === 4096) {
      // Table full: start over, so codes stay ≤ 12 bits.
      emit(clear);
      table.clear();
      next = eoi + 1;
      codeSize = minCodeSize + 1;
    } else {
      // The decoder adds its entry one code later, so widen before the entry that needs it.
      if (next >= 1 << codeSize) codeSize++;
      table.set(key, next++);
    }
    prefix = k;
  }
  emit(prefix);
  emit(eoi);
  if (bitCount > 0) packed.byte(bitBuf & 0xff);
  out.byte(minCodeSize);
  const data = packed.bytes();
  for (let at = 0; at < data.length; at += 255) {
    const n = Math.min(255, data.length - at);
    out.byte(n);
    for (let i = 0; i < n; i++) out.byte(data[at + i]);
  }
  out.byte(0);
}

export interface GifOptions {
  /** Delay per frame in hundredths of a second (default 10: 10 frames/s). */
  delayCs?: number;
  /** Times to play; 0 = forever (default). */
  loop?: number;
}

/** Encode RGB frames (each H·W·3 bytes) as an animated GIF89a. */
export function encodeGif(frames_HWC: readonly Uint8Array[], width: number, height: number, opts: GifOptions = {}): Uint8Array {
  if (frames_HWC.length === 0) throw new Error("gif.ts encodeGif: no frames");
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 65535 || height > 65535) {
    throw new Error(`gif.ts encodeGif: size must be 1..65535, got ${width}×${height}`);
  }
  frames_HWC.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new Error(`gif.ts encodeGif: frame ${i} has ${f.length} bytes, expected ${height}×${width}×3 = ${width * height * 3}`);
  });
  const { palette, indexOfBin } = quantize(frames_HWC);
  let bits = 1;
  while (1 << bits < palette.length / 3) bits++;
  const out = new Bytes();
  out.ascii("GIF89a");
  out.u16(width);
  out.u16(height);
  out.push(0x80 | ((bits - 1) << 4) | (bits - 1), 0, 0); // global table of 2^bits colours
  for (let i = 0; i < 1 << bits; i++) out.push(palette[i * 3] ?? 0, palette[i * 3 + 1] ?? 0, palette[i * 3 + 2] ?? 0);
  out.byte(0x21);
  out.byte(0xff);
  out.byte(11);
  out.ascii("NETSCAPE2.0");
  out.push(3, 1);
  out.u16(opts.loop ?? 0);
  out.byte(0);
  const indices = new Uint8Array(width * height);
  for (const f of frames_HWC) {
    out.push(0x21, 0xf9, 4, 0x04); // graphic control: disposal "leave in place", no transparency
    out.u16(opts.delayCs ?? 10);
    out.push(0, 0);
    out.byte(0x2c);
    out.u16(0);
    out.u16(0);
    out.u16(width);
    out.u16(height);
    out.byte(0); // no local table, not interlaced
    for (let p = 0; p < indices.length; p++) indices[p] = indexOfBin[binOf(f[p * 3], f[p * 3 + 1], f[p * 3 + 2])];
    lzwEncode(indices, Math.max(2, bits), out);
  }
  out.byte(0x3b);
  return out.bytes();
}
