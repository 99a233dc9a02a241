/**
 * Small drawing helpers shared by the worlds: an RGB + depth canvas, filled rectangles, ellipses
 * and scaled sprite masks, plus integer hashing for procedural textures. Painter's order: the
 * last draw wins both colour and depth, so worlds draw back to front.
 *
 * Coordinates are pixels as floats; a shape covers the pixels whose centres lie inside it, so a
 * world simulated in its own units rasterises the same way at any H×W. Colours are packed
 * 0xRRGGBB integers so inner loops allocate nothing.
 *
 * Dimension keys: H,W pixels.
 */
import type { Frame } from "./types.js";

/** A frame being drawn; `rgb` is H*W*3 bytes, `depth` H*W values in [0, 1]. */
export interface Canvas extends Frame {
  readonly height: number;
  readonly width: number;
}

/** A blank canvas: black, depth 1 (the far plane). */
export function createCanvas(height: number, width: number): Canvas {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`raster.ts createCanvas: height and width must be positive integers, got ${height}×${width}`);
  }
  const depth = new Float32Array(height * width);
  depth.fill(1);
  return { height, width, rgb: new Uint8Array(height * width * 3), depth };
}

/** The Frame part of a canvas (what World.render returns). */
export function toFrame(canvas: Canvas): Frame {
  return { rgb: canvas.rgb, depth: canvas.depth };
}

/** Pack 8-bit channels into 0xRRGGBB. */
export function rgb(r: number, g: number, b: number): number {
  return ((r & 255) << 16) | ((g & 255) << 8) | (b & 255);
}

/** Linear blend of two packed colours; t = 0 gives `a`, t = 1 gives `b`. */
export function mix(a: number, b: number, t: number): number {
  const u = t < 0 ? 0 : t > 1 ? 1 : t;
  const r = ((a >> 16) & 255) + (((b >> 16) & 255) - ((a >> 16) & 255)) * u;
  const g = ((a >> 8) & 255) + (((b >> 8) & 255) - ((a >> 8) & 255)) * u;
  const bl = (a & 255) + ((b & 255) - (a & 255)) * u;
  return rgb(Math.round(r), Math.round(g), Math.round(bl));
}

/** Scale a colour's brightness by `f` (clamped to 0..255 per channel). */
export function scale(c: number, f: number): number {
  const r = Math.min(255, Math.round(((c >> 16) & 255) * f));
  const g = Math.min(255, Math.round(((c >> 8) & 255) * f));
  const b = Math.min(255, Math.round((c & 255) * f));
  return rgb(r, g, b);
}

/** Write one pixel (no bounds check: callers clip). */
export function setPixel(canvas: Canvas, index: number, color: number, depth: number): void {
  const o = index * 3;
  canvas.rgb[o] = (color >> 16) & 255;
  canvas.rgb[o + 1] = (color >> 8) & 255;
  canvas.rgb[o + 2] = color & 255;
  canvas.depth[index] = depth;
}

/** First and one-past-last pixel index whose centre lies in [a, b), clipped to [0, n). */
export function pixelSpan(a: number, b: number, n: number): [number, number] {
  const lo = Math.max(0, Math.ceil(a - 0.5));
  const hi = Math.min(n, Math.ceil(b - 0.5));
  return [lo, hi];
}

/** Fill the axis-aligned rectangle [x0, x1) × [y0, y1) (pixel units). */
export function fillRect(
  canvas: Canvas,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  color: number,
  depth: number,
): void {
  const [cx0, cx1] = pixelSpan(x0, x1, canvas.width);
  const [cy0, cy1] = pixelSpan(y0, y1, canvas.height);
  const r = (color >> 16) & 255;
  const g = (color >> 8) & 255;
  const b = color & 255;
  const { rgb: px, depth: dz, width } = canvas;
  for (let y = cy0; y < cy1; y++) {
    for (let x = cx0; x < cx1; x++) {
      const i = y * width + x;
      px[i * 3] = r;
      px[i * 3 + 1] = g;
      px[i * 3 + 2] = b;
      dz[i] = depth;
    }
  }
}

