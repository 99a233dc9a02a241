/**
 * A tiny deterministic world for the data pipeline tests, so they do not depend on the real
 * worlds: a coloured square moves on a gradient; depth grows with the column.
 */
import { hostRng } from "../../src/core/keys.js";
import type { Frame, Policy, World, WorldFactory, WorldInfo } from "../../src/worlds/types.js";

const INFO: WorldInfo = { name: "fake", actions: ["noop", "left", "right"], depthFar: "the far column" };

class FakeWorld implements World {
  readonly info = INFO;
  x: number;
  readonly hue: number;
  t = 0;
  constructor(seed: number) {
    const r = hostRng(seed);
    this.x = Math.floor(r() * 1000);
    this.hue = Math.floor(r() * 256);
  }
  step(action: number): void {
    this.x += action === 1 ? -1 : action === 2 ? 1 : 0;
    this.t++;
  }
  render(H: number, W: number): Frame {
    const rgb = new Uint8Array(H * W * 3);
    const depth = new Float32Array(H * W);
    const sq = ((this.x % W) + W) % W;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x;
        const inSquare = Math.abs(x - sq) < 3 && Math.abs(y - H / 2) < 3;
        rgb[p * 3] = inSquare ? 255 : (x * 7 + this.t) & 255;
        rgb[p * 3 + 1] = inSquare ? 40 : (y * 5) & 255;
        rgb[p * 3 + 2] = this.hue;
        depth[p] = inSquare ? 0.1 : x / Math.max(1, W - 1);
      }
    }
    return { rgb, depth };
  }
  state(): Record<string, unknown> {
    return { x: this.x, t: this.t };
  }
}

export const fakeWorld: WorldFactory = {
  info: INFO,
  create: (seed) => new FakeWorld(seed),
  policy(seed): Policy {
    const r = hostRng(seed);
    return { next: () => Math.floor(r() * 3) };
  },
};
