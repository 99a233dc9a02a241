/**
 * bounce: 2–4 balls under gravity in a walled box, bouncing off the walls, floor and ceiling
 * (restitution < 1) and off each other (elastic, mass ∝ r²), with a paddle at the bottom. The
 * paddle re-energises balls that land on it, and "push" kicks nearby low balls upward, so the
 * scene stays lively while each action has a visible effect (the paddle also lights up on push).
 *
 * Units: the arena is ARENA×ARENA, x right, y down; it is stretched to fill any H×W frame.
 */
import { hostRng } from "../core/keys.js";
import { BALL_COLORS, BOUNCE_BACKDROPS } from "./palette.js";
import { Persistent, mixSeed, pickWeighted } from "./policy.js";
import { createCanvas, fillEllipse, fillRect, mix, toFrame } from "./raster.js";
import type { Frame, Policy, World, WorldFactory, WorldInfo, WorldState } from "./types.js";

export const BOUNCE_ACTIONS = ["noop", "left", "right", "push"] as const;
export const ARENA = 16;
/** Downward acceleration, units/step² (a drop from the top takes ≈ 45 steps). */
export const BOUNCE_GRAVITY = 0.015;
/** Speed kept after hitting a wall/ceiling, and after hitting the floor. */
export const WALL_RESTITUTION = 0.9;
export const FLOOR_RESTITUTION = 0.8;
/** No ball moves faster than this (units/step): below the smallest radius, so nothing tunnels. */
export const MAX_SPEED = 0.65;
export const PADDLE_W = 3.6;
export const PADDLE_H = 0.5;
/** y of the paddle's top edge. */
export const PADDLE_Y = ARENA - 1.2;
export const PADDLE_SPEED = 0.4;
/** Upward speed a ball leaves the paddle with at least (rises ≈ 10 units). */
const PADDLE_KICK = 0.55;
/** Push: balls whose centre is within this horizontal distance of the paddle and below PUSH_Y. */
const PUSH_REACH = 3;
const PUSH_Y = ARENA * 0.55;
const PUSH_IMPULSE = 0.35;

const DEPTH_PADDLE = 0.3;
/** Balls sit on fixed depth planes between the paddle and the back wall, one per ball. */
const BALL_DEPTHS = [0.5, 0.58, 0.66, 0.74];

const INFO: WorldInfo = {
  name: "bounce",
  actions: BOUNCE_ACTIONS,
  depthFar: "layers, not distances: back wall 1.0, balls fixed planes 0.5/0.58/0.66/0.74 (by ball index), paddle 0.3",
};

export interface Ball {
  x: number;
  y: number;
  vx: number;
  vy: number;
  r: number;
  colorName: string;
  color: number;
}

export class BounceWorld implements World {
  readonly info = INFO;
  readonly balls: Ball[] = [];
  readonly backdrop: (typeof BOUNCE_BACKDROPS)[number];
  paddleX = ARENA / 2;
  steps = 0;
  lastAction = 0;
  /** Balls that touched the paddle this step (for the state record). */
  paddleHits = 0;

  constructor(readonly seed: number) {
    const rng = hostRng(mixSeed(seed, 5));
    this.backdrop = BOUNCE_BACKDROPS[Math.floor(rng() * BOUNCE_BACKDROPS.length)];
    const n = 2 + Math.floor(rng() * 3);
    const colors = [...BALL_COLORS];
    for (let i = 0; i < n; i++) {
      const { name, color } = colors.splice(Math.floor(rng() * colors.length), 1)[0];
      const r = 0.75 + 0.5 * rng();
      // Place in the upper half without overlapping earlier balls.
      let x = 0;
      let y = 0;
      for (let tries = 0; tries < 100; tries++) {
        x = r + (ARENA - 2 * r) * rng();
        y = r + 0.5 * (ARENA - 2 * r) * rng();
        if (this.balls.every((b) => Math.hypot(b.x - x, b.y - y) > b.r + r + 0.1)) break;
      }
      const vx = (0.08 + 0.17 * rng()) * (rng() < 0.5 ? -1 : 1);
      const vy = -0.1 + 0.2 * rng();
      this.balls.push({ x, y, vx, vy, r, colorName: name, color });
    }
  }

