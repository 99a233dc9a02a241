import { beforeAll, describe, expect, it } from "vitest";
import { hostRng, initDevice, jit, np, tree } from "../../src/core/index.js";
import { adamwInit, adamwUpdate, clipByGlobalNorm } from "../../src/nn/optim.js";
import type { AdamWState } from "../../src/nn/optim.js";
import { warmupCosine } from "../../src/nn/schedule.js";

beforeAll(async () => {
  await initDevice();
});

/** Host normal samples, rounded to float32 so JS and jax-js start from identical values. */
function randn(rng: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = Math.max(rng(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rng());
  }
  return out;
}

type Params = { w: np.Array; b: np.Array };

/** Plain float64 AdamW on flat arrays, written from the paper's algorithm. */
function refAdamW(p: Float64Array, m: Float64Array, v: Float64Array, g: Float32Array, t: number, lr: number, hp: { b1: number; b2: number; eps: number; wd: number }): void {
  for (let i = 0; i < p.length; i++) {
    m[i] = hp.b1 * m[i] + (1 - hp.b1) * g[i];
    v[i] = hp.b2 * v[i] + (1 - hp.b2) * g[i] * g[i];
    const mHat = m[i] / (1 - hp.b1 ** t);
    const vHat = v[i] / (1 - hp.b2 ** t);
    p[i] -= lr * (mHat / (Math.sqrt(vHat) + hp.eps) + hp.wd * p[i]);
  }
}

