import { beforeAll, describe, expect, it } from "vitest";
import { blockUntilReady, initDevice, makeJaxpr, makeKey, np, tree } from "../../src/core/index.js";
import { startLeakCount } from "../../src/core/leaks.js";
import { embed, initEmbedding, unembed } from "../../src/nn/embedding.js";
import { initLinear, linear } from "../../src/nn/linear.js";
import type { LinearParams } from "../../src/nn/linear.js";
import { initMLP, mlp } from "../../src/nn/mlp.js";
import type { MLPParams } from "../../src/nn/mlp.js";
import { initLayerNorm, initRMSNorm, layerNorm, norm, rmsNorm } from "../../src/nn/norm.js";
import type { LayerNormParams, RMSNormParams } from "../../src/nn/norm.js";
import {
  addPositions,
  applyRope,
  initLearnedPositions,
  learnedPositions,
  sinusoidalPositions,
} from "../../src/nn/position.js";
import { expectGradOk, expectNoLeaks, host, maxAbsDiff, randn } from "./util.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

describe("Linear", () => {
  it("computes x W + b over any leading dims", async () => {
    const p = initLinear(makeKey(1), { inDim: 5, outDim: 3 });
    p.b = randn(2, [3]);
    const x = randn(3, [2, 4, 5]);
    const [w, b, xs] = [await host(p.w.ref), await host(p.b.ref), await host(x.ref)];
    const y = linear(p, x);
    expect(y.shape).toEqual([2, 4, 3]);
    const want = new Float32Array(2 * 4 * 3);
    for (let r = 0; r < 8; r++)
      for (let o = 0; o < 3; o++) {
        let s = b[o];
        for (let i = 0; i < 5; i++) s += xs[r * 5 + i] * w[i * 3 + o];
        want[r * 3 + o] = s;
      }
    expect(maxAbsDiff(await host(y), want)).toBeLessThan(1e-5);
  });

  it("is deterministic from its key, scaled by fan-in, with a zero bias unless bias: false", async () => {
    const a = initLinear(makeKey(7), { inDim: 256, outDim: 64 });
    const b = initLinear(makeKey(7), { inDim: 256, outDim: 64 });
    const c = initLinear(makeKey(8), { inDim: 256, outDim: 64 });
    const wa = await host(a.w);
    expect(wa).toEqual(await host(b.w));
    expect(wa).not.toEqual(await host(c.w));
    let ss = 0;
    let maxAbs = 0;
    for (const v of wa) {
      ss += v * v;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    const std = Math.sqrt(ss / wa.length);
    expect(std).toBeGreaterThan(0.9 / 16);
    expect(std).toBeLessThan(1.1 / 16);
    expect(maxAbs).toBeLessThanOrEqual((2 / 0.8796256610342398 / 16) * 1.0001); // truncated at 2 sigma
    expect(Array.from(await host(a.b!))).toEqual(new Array(64).fill(0));
    tree.dispose([b.b, c.b]);
    const u = initLinear(makeKey(7), { inDim: 16, outDim: 4, bias: false, init: "uniform" });
    expect(u.b).toBeUndefined();
    for (const v of await host(u.w)) expect(Math.abs(v)).toBeLessThanOrEqual(0.25);
  });

  it("gradient matches finite differences (weights, bias and input)", async () => {
    const p = initLinear(makeKey(1), { inDim: 6, outDim: 4 });
    p.b = randn(5, [4]);
    await expectGradOk((t: { p: LinearParams; x: np.Array }) => linear(t.p, t.x), { p, x: randn(2, [3, 6]) });
  });

  it("leaks nothing over 20 apply + grad calls, and traces with makeJaxpr", async () => {
    const p = initLinear(makeKey(1), { inDim: 6, outDim: 4 });
    const x = randn(2, [3, 6]);
    await expectNoLeaks(linear, () => [tree.ref(p), x.ref]);
    const { jaxpr } = makeJaxpr(linear)(tree.ref(p), x.ref);
    expect(jaxpr.toString()).toContain("dot");
    jaxpr.dispose();
    tree.dispose({ p, x });
  });
});

describe("Embedding", () => {
  it("looks up rows for int32 ids of any shape", async () => {
    const p = initEmbedding(makeKey(3), { count: 10, dim: 4 });
    const table = await host(p.table.ref);
    const ids = np.array([[[1, 9]], [[0, 1]]], { dtype: np.int32 }); // (2, 1, 2)
    const y = embed(p, ids);
    expect(y.shape).toEqual([2, 1, 2, 4]);
    const got = await host(y);
    [1, 9, 0, 1].forEach((id, i) => expect(Array.from(got.slice(i * 4, i * 4 + 4))).toEqual(Array.from(table.slice(id * 4, id * 4 + 4))));
  });

  it("unembed gives logits against every row", async () => {
    const p = initEmbedding(makeKey(3), { count: 10, dim: 4 });
    const x = randn(4, [2, 3, 4]);
    expect(unembed(p, x).shape).toEqual([2, 3, 10]);
  });

  it("gradient w.r.t. the table matches finite differences", async () => {
    const ids = np.array([[0, 3, 3], [5, 1, 0]], { dtype: np.int32 });
    await expectGradOk(
      (t: { p: { table: np.Array }; ids: np.Array }) => embed(t.p, t.ids),
      { p: initEmbedding(makeKey(4), { count: 6, dim: 5 }), ids },
    );
  });

  it("leaks nothing over 20 apply + grad calls", async () => {
    const p = initEmbedding(makeKey(4), { count: 6, dim: 5 });
    const ids = np.array([[0, 3, 3], [5, 1, 0]], { dtype: np.int32 });
    await expectNoLeaks(embed, () => [tree.ref(p), ids.ref]);
    tree.dispose({ p, ids });
  });
});

describe("LayerNorm and RMSNorm", () => {
  it("LayerNorm gives zero mean and unit variance per row, then scale and bias", async () => {
    const x = randn(1, [3, 7, 32], 3);
    const y = await host(layerNorm(initLayerNorm({ dim: 32 }), x.add(5)));
    for (let r = 0; r < 21; r++) {
      const row = y.slice(r * 32, r * 32 + 32);
      const mean = row.reduce((a, b) => a + b, 0) / 32;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 32;
      expect(Math.abs(mean)).toBeLessThan(1e-5);
      expect(Math.abs(variance - 1)).toBeLessThan(1e-3);
    }
  });

  it("RMSNorm gives unit mean square per row", async () => {
    const y = await host(rmsNorm(initRMSNorm({ dim: 16 }), randn(2, [5, 16], 4)));
    for (let r = 0; r < 5; r++) {
      const ms = y.slice(r * 16, r * 16 + 16).reduce((a, b) => a + b * b, 0) / 16;
      expect(Math.abs(ms - 1)).toBeLessThan(1e-4);
    }
  });

  it("norm() dispatches on the parameters", async () => {
    const x = randn(3, [4, 8]);
    const a = await host(norm(initLayerNorm({ dim: 8 }), x.ref));
    const b = await host(layerNorm(initLayerNorm({ dim: 8 }), x.ref));
    const c = await host(norm(initRMSNorm({ dim: 8 }), x.ref));
    const d = await host(rmsNorm(initRMSNorm({ dim: 8 }), x));
    expect(a).toEqual(b);
    expect(c).toEqual(d);
  });

  it("gradients match finite differences", async () => {
    const ln = { scale: randn(4, [8], 0.3).add(1), bias: randn(5, [8], 0.3) };
    await expectGradOk((t: { p: LayerNormParams; x: np.Array }) => layerNorm(t.p, t.x), { p: ln, x: randn(6, [3, 8]) });
    const rms = { scale: randn(7, [8], 0.3).add(1) };
    await expectGradOk((t: { p: RMSNormParams; x: np.Array }) => rmsNorm(t.p, t.x), { p: rms, x: randn(8, [3, 8]) });
  });

  it("leak nothing over 20 apply + grad calls", async () => {
    const ln = initLayerNorm({ dim: 8 });
    const rms = initRMSNorm({ dim: 8 });
    const x = randn(6, [3, 8]);
    await expectNoLeaks((p: LayerNormParams, xx: np.Array) => layerNorm(p, xx), () => [tree.ref(ln), x.ref]);
    await expectNoLeaks((p: RMSNormParams, xx: np.Array) => rmsNorm(p, xx), () => [tree.ref(rms), x.ref]);
    tree.dispose({ ln, rms, x });
  });
});

describe("MLP", () => {
  for (const kind of ["gelu", "swiglu"] as const) {
    it(`${kind}: shape, gradient check, no leaks, traceable`, async () => {
      const p = initMLP(makeKey(11), { dim: 6, hidden: 10, kind });
      expect(kind === "swiglu" ? "gateUp" in p : "up" in p).toBe(true);
      const x = randn(12, [2, 3, 6]);
      await blockUntilReady({ p, x });
      expect(mlp(tree.ref(p), x.ref).shape).toEqual([2, 3, 6]);
      await expectGradOk((t: { p: MLPParams; x: np.Array }) => mlp(t.p, t.x), { p: tree.ref(p), x: x.ref });
      await expectNoLeaks(mlp, () => [tree.ref(p), x.ref]);
      const { jaxpr } = makeJaxpr(mlp)(tree.ref(p), x.ref);
      jaxpr.dispose();
      tree.dispose({ p, x });
    });
  }

  it("rejects an unknown kind", () => {
    expect(() => initMLP(makeKey(1), { dim: 4, hidden: 4, kind: "relu" as never })).toThrow(/unknown kind/);
  });
});

describe("positions", () => {
  it("sinusoidal table: sin and cos halves, offset shifts positions", async () => {
    const t = await host(sinusoidalPositions(5, 8));
    expect(t[0]).toBe(0); // sin(0)
    expect(t[4]).toBe(1); // cos(0)
    expect(t[8 + 0]).toBeCloseTo(Math.sin(1), 6);
    expect(t[8 + 4]).toBeCloseTo(Math.cos(1), 6);
    const shifted = await host(sinusoidalPositions(2, 8, { offset: 3 }));
    expect(maxAbsDiff(shifted, t.slice(24, 40))).toBeLessThan(1e-6);
  });

  it("learned positions slice a table and add along an axis", async () => {
    const p = initLearnedPositions(makeKey(2), { count: 6, dim: 4 });
    const table = await host(p.table.ref);
    const rows = await host(learnedPositions(tree.ref(p), 2, 3));
    expect(Array.from(rows)).toEqual(Array.from(table.slice(12, 20)));
    expect(() => learnedPositions(tree.ref(p), 4, 3)).toThrow(/outside/);
    const x = np.zeros([2, 3, 6, 4]); // B, T, N, D: positions over N
    const y = await host(addPositions(x, learnedPositions(p, 6), 2));
    expect(Array.from(y.slice(0, 24))).toEqual(Array.from(table));
    expect(Array.from(y.slice(24 * 5, 24 * 6))).toEqual(Array.from(table));
  });

  it("RoPE keeps norms and makes q·k depend only on the distance", async () => {
    const q = randn(1, [1, 8]); // one head vector, repeated at several positions
    const k = randn(2, [1, 8]);
    const qs = await host(applyRope(np.tile(q.ref, [6, 1]), 0)); // positions 0..5
    const ks = await host(applyRope(np.tile(k.ref, [6, 1]), 0));
    const dot = (i: number, j: number) => {
      let s = 0;
      for (let d = 0; d < 8; d++) s += qs[i * 8 + d] * ks[j * 8 + d];
      return s;
    };
    expect(dot(3, 1)).toBeCloseTo(dot(5, 3), 5);
    expect(dot(2, 2)).toBeCloseTo(dot(0, 0), 5);
    const q0 = await host(q);
    const n0 = q0.reduce((a, b) => a + b * b, 0);
    const n4 = qs.slice(32, 40).reduce((a, b) => a + b * b, 0);
    expect(n4).toBeCloseTo(n0, 4);
    // A start offset is the same as slicing a longer rotation.
    const tail = await host(applyRope(np.tile(k, [2, 1]), 4));
    expect(maxAbsDiff(tail, ks.slice(32, 48))).toBeLessThan(1e-6);
  });
});
