/**
 * Pictures made of tiles: rows of frames (RGB, or depth shown through the depth colour map),
 * scaled up nearest-neighbour, for sample reconstructions, per-action strips and rollouts.
 */
import { depthColour } from "./preview.js";
import { encodePng } from "./png.js";

/** One tile: a frame in [0, 1], H×W with `channels` values per pixel; `show` picks RGB or one channel as depth. */
export interface Tile {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
  /** "rgb" shows channels 0..2; "depth" shows channel `depthChannel` (default 3) in the depth colour map. */
  show: "rgb" | "depth";
  depthChannel?: number;
  /** Offset (in values) of this frame inside `data`. Default 0. */
  offset?: number;
}

const GAP = 2;
const BACKGROUND = 24;

/** Compose rows of tiles into an RGB image (all tiles the same size). */
export function tileImage(rows: Tile[][], scale = 2): { rgb_HWC: Uint8Array; width: number; height: number } {
  const first = rows[0]?.[0];
  if (!first) throw new Error("tileImage: no tiles");
  const th = first.height * scale;
  const tw = first.width * scale;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = cols * tw + (cols + 1) * GAP;
  const height = rows.length * th + (rows.length + 1) * GAP;
  const rgb = new Uint8Array(width * height * 3).fill(BACKGROUND);
  rows.forEach((row, r) =>
    row.forEach((tile, c) => {
      const ox = GAP + c * (tw + GAP);
      const oy = GAP + r * (th + GAP);
      const off = tile.offset ?? 0;
      for (let y = 0; y < th; y++) {
        for (let x = 0; x < tw; x++) {
          const src = off + (Math.floor(y / scale) * tile.width + Math.floor(x / scale)) * tile.channels;
          const dst = ((oy + y) * width + ox + x) * 3;
          if (tile.show === "depth") {
            const [cr, cg, cb] = depthColour(tile.data[src + (tile.depthChannel ?? 3)]);
            rgb[dst] = cr;
            rgb[dst + 1] = cg;
            rgb[dst + 2] = cb;
          } else {
            for (let k = 0; k < 3; k++) {
              const v = tile.data[src + Math.min(k, tile.channels - 1)];
              rgb[dst + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
            }
          }
        }
      }
    }),
  );
  return { rgb_HWC: rgb, width, height };
}

export function tilePng(rows: Tile[][], scale = 2): Uint8Array {
  const img = tileImage(rows, scale);
  return encodePng(img.rgb_HWC, img.width, img.height, 3);
}
