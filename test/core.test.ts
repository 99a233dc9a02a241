import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, np, random, splitKey, hostRng, jit, valueAndGrad, wasmThreads } from "../src/core/index.js";
import { countLeaks, liveBuffers, startLeakCount } from "../src/core/leaks.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

describe("core", () => {
  it("runs on wasm with the thread pool in Node", async () => {
    const info = await initDevice();
    expect(info.device).toBe("wasm");
    expect(wasmThreads()).toBeGreaterThanOrEqual(1);
  });

  it("same seed gives the same random numbers, a different seed different ones", async () => {
    const draw = async (seed: number) => Array.from(await random.uniform(makeKey(seed), [8]).data());
    const a = await draw(7);
    const b = await draw(7);
    const c = await draw(8);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const [k1, k2] = splitKey(makeKey(1));
    const u1 = Array.from(await random.uniform(k1, [4]).data());
    const u2 = Array.from(await random.uniform(k2, [4]).data());
    expect(u1).not.toEqual(u2);
    const r1 = hostRng(3);
    const r2 = hostRng(3);
    expect([r1(), r1()]).toEqual([r2(), r2()]);
  });

  it("leak count sees a leaked array and a clean function", async () => {
    const leaked = await countLeaks(async () => {
      const x = np.array(new Float32Array(4096));
      const y = x.ref.mul(2);
      x.dispose();
      await y.blockUntilReady(); // realized but never disposed: a leak
    });
    expect(leaked).toBe(1);
    const clean = await countLeaks(async () => {
      const f = jit((x: np.Array) => x.mul(3).sum());
      for (let i = 0; i < 5; i++) {
        const [v, g] = valueAndGrad((x: np.Array) => f(x))(np.ones([32]));
        await v.data();
        await g.data();
      }
      f.dispose();
    });
    expect(clean).toBe(0);
    expect(liveBuffers()).toBeGreaterThanOrEqual(1);
  });
});