  step(action: number): void {
    if (!Number.isInteger(action) || action < 0 || action >= BOUNCE_ACTIONS.length) {
      throw new Error(`bounce.ts step: action must be an integer in 0..${BOUNCE_ACTIONS.length - 1}, got ${action}`);
    }
    this.lastAction = action;
    this.steps++;
    const half = PADDLE_W / 2;
    if (action === 1) this.paddleX = Math.max(half, this.paddleX - PADDLE_SPEED);
    if (action === 2) this.paddleX = Math.min(ARENA - half, this.paddleX + PADDLE_SPEED);
    this.paddleHits = 0;
    for (const b of this.balls) {
      if (action === 3 && b.y > PUSH_Y && Math.abs(b.x - this.paddleX) < PUSH_REACH) b.vy = Math.min(b.vy, 0) - PUSH_IMPULSE;
      b.vy += BOUNCE_GRAVITY;
      clampSpeed(b);
      b.x += b.vx;
      b.y += b.vy;
      this.collideWalls(b);
      this.collidePaddle(b);
    }
    for (let i = 0; i < this.balls.length; i++) {
      for (let j = i + 1; j < this.balls.length; j++) collideBalls(this.balls[i], this.balls[j]);
    }
  }

  render(height: number, width: number): Frame {
    const canvas = createCanvas(height, width);
    const sx = width / ARENA;
    const sy = height / ARENA;
    const bd = this.backdrop;
    for (let y = 0; y < height; y++) fillRect(canvas, 0, y, width, y + 1, mix(bd.top, bd.bottom, y / height), 1);
    // A grid on the back wall, one line per 2 units, so the box reads as a room.
    for (let g = 2; g < ARENA; g += 2) {
      fillRect(canvas, g * sx - 0.5, 0, g * sx + 0.5, height, bd.grid, 1);
      fillRect(canvas, 0, g * sy - 0.5, width, g * sy + 0.5, bd.grid, 1);
    }
    // Draw the farthest ball first so nearer planes cover it.
    for (let i = this.balls.length - 1; i >= 0; i--) {
      const b = this.balls[i];
      fillEllipse(canvas, b.x * sx, b.y * sy, b.r * sx, b.r * sy, b.color, BALL_DEPTHS[i], 0.6);
    }
    const glow = this.lastAction === 3;
    const x0 = (this.paddleX - PADDLE_W / 2) * sx;
    const x1 = (this.paddleX + PADDLE_W / 2) * sx;
    fillRect(canvas, x0, PADDLE_Y * sy, x1, (PADDLE_Y + PADDLE_H) * sy, glow ? 0xffffff : 0x9aa4b4, DEPTH_PADDLE);
    fillRect(canvas, x0 + 0.3 * sx, (PADDLE_Y + 0.12) * sy, x1 - 0.3 * sx, (PADDLE_Y + PADDLE_H - 0.12) * sy, glow ? 0xfff080 : 0x4ad0e0, DEPTH_PADDLE);
    return toFrame(canvas);
  }

  state(): WorldState {
    return {
      world: "bounce",
      step: this.steps,
      action: this.lastAction,
      backdrop: this.backdrop.name,
      paddleX: this.paddleX,
      paddleHits: this.paddleHits,
      balls: this.balls.map((b) => ({ x: b.x, y: b.y, vx: b.vx, vy: b.vy, r: b.r, color: b.colorName })),
    };
  }

  private collideWalls(b: Ball): void {
    if (b.x - b.r < 0) {
      b.x = b.r;
      b.vx = Math.abs(b.vx) * WALL_RESTITUTION;
    } else if (b.x + b.r > ARENA) {
      b.x = ARENA - b.r;
      b.vx = -Math.abs(b.vx) * WALL_RESTITUTION;
    }
    if (b.y - b.r < 0) {
      b.y = b.r;
      b.vy = Math.abs(b.vy) * WALL_RESTITUTION;
    } else if (b.y + b.r > ARENA) {
      b.y = ARENA - b.r;
      b.vy = -Math.abs(b.vy) * FLOOR_RESTITUTION;
      b.vx *= 0.98; // a little rolling friction, so resting balls come to rest
    }
  }