/**
 * Fill the ellipse centred at (cx, cy) with radii (rx, ry). With `highlight` > 0 the fill is shaded
 * like a lit sphere (brighter towards the upper left), which makes balls read as balls.
 */
export function fillEllipse(
  canvas: Canvas,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  color: number,
  depth: number,
  highlight = 0,
): void {
  const [x0, x1] = pixelSpan(cx - rx, cx + rx, canvas.width);
  const [y0, y1] = pixelSpan(cy - ry, cy + ry, canvas.height);
  const { rgb: px, depth: dz, width } = canvas;
  const r = (color >> 16) & 255;
  const g = (color >> 8) & 255;
  const b = color & 255;
  for (let y = y0; y < y1; y++) {
    const dy = (y + 0.5 - cy) / ry;
    for (let x = x0; x < x1; x++) {
      const dx = (x + 0.5 - cx) / rx;
      const d2 = dx * dx + dy * dy;
      if (d2 > 1) continue;
      const i = y * width + x;
      if (highlight > 0) {
        // Lambert-like term from a light at the upper left, plus a white specular spot.
        const lit = 0.55 + 0.45 * Math.max(0, -0.5 * dx - 0.6 * dy + 0.62 * Math.sqrt(1 - d2));
        const spot = Math.max(0, 1 - ((dx + 0.35) ** 2 + (dy + 0.4) ** 2) * 6) * highlight;
        px[i * 3] = Math.min(255, r * lit + 255 * spot);
        px[i * 3 + 1] = Math.min(255, g * lit + 255 * spot);
        px[i * 3 + 2] = Math.min(255, b * lit + 255 * spot);
      } else {
        px[i * 3] = r;
        px[i * 3 + 1] = g;
        px[i * 3 + 2] = b;
      }
      dz[i] = depth;
    }
  }
}

/** A sprite mask: 0 = transparent, k > 0 = colour k-1 of the palette passed to `blitSprite`. */
export interface Sprite {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Build a sprite from text rows: '.' is transparent, '1'..'9' pick palette colours 0..8. */
export function makeSprite(rows: readonly string[]): Sprite {
  const height = rows.length;
  const width = rows[0]?.length ?? 0;
  const data = new Uint8Array(width * height);
  rows.forEach((row, y) => {
    if (row.length !== width) throw new Error(`raster.ts makeSprite: row ${y} has ${row.length} chars, expected ${width}`);
    for (let x = 0; x < width; x++) data[y * width + x] = row[x] === "." ? 0 : Number(row[x]);
  });
  return { width, height, data };
}

/**
 * Draw `sprite` stretched over the pixel rectangle [x0, x1) × [y0, y1), nearest-neighbour sampled
 * so it stays crisp at any size; `flipX` mirrors it (a character facing left).
 */
export function blitSprite(
  canvas: Canvas,
  sprite: Sprite,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  palette: readonly number[],
  depth: number,
  flipX = false,
): void {
  const [cx0, cx1] = pixelSpan(x0, x1, canvas.width);
  const [cy0, cy1] = pixelSpan(y0, y1, canvas.height);
  const sx = sprite.width / (x1 - x0);
  const sy = sprite.height / (y1 - y0);
  for (let y = cy0; y < cy1; y++) {
    const v = Math.min(sprite.height - 1, Math.floor((y + 0.5 - y0) * sy));
    for (let x = cx0; x < cx1; x++) {
      let u = Math.min(sprite.width - 1, Math.floor((x + 0.5 - x0) * sx));
      if (flipX) u = sprite.width - 1 - u;
      const k = sprite.data[v * sprite.width + u];
      if (k === 0) continue;
      setPixel(canvas, y * canvas.width + x, palette[k - 1], depth);
    }
  }
}

/** A deterministic hash of two integers to [0, 1), for procedural textures and scenery. */
export function hash01(a: number, b: number): number {
  let h = Math.imul(a | 0, 0x27d4eb2d) ^ Math.imul(b | 0, 0x165667b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}