describe("AdamW", () => {
  it("matches a float64 reference over 5 steps (decay on the matrix, not the bias), eager and jitted", async () => {
    const hp = { b1: 0.9, b2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const rng = hostRng(11);
    const w0 = randn(rng, 32 * 48);
    const b0 = randn(rng, 48);
    const grads = Array.from({ length: 5 }, () => ({ w: randn(rng, 32 * 48), b: randn(rng, 48) }));
    const lrs = [1e-2, 3e-2, 2e-2, 5e-3, 1e-2];

    const ref = { w: Float64Array.from(w0), b: Float64Array.from(b0) };
    const mom = { w: new Float64Array(w0.length), b: new Float64Array(b0.length) };
    const vel = { w: new Float64Array(w0.length), b: new Float64Array(b0.length) };
    for (let s = 0; s < 5; s++) {
      refAdamW(ref.w, mom.w, vel.w, grads[s].w, s + 1, lrs[s], { ...hp, wd: hp.weightDecay });
      refAdamW(ref.b, mom.b, vel.b, grads[s].b, s + 1, lrs[s], { ...hp, wd: 0 });
    }

    const jitted = jit((g: Params, st: AdamWState<Params>, p: Params, lr: np.Array) => adamwUpdate(g, st, p, { ...hp, lr }));
    for (const mode of ["eager", "jit"] as const) {
      let params: Params = { w: np.array(w0, { shape: [32, 48] }), b: np.array(b0) };
      let state = adamwInit(tree.ref(params));
      for (let s = 0; s < 5; s++) {
        const g: Params = { w: np.array(grads[s].w, { shape: [32, 48] }), b: np.array(grads[s].b) };
        const out = mode === "jit" ? jitted(g, state, params, np.array(lrs[s])) : adamwUpdate(g, state, params, { ...hp, lr: lrs[s] });
        params = out.params;
        state = out.state;
      }
      expect(await state.count.jsAsync()).toBe(5);
      expect(Array.from(await params.w.data())).toBeAllclose(ref.w, { rtol: 1e-6, atol: 1e-7 });
      expect(Array.from(await params.b.data())).toBeAllclose(ref.b, { rtol: 1e-6, atol: 1e-7 });
      expect(Array.from(await state.m.w.data())).toBeAllclose(mom.w, { rtol: 1e-6, atol: 1e-7 });
      expect(Array.from(await state.v.b.data())).toBeAllclose(vel.b, { rtol: 1e-6, atol: 1e-7 });
      tree.dispose([state.m.b, state.v.w]); // the rest was consumed by data()
    }
    jitted.dispose();
  });

  it("decayMask (predicate or tree) chooses which leaves decay", async () => {
    // With a zero gradient the Adam part is 0/(0+eps) = 0, so only decay moves a parameter.
    const run = async (decayMask: Parameters<typeof adamwUpdate>[3]["decayMask"]) => {
      const params: Params = { w: np.ones([2, 2]), b: np.ones([2]) };
      const grads: Params = { w: np.zeros([2, 2]), b: np.zeros([2]) };
      const out = adamwUpdate(grads, adamwInit(tree.ref(params)), params, { lr: 0.5, b1: 0.9, b2: 0.99, eps: 1e-8, weightDecay: 0.1, decayMask });
      tree.dispose(out.state);
      return { w: Array.from(await out.params.w.data()), b: Array.from(await out.params.b.data()) };
    };
    const decayed = Math.fround(1 - 0.5 * 0.1);
    expect(await run(undefined)).toEqual({ w: [decayed, decayed, decayed, decayed], b: [1, 1] });
    expect(await run((path) => path === "b")).toEqual({ w: [1, 1, 1, 1], b: [decayed, decayed] });
    expect(await run({ w: true, b: true })).toEqual({ w: [decayed, decayed, decayed, decayed], b: [decayed, decayed] });
    await expect(run({ w: true } as never)).rejects.toThrow(/decayMask must be a tree of booleans/);
  });
});

describe("clipByGlobalNorm", () => {
  const grads = () => ({ a: np.array([3, 0, 0, 0]), b: [np.array([[0, 4]])] }); // global norm 5

  it("scales to exactly maxNorm when above", async () => {
    const { grads: g, norm } = clipByGlobalNorm(grads(), 1);
    expect(await norm.jsAsync()).toBe(5);
    const a = Array.from(await g.a.data(), Number);
    const b = Array.from(await g.b[0].data(), Number);
    expect(a).toBeAllclose([0.6, 0, 0, 0], { rtol: 1e-7, atol: 0 });
    expect(b).toBeAllclose([0, 0.8], { rtol: 1e-7, atol: 0 });
    expect(Math.hypot(...a, ...b)).toBeCloseTo(1, 6);
  });

  it("leaves gradients bit-identical when at or below maxNorm", async () => {
    for (const maxNorm of [5, 7.5]) {
      const { grads: g, norm } = clipByGlobalNorm(grads(), maxNorm);
      expect(await norm.jsAsync()).toBe(5);
      expect(Array.from(await g.a.data())).toEqual([3, 0, 0, 0]);
      expect(Array.from(await g.b[0].data())).toEqual([0, 4]);
    }
    const r = hostRng(5);
    const x = randn(r, 1000);
    const { grads: g, norm } = clipByGlobalNorm([np.array(x)], 1e6);
    norm.dispose();
    expect(Array.from(await g[0].data())).toEqual(Array.from(x));
  });
});

describe("warmupCosine", () => {
  it("hits init, peak, midpoint and final exactly", () => {
    const lr = warmupCosine({ peak: 3e-4, warmupSteps: 100, totalSteps: 1100, final: 3e-5 });
    expect(lr(0)).toBe(0);
    expect(lr(50)).toBe(1.5e-4);
    expect(lr(100)).toBe(3e-4);
    expect(lr(600)).toBe(3e-5 + (3e-4 - 3e-5) / 2);
    expect(lr(1100)).toBe(3e-5);
    expect(lr(5000)).toBe(3e-5);
    expect(lr(101)).toBeLessThan(3e-4);
    expect(lr(1099)).toBeGreaterThan(3e-5);
    const noWarmup = warmupCosine({ peak: 1, warmupSteps: 0, totalSteps: 10, final: 0, init: 0.5 });
    expect(noWarmup(0)).toBe(1);
    expect(noWarmup(5)).toBe(0.5);
    expect(warmupCosine({ peak: 1, warmupSteps: 4, totalSteps: 8, final: 0, init: 0.25 })(2)).toBe(0.625);
  });

  it("rejects a schedule that ends before warmup, naming the key", () => {
    expect(() => warmupCosine({ peak: 1, warmupSteps: 10, totalSteps: 5, final: 0 })).toThrow(/totalSteps/);
    expect(() => warmupCosine({ peak: Number.NaN, warmupSteps: 1, totalSteps: 5, final: 0 })).toThrow(/peak/);
  });
});
