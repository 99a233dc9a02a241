import { beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { LANDMARK_BASE, type MazeMap } from "../../src/worlds/maze3d-map.js";
import { MAZE_FAR } from "../../src/worlds/maze3d-render.js";
import { COLLISION_RADIUS, HEADINGS, MAZE3D, Maze3dWorld, MOVE_STEP } from "../../src/worlds/maze3d.js";

beforeAll(async () => {
  await initDevice();
});

const FORWARD = 1;
const BACK = 2;
const LEFT = 3;

/** Wall test read straight from the block array (outside = wall). */
function wallAt(map: MazeMap, x: number, y: number): boolean {
  const bx = Math.floor(x);
  const by = Math.floor(y);
  return bx < 0 || by < 0 || bx >= map.size || by >= map.size || map.blocks[by * map.size + bx] !== 0;
}

/** Distance to the first wall along angle a, by marching and then bisecting (independent of DDA). */
function marchDistance(map: MazeMap, x: number, y: number, a: number): number {
  const dx = Math.cos(a);
  const dy = Math.sin(a);
  let lo = 0;
  let hi = 0;
  while (!wallAt(map, x + hi * dx, y + hi * dy)) {
    lo = hi;
    hi += 0.01;
  }
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (wallAt(map, x + mid * dx, y + mid * dy)) hi = mid;
    else lo = mid;
  }
  return hi;
}

describe("maze3d", () => {
  it("depth at the centre column equals the ray distance to the wall / far plane", () => {
    const H = 33;
    const W = 65; // odd, so column 32 looks exactly along the view direction
    let compared = 0;
    for (const seed of [1, 2, 3]) {
      const world = MAZE3D.create(seed) as Maze3dWorld;
      const policy = MAZE3D.policy(seed);
      for (let t = 0; t < 300; t++) {
        world.step(policy.next(world));
        if (t % 7 !== 0) continue;
        const d = marchDistance(world.map, world.x, world.y, world.angle);
        const depth = world.render(H, W).depth[16 * W + 32];
        expect(depth).toBeCloseTo(Math.min(1, d / MAZE_FAR), 5);
        expect(world.state().distanceAhead as number).toBeCloseTo(d, 6);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it("floor and ceiling depth grow towards the horizon and reach 1 only beyond the far plane", () => {
    const world = new Maze3dWorld(5);
    const fr = world.render(64, 64);
    const col = (y: number) => fr.depth[y * 64 + 10];
    expect(col(63)).toBeLessThan(col(55));
    expect(col(0)).toBeLessThan(col(8));
    expect(col(63)).toBeCloseTo((0.5 * 32) / 0.6494 / 31.5 / MAZE_FAR, 2);
  });

  it("walking into walls never puts the pose inside a wall, and the walker stops before them", () => {
    for (const seed of [1, 7]) {
      const world = new Maze3dWorld(seed);
      const policy = MAZE3D.policy(seed);
      const check = () => {
        for (const [ox, oy] of [[-1, -1], [-1, 1], [1, -1], [1, 1], [0, 0]]) {
          expect(wallAt(world.map, world.x + ox * COLLISION_RADIUS * 0.999, world.y + oy * COLLISION_RADIUS * 0.999)).toBe(false);
        }
      };
      for (let t = 0; t < 1500; t++) {
        // Every 50 steps, charge straight ahead for 12 steps whatever is there.
        world.step(t % 50 < 12 ? FORWARD : policy.next(world));
        check();
      }
      for (let k = 0; k < 30; k++) world.step(FORWARD);
      check();
      const x = world.x;
      const y = world.y;
      world.step(FORWARD);
      // Blocked head-on or sliding along a wall: the distance ahead is at most one step plus the radius.
      if (world.x === x && world.y === y) expect(world.distanceAhead()).toBeLessThan(MOVE_STEP + COLLISION_RADIUS * 1.5);
    }
  });

  it("turns by 15° per step and forward/back undo each other in the open", () => {
    const world = new Maze3dWorld(3);
    const h = world.heading;
    for (let k = 0; k < HEADINGS; k++) world.step(LEFT);
    expect(world.heading).toBe(h);
    world.step(LEFT);
    expect(world.angle).toBeCloseTo((((h + HEADINGS - 1) % HEADINGS) * Math.PI) / 12, 12);
    world.step(4);
    const [x, y] = [world.x, world.y];
    world.step(FORWARD);
    expect(Math.hypot(world.x - x, world.y - y)).toBeCloseTo(MOVE_STEP, 12);
    world.step(BACK);
    expect(world.x).toBeCloseTo(x, 12);
    expect(world.y).toBeCloseTo(y, 12);
  });

  it("generates a connected maze with a closed border and six distinct landmarks", () => {
    for (const seed of [1, 2, 3, 4]) {
      const { map } = new Maze3dWorld(seed);
      const n = map.size;
      expect(n).toBe(17);
      for (let i = 0; i < n; i++) {
        for (const [x, y] of [[i, 0], [i, n - 1], [0, i], [n - 1, i]]) expect(map.blocks[y * n + x]).not.toBe(0);
      }
      const seen = new Uint8Array(n * n);
      const queue = [1 * n + 1];
      seen[queue[0]] = 1;
      while (queue.length) {
        const b = queue.pop()!;
        for (const nb of [b + 1, b - 1, b + n, b - n]) {
          if (!seen[nb] && map.blocks[nb] === 0) {
            seen[nb] = 1;
            queue.push(nb);
          }
        }
      }
      for (let b = 0; b < n * n; b++) if (map.blocks[b] === 0) expect(seen[b]).toBe(1);
      const landmarks = Array.from(map.blocks).filter((v) => v >= LANDMARK_BASE);
      expect(new Set(landmarks).size).toBe(6);
    }
  });

  it("reports landmarks in view during a walk, and the state has pose, cell and distance", () => {
    const seen = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const world = new Maze3dWorld(seed);
      const policy = MAZE3D.policy(seed);
      for (let t = 0; t < 1500; t++) {
        world.step(policy.next(world));
        if (t % 5) continue;
        const s = world.state() as Record<string, any>;
        if (s.landmark) seen.add(s.landmark.name);
        expect(s.cell.x).toBe(Math.floor((world.x - 1) / 2));
        expect(s.pose.angle).toBe(world.angle);
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });
});
