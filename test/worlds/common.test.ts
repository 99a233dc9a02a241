import { inflateSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { crc32, encodePng } from "../../src/data/png.js";
import { WORLDS, getWorld } from "../../src/worlds/index.js";
import type { WorldFactory } from "../../src/worlds/types.js";

beforeAll(async () => {
  await initDevice();
});

/** Frames (concatenated bytes) and states of a policy rollout. */
function rollout(f: WorldFactory, seed: number, steps: number, h = 32, w = 48) {
  const world = f.create(seed);
  const policy = f.policy(seed);
  const frames: Uint8Array[] = [];
  const depths: Float32Array[] = [];
  const states: string[] = [];
  const actions: number[] = [];
  for (let t = 0; t < steps; t++) {
    const a = policy.next(world);
    world.step(a);
    actions.push(a);
    const fr = world.render(h, w);
    frames.push(fr.rgb);
    depths.push(fr.depth);
    states.push(JSON.stringify(world.state()));
  }
  return { frames, depths, states, actions };
}

describe.each(Object.keys(WORLDS))("world %s", (name) => {
  const f = getWorld(name);

  it("is deterministic from the seed: identical frames, depths and states", () => {
    const a = rollout(f, 11, 120);
    const b = rollout(f, 11, 120);
    expect(b.actions).toEqual(a.actions);
    expect(b.states).toEqual(a.states);
    for (let t = 0; t < a.frames.length; t++) {
      expect(Buffer.from(b.frames[t]).equals(Buffer.from(a.frames[t]))).toBe(true);
      expect(Buffer.from(b.depths[t].buffer).equals(Buffer.from(a.depths[t].buffer))).toBe(true);
    }
  });

  it("a different seed gives different frames and states", () => {
    const a = rollout(f, 11, 30);
    const b = rollout(f, 12, 30);
    expect(b.states).not.toEqual(a.states);
    expect(Buffer.from(b.frames[29]).equals(Buffer.from(a.frames[29]))).toBe(false);
  });

  it("renders any H×W with depth in [0, 1] and records the true action in the state", () => {
    const world = f.create(3);
    for (const [h, w] of [[64, 64], [17, 40], [48, 20]]) {
      const fr = world.render(h, w);
      expect(fr.rgb.length).toBe(h * w * 3);
      expect(fr.depth.length).toBe(h * w);
      expect(fr.depth.every((d) => d >= 0 && d <= 1)).toBe(true);
    }
    for (let a = f.info.actions.length - 1; a >= 0; a--) {
      world.step(a);
      expect(world.state().action).toBe(a);
    }
    expect(f.info.actions[0]).toBe("noop");
    expect(() => world.step(f.info.actions.length)).toThrow(/action must be an integer/);
    expect(() => world.step(0.5)).toThrow(/action must be an integer/);
  });

  it("its policy uses every action over 2,000 steps (5% each; the platformer's one-step jump taps 0.3%)", () => {
    // The platformer taps jump from the ground (platformer.ts): ~2.5% of steps press it, split over three keys.
    const least = f.info.name === "platformer" ? 6 : 100;
    for (const seed of [1, 2]) {
      const { actions } = rollout(f, seed, 2000, 8, 8);
      const counts = new Array(f.info.actions.length).fill(0);
      for (const a of actions) counts[a]++;
      for (const c of counts) expect(c).toBeGreaterThanOrEqual(least);
    }
  });

  it("holds actions for several steps (persistence)", () => {
    const { actions } = rollout(f, 5, 600, 8, 8);
    let runs = 1;
    for (let t = 1; t < actions.length; t++) if (actions[t] !== actions[t - 1]) runs++;
    expect(actions.length / runs).toBeGreaterThan(2.5);
  });
});

describe("registry", () => {
  it("has the three worlds and names the known ones for an unknown name", () => {
    expect(Object.keys(WORLDS).sort()).toEqual(["bounce", "maze3d", "platformer"]);
    for (const [k, f] of Object.entries(WORLDS)) expect(f.info.name).toBe(k);
    expect(() => getWorld("pong")).toThrow(/unknown world "pong"; known worlds: platformer, maze3d, bounce/);
    expect(() => getWorld("toString")).toThrow(/unknown world/);
  });
});

describe("png", () => {
  it("encodes RGB and RGBA that inflate back to the pixels, with valid chunk CRCs", () => {
    for (const channels of [3, 4] as const) {
      const w = 5;
      const h = 3;
      const px = new Uint8Array(w * h * channels).map((_, i) => (i * 37) & 255);
      const png = encodePng(px, w, h, channels);
      expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
      const chunks: Record<string, Uint8Array> = {};
      for (let o = 8; o < png.length; ) {
        const len = view.getUint32(o);
        const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
        expect(view.getUint32(o + 8 + len)).toBe(crc32(png.subarray(o + 4, o + 8 + len)));
        chunks[type] = png.subarray(o + 8, o + 8 + len);
        o += 12 + len;
      }
      expect(Object.keys(chunks)).toEqual(["IHDR", "IDAT", "IEND"]);
      const ihdr = new DataView(chunks.IHDR.buffer, chunks.IHDR.byteOffset);
      expect([ihdr.getUint32(0), ihdr.getUint32(4), chunks.IHDR[8], chunks.IHDR[9]]).toEqual([w, h, 8, channels === 3 ? 2 : 6]);
      const raw = inflateSync(chunks.IDAT);
      expect(raw.length).toBe(h * (w * channels + 1));
      for (let y = 0; y < h; y++) {
        expect(raw[y * (w * channels + 1)]).toBe(0);
        expect(Array.from(raw.subarray(y * (w * channels + 1) + 1, (y + 1) * (w * channels + 1)))).toEqual(
          Array.from(px.subarray(y * w * channels, (y + 1) * w * channels)),
        );
      }
    }
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(() => encodePng(new Uint8Array(10), 2, 2)).toThrow(/expected 2×2×3 = 12 bytes, got 10/);
  });
});
