/**
 * The maze3d map: a block grid carved by a recursive backtracker over cells, with a few extra
 * openings so there are loops, wall materials by region and named landmark blocks; plus the DDA
 * ray cast that both the renderer and the world's state use.
 *
 * Block grid: a maze of C×C cells becomes (2C+1)×(2C+1) blocks; cell (i, j) is block
 * (2i+1, 2j+1) and walls between cells are the blocks in between. Coordinates are in blocks,
 * x to the east, y to the south.
 */
import { MAZE_LANDMARKS, MAZE_WALLS } from "./palette.js";
import { randInt } from "./policy.js";

/** Block values: 0 open, 1..MAZE_WALLS.length a wall material (+1), LANDMARK_BASE + k landmark k. */
export const OPEN = 0;
export const LANDMARK_BASE = 16;

export interface MazeMap {
  /** Blocks per side (2 × cells + 1). */
  readonly size: number;
  /** Row-major block values, size*size. */
  readonly blocks: Uint8Array;
}

/** Wall or outside the map (the outside counts as wall, so rays and movement always stop). */
export function isWall(map: MazeMap, bx: number, by: number): boolean {
  if (bx < 0 || by < 0 || bx >= map.size || by >= map.size) return true;
  return map.blocks[by * map.size + bx] !== OPEN;
}

export function blockAt(map: MazeMap, bx: number, by: number): number {
  if (bx < 0 || by < 0 || bx >= map.size || by >= map.size) return 1;
  return map.blocks[by * map.size + bx];
}

/** Generate a maze of `cells`×`cells` with `loops` extra openings and landmark blocks. */
export function generateMaze(rng: () => number, cells = 8, loops = 10): MazeMap {
  const size = 2 * cells + 1;
  const blocks = new Uint8Array(size * size).fill(1);
  const visited = new Uint8Array(cells * cells);
  const stack: number[] = [0];
  visited[0] = 1;
  blocks[1 * size + 1] = OPEN;
  const dirs = [
    [1, 0],
    [-1, 0],
    [0, 1],
    [0, -1],
  ];
  while (stack.length > 0) {
    const cell = stack[stack.length - 1];
    const ci = cell % cells;
    const cj = Math.floor(cell / cells);
    const options = dirs.filter(([dx, dy]) => {
      const ni = ci + dx;
      const nj = cj + dy;
      return ni >= 0 && nj >= 0 && ni < cells && nj < cells && !visited[nj * cells + ni];
    });
    if (options.length === 0) {
      stack.pop();
      continue;
    }
    const [dx, dy] = options[Math.floor(rng() * options.length)];
    const ni = ci + dx;
    const nj = cj + dy;
    visited[nj * cells + ni] = 1;
    blocks[(2 * cj + 1 + dy) * size + (2 * ci + 1 + dx)] = OPEN;
    blocks[(2 * nj + 1) * size + (2 * ni + 1)] = OPEN;
    stack.push(nj * cells + ni);
  }
  // Loops: open some walls that separate two open cells, so there is more than one way round.
  for (let opened = 0, tries = 0; opened < loops && tries < 1000; tries++) {
    const bx = randInt(rng, 1, size - 2);
    const by = randInt(rng, 1, size - 2);
    const between = (bx % 2 === 0 && by % 2 === 1) || (bx % 2 === 1 && by % 2 === 0);
    if (!between || blocks[by * size + bx] === OPEN) continue;
    blocks[by * size + bx] = OPEN;
    opened++;
  }
  // Materials by region (3×3 regions), so areas of the maze look different.
  const regions = 3;
  const regionMaterial = Array.from({ length: regions * regions }, () => 1 + Math.floor(rng() * MAZE_WALLS.length));
  for (let by = 0; by < size; by++) {
    for (let bx = 0; bx < size; bx++) {
      if (blocks[by * size + bx] === OPEN) continue;
      const r = Math.min(regions - 1, Math.floor((by * regions) / size)) * regions + Math.min(regions - 1, Math.floor((bx * regions) / size));
      blocks[by * size + bx] = regionMaterial[r];
    }
  }
  placeLandmarks({ size, blocks }, rng);
  return { size, blocks };
}

/** Mark one wall block per landmark: visible from a corridor and at least 4 blocks from the others. */
function placeLandmarks(map: MazeMap, rng: () => number): void {
  const { size, blocks } = map;
  const candidates: [number, number][] = [];
  for (let by = 1; by < size - 1; by++) {
    for (let bx = 1; bx < size - 1; bx++) {
      if (blocks[by * size + bx] === OPEN) continue;
      const faces = [!isWall(map, bx + 1, by), !isWall(map, bx - 1, by), !isWall(map, bx, by + 1), !isWall(map, bx, by - 1)];
      if (faces.some(Boolean)) candidates.push([bx, by]);
    }
  }
  const placed: [number, number][] = [];
  for (let k = 0; k < MAZE_LANDMARKS.length; k++) {
    for (let tries = 0; tries < 200 && candidates.length > 0; tries++) {
      const [bx, by] = candidates[Math.floor(rng() * candidates.length)];
      if (placed.some(([px, py]) => Math.abs(px - bx) + Math.abs(py - by) < 4)) continue;
      blocks[by * size + bx] = LANDMARK_BASE + k;
      placed.push([bx, by]);
      break;
    }
  }
}

/** Result of one ray cast, reused across calls so rendering allocates nothing per column. */
export interface RayHit {
  /** Perpendicular distance (in units of the ray direction's length along the view axis). */
  dist: number;
  /** Block value that was hit. */
  block: number;
  bx: number;
  by: number;
  /** 0: hit a face perpendicular to x (east/west), 1: perpendicular to y (north/south). */
  side: 0 | 1;
  /** Where along the face the ray hit, in [0, 1): the texture's horizontal coordinate. */
  u: number;
}

export function newRayHit(): RayHit {
  return { dist: 0, block: 0, bx: 0, by: 0, side: 0, u: 0 };
}

/**
 * DDA ray cast from (px, py) along (rdx, rdy) to the first wall. With a ray direction dir +
 * plane·cameraX, `dist` is the distance measured along the view direction (no fish-eye).
 */
export function castRay(map: MazeMap, px: number, py: number, rdx: number, rdy: number, hit: RayHit): RayHit {
  let bx = Math.floor(px);
  let by = Math.floor(py);
  const deltaX = rdx === 0 ? Infinity : Math.abs(1 / rdx);
  const deltaY = rdy === 0 ? Infinity : Math.abs(1 / rdy);
  const stepX = rdx < 0 ? -1 : 1;
  const stepY = rdy < 0 ? -1 : 1;
  let sideX = rdx < 0 ? (px - bx) * deltaX : (bx + 1 - px) * deltaX;
  let sideY = rdy < 0 ? (py - by) * deltaY : (by + 1 - py) * deltaY;
  let side: 0 | 1 = 0;
  // The map is enclosed, so a ray always ends within 2·size steps.
  for (let i = 0; i < 4 * map.size; i++) {
    if (sideX < sideY) {
      sideX += deltaX;
      bx += stepX;
      side = 0;
    } else {
      sideY += deltaY;
      by += stepY;
      side = 1;
    }
    if (isWall(map, bx, by)) break;
  }
  const dist = side === 0 ? sideX - deltaX : sideY - deltaY;
  let u = side === 0 ? py + dist * rdy : px + dist * rdx;
  u -= Math.floor(u);
  hit.dist = dist;
  hit.block = blockAt(map, bx, by);
  hit.bx = bx;
  hit.by = by;
  hit.side = side;
  hit.u = u;
  return hit;
}
