/**
 * First-person ray-cast rendering of maze3d at any H×W: one DDA ray per column, textured walls
 * (procedural bricks, stones, tiles, planks; landmark doors, windows, banners, rings), a checkered
 * floor and a plain ceiling, all fogged by distance.
 *
 * Projection: horizontal field of view FOV; the focal length in pixels is W / (2·tan(FOV/2)) and
 * pixels are square, so a wall at distance d spans focal/d rows, centred on the horizon (the eye
 * is half a wall high). Depth = perpendicular distance / FAR, clamped to 1.
 *
 * Dimension keys: H,W pixels.
 */
import { LANDMARK_BASE, castRay, newRayHit, type MazeMap } from "./maze3d-map.js";
import { MAZE_LANDMARKS, MAZE_WALLS } from "./palette.js";
import { createCanvas, hash01, mix, rgb, scale, toFrame } from "./raster.js";
import type { Frame } from "./types.js";

/** The far plane, in blocks (one maze cell or wall is one block). */
export const MAZE_FAR = 8;
/** Half the camera plane: tan(FOV/2) for a 66° horizontal field of view. */
export const PLANE = Math.tan((33 * Math.PI) / 180);

const FOG = rgb(18, 16, 24);
const CEILING = rgb(70, 72, 88);
const FLOOR_A = rgb(105, 95, 82);
const FLOOR_B = rgb(78, 70, 62);

export interface Pose {
  x: number;
  y: number;
  angle: number;
}

export function renderMaze(map: MazeMap, pose: Pose, height: number, width: number): Frame {
  const canvas = createCanvas(height, width);
  const { rgb: px, depth } = canvas;
  const focal = width / (2 * PLANE);
  const horizon = height / 2;
  const dirX = Math.cos(pose.angle);
  const dirY = Math.sin(pose.angle);
  // The camera plane points to the right of the view direction (y grows southward).
  const planeX = -dirY * PLANE;
  const planeY = dirX * PLANE;
  // Floor/ceiling distance per row: the eye is 0.5 above the floor, so row y sees distance 0.5·f/|dy|.
  const rowDist = new Float64Array(height);
  for (let y = 0; y < height; y++) rowDist[y] = (0.5 * focal) / Math.max(1e-6, Math.abs(y + 0.5 - horizon));
  const hit = newRayHit();
  for (let x = 0; x < width; x++) {
    const cameraX = (2 * (x + 0.5)) / width - 1;
    const rdx = dirX + planeX * cameraX;
    const rdy = dirY + planeY * cameraX;
    castRay(map, pose.x, pose.y, rdx, rdy, hit);
    const half = (0.5 * focal) / hit.dist;
    const top = horizon - half;
    const bottom = horizon + half;
    const wallFog = Math.min(1, hit.dist / MAZE_FAR) * 0.85;
    const wallDepth = Math.min(1, hit.dist / MAZE_FAR);
    for (let y = 0; y < height; y++) {
      const cy = y + 0.5;
      let color: number;
      let d: number;
      if (cy < top) {
        d = rowDist[y];
        color = mix(CEILING, FOG, Math.min(1, d / MAZE_FAR));
      } else if (cy >= bottom) {
        d = rowDist[y];
        const fx = pose.x + d * rdx;
        const fy = pose.y + d * rdy;
        const checker = (Math.floor(fx * 2) + Math.floor(fy * 2)) & 1;
        color = mix(checker ? FLOOR_A : FLOOR_B, FOG, Math.min(1, d / MAZE_FAR) * 0.9);
      } else {
        d = hit.dist;
        const v = (cy - top) / (bottom - top);
        let c = wallTexel(hit.block, hit.bx, hit.by, hit.u, v);
        if (hit.side === 1) c = scale(c, 0.78);
        color = mix(c, FOG, wallFog);
        const i = y * width + x;
        depth[i] = wallDepth;
        writeRgb(px, i, color);
        continue;
      }
      const i = y * width + x;
      depth[i] = Math.min(1, d / MAZE_FAR);
      writeRgb(px, i, color);
    }
  }
  return toFrame(canvas);
}

function writeRgb(px: Uint8Array, i: number, color: number): void {
  px[i * 3] = (color >> 16) & 255;
  px[i * 3 + 1] = (color >> 8) & 255;
  px[i * 3 + 2] = color & 255;
}

/** The colour of a wall block at texture coordinates (u, v) ∈ [0, 1)², v = 0 at the top. */
function wallTexel(block: number, bx: number, by: number, u: number, v: number): number {
  if (block >= LANDMARK_BASE) {
    const lm = MAZE_LANDMARKS[block - LANDMARK_BASE];
    switch (lm.pattern) {
      case "door":
        if (u > 0.22 && u < 0.78 && v > 0.18) {
          if (u > 0.62 && u < 0.7 && v > 0.58 && v < 0.66) return lm.detail;
          return Math.abs(u - 0.5) < 0.03 ? scale(lm.color, 0.4) : scale(lm.color, 0.7);
        }
        return u < 0.17 || u > 0.83 || v < 0.12 ? lm.color : lm.detail;
      case "window":
        if (u > 0.2 && u < 0.8 && v > 0.18 && v < 0.62) {
          return Math.abs(u - 0.5) < 0.04 || Math.abs(v - 0.4) < 0.04 ? lm.color : lm.detail;
        }
        return lm.color;
      case "banner":
        return Math.floor(v * 5) % 2 === 0 ? lm.color : lm.detail;
      case "ring": {
        const r = Math.hypot(u - 0.5, v - 0.5);
        return r > 0.2 && r < 0.34 ? lm.detail : lm.color;
      }
    }
  }
  const mat = MAZE_WALLS[(block - 1) % MAZE_WALLS.length];
  switch (mat.pattern) {
    case "bricks": {
      const row = Math.floor(v * 4);
      const bu = u * 2 + (row & 1) * 0.5;
      if ((v * 4) % 1 < 0.12 || bu % 1 < 0.07) return mat.line;
      return scale(mat.base, 0.85 + 0.3 * hash01(bx * 31 + by * 7 + row, Math.floor(bu)));
    }
    case "blocks":
      if ((v * 2) % 1 < 0.06 || (u * 2 + Math.floor(v * 2) * 0.5) % 1 < 0.05) return mat.line;
      return scale(mat.base, 0.9 + 0.2 * hash01(bx * 13 + by, Math.floor(v * 2) * 2 + Math.floor(u * 2)));
    case "stripes":
      if (Math.abs(v - 0.5) < 0.05) return mat.line;
      return (u * 4) % 1 < 0.5 ? mat.base : scale(mat.base, 0.78);
    case "planks": {
      const plank = Math.floor(v * 5);
      if ((v * 5) % 1 < 0.12) return mat.line;
      return scale(mat.base, 0.85 + 0.3 * hash01(bx + by * 17, plank));
    }
  }
}
