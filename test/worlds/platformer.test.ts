import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { generateDataset } from "../../src/data/generate.js";
import { initDevice } from "../../src/core/index.js";
import { PLATFORMER_THEMES } from "../../src/worlds/palette.js";
import { PLAYER_W, VIEW_H, type Solid } from "../../src/worlds/platformer-level.js";
import { JUMP_SPEED, MAX_FALL, PLATFORMER, PLATFORMER_GRAVITY, PlatformerWorld } from "../../src/worlds/platformer.js";

beforeAll(async () => {
  await initDevice();
});

const NOOP = 0;
const RIGHT = 2;
const JUMP = 3;

/** Ground blocks sorted by x, from the generated level. */
function grounds(world: PlatformerWorld): Solid[] {
  return world.level.solids.filter((s) => s.kind === "ground").sort((a, b) => a.x0 - b.x0);
}

/** No solid at all (ground or platform) anywhere over [x0, x1]. */
function clearColumn(world: PlatformerWorld, x0: number, x1: number): boolean {
  return world.level.solids.every((s) => s.x1 <= x0 || s.x0 >= x1);
}

describe("platformer physics", () => {
  it("a jump follows a parabola: second differences of y equal gravity until the fall cap", () => {
    for (const held of [NOOP, JUMP]) {
      const world = new PlatformerWorld(4);
      world.step(NOOP);
      expect(world.onGround).toBe(true);
      const y0 = world.y;
      const ys = [y0];
      world.step(JUMP);
      ys.push(world.y);
      // Holding jump in the air must not jump again: the flight is the same as with noop.
      while (!world.onGround && ys.length < 100) {
        world.step(held);
        ys.push(world.y);
      }
      expect(world.onGround).toBe(true);
      expect(world.y).toBe(y0);
      expect(ys.length).toBeGreaterThan(25);
      expect(ys[1] - ys[0]).toBeCloseTo(-JUMP_SPEED + PLATFORMER_GRAVITY, 12);
      let checked = 0;
      for (let t = 2; t < ys.length - 1; t++) {
        const vy = ys[t] - ys[t - 1];
        if (vy + PLATFORMER_GRAVITY > MAX_FALL) break; // the cap takes over from here
        expect(ys[t] - 2 * ys[t - 1] + ys[t - 2]).toBeCloseTo(PLATFORMER_GRAVITY, 9);
        checked++;
      }
      expect(checked).toBeGreaterThan(20);
      const apex = y0 - Math.min(...ys);
      // Discrete apex: sum of (JUMP_SPEED - k·g) while positive.
      let expected = 0;
      for (let v = JUMP_SPEED - PLATFORMER_GRAVITY; v > 0; v -= PLATFORMER_GRAVITY) expected += v;
      expect(apex).toBeCloseTo(expected, 9);
    }
  });

  it("policies: the default taps jump only from the ground (every press launches); 'holds' keeps it down in the air too", async () => {
    const pressed = (policy: (seed: number) => { next(w: PlatformerWorld): number }) => {
      let presses = 0;
      let inAir = 0;
      for (let seed = 0; seed < 4; seed++) {
        const w = new PlatformerWorld(seed);
        const p = policy(seed + 9);
        for (let t = 0; t < 500; t++) {
          const a = p.next(w);
          if (a >= 3) {
            presses++;
            if (!w.onGround) inAir++;
          }
          w.step(a);
        }
      }
      return { presses, inAir };
    };
    const taps = pressed(PLATFORMER.policy);
    expect(taps.presses).toBeGreaterThan(20);
    expect(taps.inAir).toBe(0);
    const holds = pressed(PLATFORMER.policies!.holds);
    expect(holds.inAir).toBeGreaterThan(holds.presses / 2);
    expect(PLATFORMER.policies!.taps).toBe(PLATFORMER.policy);
    // `data generate --policy`: a name the world does not have is refused before anything is written.
    const out = join(tmpdir(), `wk-policy-${process.pid}`);
    await expect(generateDataset({ world: PLATFORMER, episodes: 1, frames: 2, size: [16, 16], seed: 0, out, policy: "hold" })).rejects.toThrow(/platformer has no policy "hold" \(it has: taps, holds\)/);
    expect(existsSync(out)).toBe(false);
  });

  it("shows a held jump key as a pose: same physics in the air, different pixels", () => {
    const a = new PlatformerWorld(4);
    const b = new PlatformerWorld(4);
    for (const w of [a, b]) {
      w.step(NOOP);
      w.step(JUMP);
      w.step(NOOP);
    }
    a.step(NOOP);
    b.step(JUMP);
    expect(b.onGround).toBe(false);
    expect([b.x, b.y, b.vy]).toEqual([a.x, a.y, a.vy]);
    expect(b.jumpHeld).toBe(true);
    expect(a.jumpHeld).toBe(false);
    const fa = a.render(64, 64).rgb;
    const fb = b.render(64, 64).rgb;
    let changed = 0;
    for (let i = 0; i < fa.length; i += 3) if (fa[i] !== fb[i] || fa[i + 1] !== fb[i + 1] || fa[i + 2] !== fb[i + 2]) changed++;
    expect(changed).toBeGreaterThanOrEqual(8);
    expect(changed).toBeLessThan(60);
  });

  it("falls where there is no ground, at capped speed, then respawns on solid ground", () => {
    const world = new PlatformerWorld(9);
    world.level.ensure(200);
    const gs = grounds(world);
    const gapAt = gs.findIndex((g, i) => i > 0 && g.x0 - gs[i - 1].x1 >= 2 && clearColumn(world, gs[i - 1].x1, g.x0));
    expect(gapAt).toBeGreaterThan(0);
    const x = (gs[gapAt - 1].x1 + gs[gapAt].x0) / 2;
    world.placePlayer(x, 6);
    let vy = 0;
    let fell = false;
    for (let t = 0; t < 60 && !fell; t++) {
      const y = world.y;
      world.step(NOOP);
      if (world.falls > 0) {
        fell = true;
        break;
      }
      expect(world.onGround).toBe(false);
      expect(world.x).toBe(x);
      expect(world.vy).toBeCloseTo(Math.min(vy + PLATFORMER_GRAVITY, MAX_FALL), 12);
      expect(world.y - y).toBeCloseTo(world.vy, 12);
      vy = world.vy;
    }
    expect(fell).toBe(true);
    expect(world.onGround).toBe(true);
    expect(world.level.solids.some((s) => s.y0 === world.y && s.x0 <= world.x && world.x <= s.x1)).toBe(true);
  });

  it("walking off a ledge starts a fall", () => {
    const world = new PlatformerWorld(9);
    world.level.ensure(200);
    const gs = grounds(world);
    const i = gs.findIndex((g, k) => k < gs.length - 1 && gs[k + 1].x0 - g.x1 >= 2 && clearColumn(world, g.x1, gs[k + 1].x0));
    const ledge = gs[i];
    world.placePlayer(ledge.x1 - 1, ledge.y0);
    world.step(NOOP);
    expect(world.onGround).toBe(true);
    let leftGroundAt = -1;
    for (let t = 0; t < 20; t++) {
      world.step(RIGHT);
      if (!world.onGround && leftGroundAt < 0) leftGroundAt = world.x;
    }
    expect(leftGroundAt).toBeGreaterThanOrEqual(ledge.x1 + PLAYER_W / 2);
    expect(world.y).toBeGreaterThan(ledge.y0 + 0.5);
  });

  it("stops at the side of a step up (side collision)", () => {
    const world = new PlatformerWorld(9);
    world.level.ensure(400);
    const gs = grounds(world);
    const i = gs.findIndex((g, k) => k > 0 && g.x0 === gs[k - 1].x1 && g.y0 < gs[k - 1].y0);
    expect(i).toBeGreaterThan(0);
    const low = gs[i - 1];
    world.placePlayer(low.x1 - 1.5, low.y0);
    for (let t = 0; t < 30; t++) world.step(RIGHT);
    expect(world.x).toBeCloseTo(gs[i].x0 - PLAYER_W / 2, 12);
    expect(world.onGround).toBe(true);
    expect(world.y).toBe(low.y0);
  });

  it("collects a coin on touch: it is marked, scored and no longer drawn", () => {
    const world = new PlatformerWorld(2);
    const coin = world.level.coins[0];
    const count = (rgb: Uint8Array) => {
      let n = 0;
      const c = world.theme.coin;
      for (let i = 0; i < rgb.length; i += 3) if (rgb[i] === c >> 16 && rgb[i + 1] === ((c >> 8) & 255) && rgb[i + 2] === (c & 255)) n++;
      return n;
    };
    world.placePlayer(coin.x - 3, coin.y + 0.5);
    const before = count(world.render(96, 96).rgb);
    expect(before).toBeGreaterThan(0);
    world.placePlayer(coin.x, coin.y + 0.5);
    world.step(NOOP);
    expect(coin.collected).toBe(true);
    expect(world.score).toBeGreaterThanOrEqual(1);
    expect(world.state().coinsCollected).toBe(world.coinsCollected);
    world.placePlayer(coin.x - 3, coin.y + 0.5);
    expect(count(world.render(96, 96).rgb)).toBeLessThan(before);
  });

  it("enemies patrol within their range", () => {
    const world = new PlatformerWorld(21);
    world.level.ensure(300);
    const enemies = world.level.enemies;
    expect(enemies.length).toBeGreaterThan(0);
    const xs = enemies.map((e) => e.x);
    for (let t = 0; t < 400; t++) world.level.stepEnemies();
    enemies.forEach((e, k) => {
      expect(e.x).toBeGreaterThanOrEqual(e.x0);
      expect(e.x).toBeLessThanOrEqual(e.x1);
      expect(e.x).not.toBe(xs[k]);
    });
  });
});

