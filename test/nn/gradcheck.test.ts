import { beforeAll, describe, expect, it } from "vitest";
import { blockUntilReady, initDevice, lax, np, tree } from "../../src/core/index.js";
import { countLeaks, startLeakCount } from "../../src/core/leaks.js";
import { formatGradCheck, gradCheck, leafPaths } from "../../src/nn/gradcheck.js";
import { randn } from "./util.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

type T = { w: np.Array; x: np.Array; R: np.Array };
const smooth = (t: T) => np.tanh(np.matmul(t.x, t.w)).mul(t.R).sum();

describe("gradCheck", () => {
  it("agrees with grad on a smooth function (float32, rel. error < 1e-3)", async () => {
    const r = await gradCheck(smooth, { w: randn(1, [16, 8], 0.25), x: randn(2, [4, 16]), R: randn(3, [4, 8]) }, { seed: 1 });
    expect(r.maxRelError, formatGradCheck(r)).toBeLessThan(1e-3);
    // One direction and `coords` coordinates per leaf.
    expect(r.details.filter((d) => d.kind === "direction").map((d) => d.path)).toEqual(["w", "x", "R"]);
    expect(r.details.filter((d) => d.kind === "coord").length).toBe(12);
    expect(Number.isFinite(r.value)).toBe(true);
  });

  it("catches a wrong gradient", async () => {
    // stopGradient hides half of d/dx [x · sin x]: grad says sin x, the truth is sin x + x cos x.
    const wrong = (t: { x: np.Array }) => t.x.ref.mul(lax.stopGradient(np.sin(t.x))).sum();
    const r = await gradCheck(wrong, { x: randn(4, [10]) });
    expect(r.maxRelError).toBeGreaterThan(0.1);
    expect(r.worst?.path).toBe("x");
  });

  it("works without jit, on nested trees, skipping integer leaves", async () => {
    const f = (t: { layer: { w: np.Array }; ids: np.Array }) => np.take(t.layer.w.ref, t.ids, 0).mul(t.layer.w.sum()).sum();
    const t = { layer: { w: randn(5, [6, 3]) }, ids: np.array([0, 2, 2, 5], { dtype: np.int32 }) };
    expect(leafPaths(t)).toEqual(["layer.w", "ids"]);
    const r = await gradCheck(f, t, { jit: false, coords: 2 });
    expect(new Set(r.details.map((d) => d.path))).toEqual(new Set(["layer.w"]));
    expect(r.maxRelError, formatGradCheck(r)).toBeLessThan(1e-3);
  });

  it("is deterministic from its seed and leaves no buffers behind", async () => {
    const w = randn(1, [16, 8], 0.25);
    const x = randn(2, [4, 16]);
    const R = randn(3, [4, 8]);
    await blockUntilReady({ w, x, R }); // realize the inputs first: pending work holds buffers
    const leaked = await countLeaks(async () => {
      const a = await gradCheck(smooth, { w: w.ref, x: x.ref, R: R.ref }, { seed: 7, coords: 2 });
      const b = await gradCheck(smooth, { w: w.ref, x: x.ref, R: R.ref }, { seed: 7, coords: 2 });
      expect(a.details).toEqual(b.details);
    });
    expect(leaked).toBe(0);
    tree.dispose({ w, x, R });
  });
});
