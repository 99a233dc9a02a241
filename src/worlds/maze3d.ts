/**
 * maze3d: walk through a seeded grid maze in first person. Each step moves a fixed 0.25 block or
 * turns a fixed 15°; walls block movement with a collision radius of 0.2 blocks. Named landmark
 * walls (doors, windows, banners, rings) make places recognisable for revisit tests.
 *
 * Coordinates: blocks, x east, y south; heading k means angle k·15° (0 = east, 6 = south).
 */
import { hostRng } from "../core/keys.js";
import { LANDMARK_BASE, castRay, generateMaze, isWall, newRayHit, type MazeMap } from "./maze3d-map.js";
import { MAZE_FAR, PLANE, renderMaze } from "./maze3d-render.js";
import { MAZE_LANDMARKS } from "./palette.js";
import { Persistent, mixSeed, pickWeighted, randInt } from "./policy.js";
import type { Frame, Policy, World, WorldFactory, WorldInfo, WorldState } from "./types.js";

export const MAZE_ACTIONS = ["noop", "forward", "back", "turn-left", "turn-right"] as const;
/** Distance moved per forward/back step, blocks. */
export const MOVE_STEP = 0.25;
/** Headings per full turn: 24 × 15°. */
export const HEADINGS = 24;
/** Half-width of the walker's collision square, blocks. */
export const COLLISION_RADIUS = 0.2;
/** Maze size in cells per side (the block grid is 2·cells + 1). */
const CELLS = 8;
/** Rays cast across the view to find landmarks for the state record. */
const LANDMARK_RAYS = 33;

const INFO: WorldInfo = {
  name: "maze3d",
  actions: MAZE_ACTIONS,
  depthFar: `${MAZE_FAR} blocks (one maze cell = one block); depth = perpendicular view distance / ${MAZE_FAR}, clamped to 1`,
};

export class Maze3dWorld implements World {
  readonly info = INFO;
  readonly map: MazeMap;
  x = 1.5;
  y = 1.5;
  heading = 0;
  steps = 0;
  lastAction = 0;
  /** Steps where a move was (partly) blocked by a wall. */
  bumps = 0;
  private readonly hit = newRayHit();

  constructor(readonly seed: number) {
    this.map = generateMaze(hostRng(mixSeed(seed, 3)), CELLS);
    // Face an open corridor from the start cell.
    this.heading = isWall(this.map, 2, 1) ? 6 : 0;
  }

  get angle(): number {
    return (this.heading * 2 * Math.PI) / HEADINGS;
  }

  step(action: number): void {
    if (!Number.isInteger(action) || action < 0 || action >= MAZE_ACTIONS.length) {
      throw new Error(`maze3d.ts step: action must be an integer in 0..${MAZE_ACTIONS.length - 1}, got ${action}`);
    }
    this.lastAction = action;
    this.steps++;
    if (action === 1 || action === 2) {
      const sign = action === 1 ? 1 : -1;
      this.move(sign * MOVE_STEP * Math.cos(this.angle), sign * MOVE_STEP * Math.sin(this.angle));
    } else if (action === 3) {
      this.heading = (this.heading + HEADINGS - 1) % HEADINGS;
    } else if (action === 4) {
      this.heading = (this.heading + 1) % HEADINGS;
    }
  }

  render(height: number, width: number): Frame {
    return renderMaze(this.map, { x: this.x, y: this.y, angle: this.angle }, height, width);
  }

  /** Distance to the wall straight ahead, blocks. */
  distanceAhead(): number {
    return castRay(this.map, this.x, this.y, Math.cos(this.angle), Math.sin(this.angle), this.hit).dist;
  }

  /** Distance to the wall 90° to the left (side = -1) or right (side = 1), blocks. */
  distanceToSide(side: -1 | 1): number {
    const a = this.angle + (side * Math.PI) / 2;
    return castRay(this.map, this.x, this.y, Math.cos(a), Math.sin(a), this.hit).dist;
  }

  /** The nearest landmark hit by any ray across the field of view, within the far plane. */
  landmarkInView(): { name: string; color: string; distance: number } | null {
    const dirX = Math.cos(this.angle);
    const dirY = Math.sin(this.angle);
    let best: { name: string; color: string; distance: number } | null = null;
    for (let i = 0; i < LANDMARK_RAYS; i++) {
      const cameraX = (2 * i) / (LANDMARK_RAYS - 1) - 1;
      const hit = castRay(this.map, this.x, this.y, dirX - dirY * PLANE * cameraX, dirY + dirX * PLANE * cameraX, this.hit);
      if (hit.block < LANDMARK_BASE || hit.dist > MAZE_FAR) continue;
      if (best && best.distance <= hit.dist) continue;
      const lm = MAZE_LANDMARKS[hit.block - LANDMARK_BASE];
      best = { name: lm.name, color: `#${lm.color.toString(16).padStart(6, "0")}`, distance: hit.dist };
    }
    return best;
  }

  state(): WorldState {
    return {
      world: "maze3d",
      step: this.steps,
      action: this.lastAction,
      pose: { x: this.x, y: this.y, angle: this.angle, heading: this.heading },
      block: { x: Math.floor(this.x), y: Math.floor(this.y) },
      cell: { x: Math.floor((this.x - 1) / 2), y: Math.floor((this.y - 1) / 2) },
      landmark: this.landmarkInView(),
      distanceAhead: this.distanceAhead(),
      bumps: this.bumps,
    };
  }

  /** Would the collision square centred at (x, y) touch a wall block? */
  blocked(x: number, y: number): boolean {
    const r = COLLISION_RADIUS;
    for (let by = Math.floor(y - r); by <= Math.floor(y + r); by++) {
      for (let bx = Math.floor(x - r); bx <= Math.floor(x + r); bx++) {
        if (isWall(this.map, bx, by)) return true;
      }
    }
    return false;
  }

  /** Move by (dx, dy), one axis at a time, so the walker slides along walls it meets at an angle. */
  private move(dx: number, dy: number): void {
    let bumped = false;
    if (!this.blocked(this.x + dx, this.y)) this.x += dx;
    else bumped = true;
    if (!this.blocked(this.x, this.y + dy)) this.y += dy;
    else bumped = true;
    if (bumped) this.bumps++;
  }
}

/** Relative frequencies of the randomly held actions (noop, forward, back, turn-left, turn-right). */
const POLICY_WEIGHTS = [0.1, 0.58, 0.1, 0.11, 0.11];

/** Mostly walks forward; near a wall ahead it turns, mostly 90° towards
 * the more open side, otherwise 45°–135° either way. */
export function maze3dPolicy(seed: number): Policy {
  const rng = hostRng(mixSeed(seed, 4));
  const held = new Persistent<number>(rng);
  return {
    next(world: World): number {
      if (!(world instanceof Maze3dWorld)) throw new Error("maze3d.ts policy: expects a Maze3dWorld");
      const action = held.next(() => pickWeighted(rng, POLICY_WEIGHTS));
      if (action === 1 && world.distanceAhead() < 0.6) {
        // Usually turn towards the side with more room, so the walk explores instead of dithering.
        const open = world.distanceToSide(-1) > world.distanceToSide(1) ? 3 : 4;
        const turn = rng() < 0.75 ? open : 7 - open;
        // Mostly a right angle, which lines the view up with the next corridor.
        held.hold(turn, rng() < 0.7 ? 6 : randInt(rng, 3, 9));
        held.next(() => turn);
        return turn;
      }
      return action;
    },
  };
}

export const MAZE3D: WorldFactory = {
  info: INFO,
  create: (seed) => new Maze3dWorld(seed),
  policy: maze3dPolicy,
};