describe("platformer rendering and state", () => {
  it("draws the player as a visible sprite at depth 0.3 in every theme, with layered depth", () => {
    const names = new Set<string>();
    for (let seed = 0; seed < 60; seed++) {
      const world = new PlatformerWorld(seed);
      names.add(world.theme.name);
      const fr = world.render(64, 64);
      const s = 64 / VIEW_H;
      const px = (world.x - world.cameraX) * s;
      const py = world.y * s;
      let sprite = 0;
      let body = 0;
      const box = [64, 64, -1, -1];
      for (let i = 0; i < 64 * 64; i++) {
        const [x, y] = [i % 64, Math.floor(i / 64)];
        if (Math.abs(fr.depth[i] - 0.3) < 1e-6 && Math.abs(x + 0.5 - px) < 4 && y < py + 1 && y > py - 9) {
          sprite++;
          box[0] = Math.min(box[0], x);
          box[1] = Math.min(box[1], y);
          box[2] = Math.max(box[2], x);
          box[3] = Math.max(box[3], y);
        }
        const c = world.theme.player;
        if (fr.rgb[i * 3] === c >> 16 && fr.rgb[i * 3 + 1] === ((c >> 8) & 255) && fr.rgb[i * 3 + 2] === (c & 255)) body++;
      }
      // About 5 px wide and 6–7 px tall at 64×64.
      expect(box[2] - box[0] + 1).toBeGreaterThanOrEqual(4);
      expect(box[2] - box[0] + 1).toBeLessThanOrEqual(6);
      expect(box[3] - box[1] + 1).toBeGreaterThanOrEqual(6);
      expect(sprite).toBeGreaterThanOrEqual(15);
      expect(body).toBeGreaterThanOrEqual(8);
      const layers = new Set(Array.from(fr.depth, (d) => Math.round(d * 10) / 10));
      expect([...layers].sort()).toEqual([0.3, 0.4, 0.7, 1]);
    }
    expect(names.size).toBeGreaterThanOrEqual(5);
    expect(PLATFORMER_THEMES.length).toBeGreaterThanOrEqual(5);
  });

  it("reports the state fields captions and evaluation need", () => {
    const world = new PlatformerWorld(1);
    for (let t = 0; t < 50; t++) world.step(RIGHT);
    const s = world.state() as Record<string, any>;
    expect(PLATFORMER_THEMES.map((t) => t.name)).toContain(s.theme);
    expect(Object.keys(s.player).sort()).toEqual(["facing", "onGround", "vx", "vy", "x", "y"]);
    expect(s.player.x).toBe(world.x);
    expect(s.cameraX).toBeCloseTo(world.x - 0.35 * VIEW_H, 12);
    expect(s.step).toBe(50);
    expect(Array.isArray(s.coins) && Array.isArray(s.enemies)).toBe(true);
    expect(typeof s.visible.gapAhead).toBe("boolean");
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });
});
