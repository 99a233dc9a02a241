import { describe, expect, it } from "vitest";
import { effectiveAction, hasEffectiveActions } from "../../src/worlds/effective.js";
import { getWorld } from "../../src/worlds/index.js";
import type { WorldState } from "../../src/worlds/types.js";

/**
 * Run a world's own policy and return (action, state before, state after) triples. `override`
 * may replace the policy's action at step i (to press keys the policy would not, e.g. a jump held
 * in the air).
 */
function transitions(name: string, seed: number, steps: number, override?: (i: number, a: number) => number): { a: number; s0: WorldState; s1: WorldState }[] {
  const f = getWorld(name);
  const w = f.create(seed);
  const policy = f.policy(seed + 1);
  const out = [];
  let s0 = w.state();
  for (let i = 0; i < steps; i++) {
    const p = policy.next(w);
    const a = override ? override(i, p) : p;
    w.step(a);
    const s1 = w.state();
    out.push({ a, s0, s1 });
    s0 = s1;
  }
  return out;
}

describe("effective actions", () => {
  it("platformer: a jump counts only when it launches from the ground; a move only when the player moved that way", () => {
    // The policy only taps jump on the ground; hold it 6 of every 20 steps too, so keys held in the air occur.
    const ts = transitions("platformer", 5, 600, (i, a) => (i % 20 < 6 ? [3, 4, 5, 3, 4, 5][a] : a));
    let launches = 0;
    let airJumps = 0;
    for (const { a, s0, s1 } of ts) {
      const e = effectiveAction(a, s0, s1);
      const p0 = s0.player as { x: number; onGround: boolean };
      const p1 = s1.player as { x: number; vy: number };
      const jumped = e >= 3;
      if (jumped) {
        launches++;
        expect(p0.onGround).toBe(true);
        expect(p1.vy).toBeLessThan(0); // rising after the launch
      } else if (a >= 3) {
        airJumps++;
        expect(p0.onGround).toBe(false);
      }
      const dir = [0, -1, 1, 0, -1, 1];
      if (dir[e] !== 0) expect(Math.sign(p1.x - p0.x)).toBe(dir[e]);
      // Never invents an action: the effective one drops parts of the key, never adds any.
      if (dir[e] !== 0) expect(dir[a]).toBe(dir[e]);
      if (jumped) expect(a).toBeGreaterThanOrEqual(3);
    }
    expect(launches).toBeGreaterThan(5);
    expect(airJumps).toBeGreaterThan(5);
  });

  it("maze3d: a move into a wall is no move; turns always turn", () => {
    const ts = transitions("maze3d", 3, 400);
    for (const { a, s0, s1 } of ts) {
      const e = effectiveAction(a, s0, s1);
      const p0 = s0.pose as { x: number; y: number; heading: number };
      const p1 = s1.pose as { x: number; y: number; heading: number };
      if (a === 1 || a === 2) {
        const moved = p0.x !== p1.x || p0.y !== p1.y;
        expect(e).toBe(moved ? a : 0);
      }
      if (a === 3 || a === 4) expect(e).toBe(a);
      if (a === 0) expect(e).toBe(0);
    }
  });

  it("knows platformer, maze3d and bounce, and names an unknown world", () => {
    expect(["platformer", "maze3d", "bounce"].every(hasEffectiveActions)).toBe(true);
    expect(hasEffectiveActions("video")).toBe(false);
    const s = { world: "video" } as WorldState;
    expect(() => effectiveAction(0, s, s)).toThrow(/no rule for world "video"/);
  });
});
