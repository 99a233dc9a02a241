/**
 * Pictures of a dataset for people: a PNG grid (one row per episode, evenly spaced frames, each
 * shown as RGB with its depth beside it in a colour map) and an animated GIF of one episode
 * (RGB | depth side by side). Pixels are scaled up nearest-neighbour so 64×64 frames are easy
 * to see and no smoothing hides what the model will actually get.
 *
 * Dimension keys: T frames · H,W pixels.
 */
import { encodeGif } from "./gif.js";
import { depthScale } from "./format.js";
import type { Dataset } from "./loader.js";
import { encodePng } from "./png.js";
import type { DecodedEpisode } from "./shard-reader.js";

/** Viridis-like stops: far = dark purple, near = bright yellow, so near objects stand out. */
const DEPTH_STOPS: ReadonlyArray<readonly [number, number, number]> = [
  [68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37],
];

/** Colour for a depth in [0, 1] (0 = at the camera). */
export function depthColour(depth: number): [number, number, number] {
  const x = (1 - Math.min(1, Math.max(0, depth))) * (DEPTH_STOPS.length - 1);
  const i = Math.min(DEPTH_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = DEPTH_STOPS[i];
  const b = DEPTH_STOPS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

const BACKGROUND = 24;
/** Pixels between a frame's RGB and depth tiles, and between frames. */
const INNER_GAP = 1;
const OUTER_GAP = 4;

/** An RGB canvas. */
class Canvas {
  readonly rgb_HWC: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.rgb_HWC = new Uint8Array(width * height * 3).fill(BACKGROUND);
  }

  /** Draw frame t of an episode (RGB, or its depth as colours) at (x, y), scaled by s. */
  drawFrame(ep: DecodedEpisode, t: number, kind: "rgb" | "depth", x0: number, y0: number, s: number, depthMax: number): void {
    const { height: H, width: W } = ep;
    const lut = kind === "depth" ? DEPTH_LUT : null;
    for (let y = 0; y < H * s; y++) {
      for (let x = 0; x < W * s; x++) {
        const p = t * H * W + Math.floor(y / s) * W + Math.floor(x / s);
        const dst = ((y0 + y) * this.width + x0 + x) * 3;
        if (lut) {
          const c = lut[Math.round((ep.depth_THW![p] / depthMax) * 1023)];
          this.rgb_HWC.set(c, dst);
        } else {
          this.rgb_HWC[dst] = ep.rgb_THWC[p * 3];
          this.rgb_HWC[dst + 1] = ep.rgb_THWC[p * 3 + 1];
          this.rgb_HWC[dst + 2] = ep.rgb_THWC[p * 3 + 2];
        }
      }
    }
  }
}

/** depthColour at 1024 levels, so drawing looks colours up instead of interpolating per pixel. */
const DEPTH_LUT: ReadonlyArray<[number, number, number]> = Array.from({ length: 1024 }, (_, i) => depthColour(i / 1023));

/** Default scale: frames shown at least 128 px on their long side. */
function defaultScale(H: number, W: number): number {
  return Math.max(1, Math.ceil(128 / Math.max(H, W)));
}

export interface PreviewOptions {
  /** Rows: the first k episodes (default 4). */
  episodes?: number;
  /** Columns: n frames evenly spaced over each episode (default 6). */
  frames?: number;
  /** Upscale factor (default: frames at least 128 px). */
  scale?: number;
}

/** The preview grid as RGB pixels. */
export function previewGrid(ds: Dataset, opts: PreviewOptions = {}): { rgb_HWC: Uint8Array; width: number; height: number } {
  const m = ds.manifest;
  const [H, W] = m.size;
  const s = opts.scale ?? defaultScale(H, W);
  const k = Math.min(opts.episodes ?? 4, m.episodes.length);
  const n = Math.max(1, opts.frames ?? 6);
  const withDepth = m.depth !== "none";
  const cellW = W * s * (withDepth ? 2 : 1) + (withDepth ? INNER_GAP : 0);
  const width = n * cellW + (n + 1) * OUTER_GAP;
  const height = k * H * s + (k + 1) * OUTER_GAP;
  const canvas = new Canvas(width, height);
  for (let row = 0; row < k; row++) {
    const ep = ds.readEpisode(m.episodes[row].id);
    const y = OUTER_GAP + row * (H * s + OUTER_GAP);
    for (let col = 0; col < n; col++) {
      const t = n === 1 ? 0 : Math.round((col * (ep.frames - 1)) / (n - 1));
      const x = OUTER_GAP + col * (cellW + OUTER_GAP);
      canvas.drawFrame(ep, t, "rgb", x, y, s, 0);
      if (withDepth) canvas.drawFrame(ep, t, "depth", x + W * s + INNER_GAP, y, s, depthScale(m.depth));
    }
  }
  return { rgb_HWC: canvas.rgb_HWC, width, height };
}

/** The preview grid as a PNG file. */
export function previewPng(ds: Dataset, opts: PreviewOptions = {}): Uint8Array {
  const g = previewGrid(ds, opts);
  return encodePng(g.rgb_HWC, g.width, g.height, 3);
}

export interface PreviewGifOptions {
  /** Episode id (default: the first in the manifest). */
  episode?: number;
  /** At most this many frames from the start (default 100). */
  frames?: number;
  scale?: number;
  /** Playback rate (default 10 frames/s). */
  fps?: number;
}

/** An animated GIF of one episode, RGB | depth side by side. */
export function previewGif(ds: Dataset, opts: PreviewGifOptions = {}): Uint8Array {
  const m = ds.manifest;
  const [H, W] = m.size;
  const s = opts.scale ?? defaultScale(H, W);
  const ep = ds.readEpisode(opts.episode ?? m.episodes[0].id);
  const T = Math.min(ep.frames, opts.frames ?? 100);
  const withDepth = m.depth !== "none";
  const width = W * s * (withDepth ? 2 : 1) + (withDepth ? INNER_GAP : 0);
  const height = H * s;
  const frames: Uint8Array[] = [];
  for (let t = 0; t < T; t++) {
    const canvas = new Canvas(width, height);
    canvas.drawFrame(ep, t, "rgb", 0, 0, s, 0);
    if (withDepth) canvas.drawFrame(ep, t, "depth", W * s + INNER_GAP, 0, s, depthScale(m.depth));
    frames.push(canvas.rgb_HWC);
  }
  return encodeGif(frames, width, height, { delayCs: Math.max(2, Math.round(100 / (opts.fps ?? 10))) });
}
