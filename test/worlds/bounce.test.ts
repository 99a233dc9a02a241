import { beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import {
  ARENA,
  BOUNCE,
  BOUNCE_GRAVITY,
  BounceWorld,
  MAX_SPEED,
  PADDLE_SPEED,
  PADDLE_W,
  PADDLE_Y,
} from "../../src/worlds/bounce.js";

beforeAll(async () => {
  await initDevice();
});

interface B {
  x: number;
  y: number;
  vx: number;
  vy: number;
  r: number;
}

describe("bounce", () => {
  it("balls accelerate downward by g per step while free (no wall, ball, paddle or push)", () => {
    let free = 0;
    let contacts = 0;
    for (const seed of [1, 2, 3]) {
      const world = BOUNCE.create(seed) as BounceWorld;
      const policy = BOUNCE.policy(seed);
      let prev = (world.state() as { balls: B[] }).balls;
      for (let t = 0; t < 1500; t++) {
        const a = policy.next(world);
        world.step(a);
        const balls = (world.state() as { balls: B[] }).balls;
        balls.forEach((b, i) => {
          const p = prev[i];
          const clearWalls = b.x - b.r > 1e-6 && ARENA - b.x - b.r > 1e-6 && b.y - b.r > 1e-6 && ARENA - b.y - b.r > 1e-6;
          const clearBalls = balls.every((o, j) => j === i || Math.hypot(o.x - b.x, o.y - b.y) > o.r + b.r + 1e-6);
          const clearPaddle = b.y + b.r < PADDLE_Y - 1e-6 || Math.abs(b.x - world.paddleX) > PADDLE_W / 2 + b.r;
          const slow = Math.hypot(p.vx, p.vy + BOUNCE_GRAVITY) < MAX_SPEED - 1e-9;
          if (a === 3 || !clearWalls || !clearBalls || !clearPaddle || !slow) {
            contacts++;
            return;
          }
          expect(b.vy - p.vy).toBeCloseTo(BOUNCE_GRAVITY, 12);
          expect(b.vx).toBe(p.vx);
          expect(b.x - p.x).toBeCloseTo(p.vx, 12);
          expect(b.y - p.y).toBeCloseTo(b.vy, 12);
          free++;
        });
        prev = balls;
      }
    }
    expect(free).toBeGreaterThan(3000);
    expect(contacts).toBeGreaterThan(100);
  });

  it("ball-ball collisions conserve momentum and kinetic energy", () => {
    const world = new BounceWorld(4);
    const [a, b] = world.balls;
    world.balls.splice(2);
    Object.assign(a, { x: 6, y: 5, vx: 0.3, vy: 0 });
    Object.assign(b, { x: 6 + a.r + b.r - 0.05, y: 5, vx: -0.2, vy: 0 });
    const ma = a.r * a.r;
    const mb = b.r * b.r;
    const px = ma * a.vx + mb * b.vx;
    const ke = ma * (a.vx ** 2 + (a.vy + BOUNCE_GRAVITY) ** 2) + mb * (b.vx ** 2 + (b.vy + BOUNCE_GRAVITY) ** 2);
    world.step(0);
    expect(a.vx).toBeLessThan(0);
    expect(b.vx).toBeGreaterThan(0);
    expect(ma * a.vx + mb * b.vx).toBeCloseTo(px, 12);
    expect(ma * (a.vx ** 2 + a.vy ** 2) + mb * (b.vx ** 2 + b.vy ** 2)).toBeCloseTo(ke, 12);
    expect(Math.hypot(b.x - a.x, b.y - a.y)).toBeCloseTo(a.r + b.r, 9);
  });

  it("walls and floor reflect with restitution < 1; the paddle sends balls back up", () => {
    const world = new BounceWorld(4);
    const ball = world.balls[0];
    world.balls.splice(1);
    Object.assign(ball, { x: ball.r + 0.05, y: 5, vx: -0.3, vy: 0 });
    world.step(0);
    expect(ball.vx).toBeGreaterThan(0);
    expect(ball.vx).toBeLessThan(0.3);
    expect(ball.x).toBe(ball.r);
    Object.assign(ball, { x: world.paddleX, y: PADDLE_Y - ball.r - 0.1, vx: 0, vy: 0.3 });
    world.step(0);
    expect(ball.vy).toBeLessThan(-0.3);
    expect(world.paddleHits).toBe(1);
  });

  it("moves the paddle by a fixed step, clamped to the arena; push lifts nearby low balls", () => {
    const world = new BounceWorld(8);
    const x = world.paddleX;
    world.step(1);
    expect(world.paddleX).toBeCloseTo(x - PADDLE_SPEED, 12);
    for (let t = 0; t < 60; t++) world.step(2);
    expect(world.paddleX).toBe(ARENA - PADDLE_W / 2);
    const ball = world.balls[0];
    world.balls.splice(1);
    Object.assign(ball, { x: world.paddleX - 1, y: 11, vx: 0, vy: 0.2 });
    world.step(3);
    expect(ball.vy).toBeLessThan(-0.3);
    const glow = world.render(32, 32).rgb;
    world.step(0);
    expect(Buffer.from(world.render(32, 32).rgb).equals(Buffer.from(glow))).toBe(false);
  });

  it("has 2–4 distinctly coloured balls and stays lively under its policy", () => {
    const counts = new Set<number>();
    for (let seed = 0; seed < 20; seed++) {
      const world = new BounceWorld(seed);
      counts.add(world.balls.length);
      expect(new Set(world.balls.map((b) => b.colorName)).size).toBe(world.balls.length);
    }
    expect([...counts].sort()).toEqual([2, 3, 4]);
    const world = new BounceWorld(3);
    const policy = BOUNCE.policy(3);
    let speed = 0;
    for (let t = 0; t < 3000; t++) {
      world.step(policy.next(world));
      if (t >= 2000) for (const b of world.balls) speed += Math.hypot(b.vx, b.vy) / world.balls.length / 1000;
    }
    expect(speed).toBeGreaterThan(0.1);
  });
});