  /** A falling ball whose centre is above the paddle top and whose bottom reaches it bounces up. */
  private collidePaddle(b: Ball): void {
    const dx = b.x - this.paddleX;
    if (b.vy <= 0 || Math.abs(dx) > PADDLE_W / 2 + b.r * 0.5) return;
    if (b.y >= PADDLE_Y || b.y + b.r < PADDLE_Y) return;
    b.y = PADDLE_Y - b.r;
    b.vy = -Math.max(b.vy, PADDLE_KICK);
    // Hitting off-centre sends the ball sideways, as in breakout.
    b.vx += (dx / (PADDLE_W / 2)) * 0.08;
    clampSpeed(b);
    this.paddleHits++;
  }
}

function clampSpeed(b: Ball): void {
  const speed = Math.hypot(b.vx, b.vy);
  if (speed <= MAX_SPEED) return;
  b.vx *= MAX_SPEED / speed;
  b.vy *= MAX_SPEED / speed;
}

/** Separate two overlapping balls and exchange momentum along the line of centres (elastic). */
function collideBalls(a: Ball, b: Ball): void {
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const dist = Math.hypot(dx, dy);
  const overlap = a.r + b.r - dist;
  if (overlap <= 0 || dist === 0) return;
  const nx = dx / dist;
  const ny = dy / dist;
  const ma = a.r * a.r;
  const mb = b.r * b.r;
  // Push apart in proportion to the other's mass, so the heavier ball moves less.
  a.x -= nx * overlap * (mb / (ma + mb));
  a.y -= ny * overlap * (mb / (ma + mb));
  b.x += nx * overlap * (ma / (ma + mb));
  b.y += ny * overlap * (ma / (ma + mb));
  const approach = (a.vx - b.vx) * nx + (a.vy - b.vy) * ny;
  if (approach <= 0) return;
  const j = (2 * approach) / (ma + mb);
  a.vx -= j * mb * nx;
  a.vy -= j * mb * ny;
  b.vx += j * ma * nx;
  b.vy += j * ma * ny;
}

/** Relative frequencies when acting at random (noop, left, right, push). */
const RANDOM_WEIGHTS = [0.25, 0.28, 0.28, 0.19];

/**
 * Modes held for 3–15 steps: track the lowest falling ball (52%), track and push when it is
 * close (23%), act at random (15%) or idle (10%).
 */
export function bouncePolicy(seed: number): Policy {
  const rng = hostRng(mixSeed(seed, 6));
  const mode = new Persistent<number>(rng);
  const random = new Persistent<number>(rng);
  return {
    next(world: World): number {
      if (!(world instanceof BounceWorld)) throw new Error("bounce.ts policy: expects a BounceWorld");
      const m = mode.next(() => pickWeighted(rng, [0.52, 0.23, 0.15, 0.1]));
      if (m === 2) return random.next(() => pickWeighted(rng, RANDOM_WEIGHTS));
      if (m === 3) return 0;
      // The lowest ball on its way down (or the lowest overall if none is falling).
      let target = world.balls[0];
      for (const b of world.balls) {
        const better = (b.vy > 0 ? 1 : 0) - (target.vy > 0 ? 1 : 0) || b.y - target.y;
        if (better > 0) target = b;
      }
      if (m === 1 && target.y > PUSH_Y && Math.abs(target.x - world.paddleX) < PUSH_REACH) return 3;
      const dx = target.x - world.paddleX;
      if (Math.abs(dx) < 0.5) return 0;
      return dx < 0 ? 1 : 2;
    },
  };
}

export const BOUNCE: WorldFactory = {
  info: INFO,
  create: (seed) => new BounceWorld(seed),
  policy: bouncePolicy,
};
