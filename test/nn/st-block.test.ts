import { beforeAll, describe, expect, it } from "vitest";
import { blockUntilReady, initDevice, jit, makeJaxpr, makeKey, np, tree } from "../../src/core/index.js";
import { startLeakCount } from "../../src/core/leaks.js";
import { trimCache } from "../../src/nn/attention.js";
import type { KVCache } from "../../src/nn/attention.js";
import { initSTBlock, initSTStack, prepareStackCaches, stBlock, stBlockStep, stStack, stStackStep } from "../../src/nn/st-block.js";
import type { STBlockConfig, STBlockParams, STStackParams } from "../../src/nn/st-block.js";
import { expectGradOk, expectNoLeaks, host, maxAbsDiff, randn } from "./util.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

const B = 2;
const T = 4;
const N = 3;
const D = 16;
const cfg: STBlockConfig = { dim: D, heads: 4, mlpHidden: 32 };

/** Frame t of x_BTND (host copy of the array), as (B, N, D) flat. */
function frame(xs: Float32Array, t: number, frames = T): Float32Array {
  const out = new Float32Array(B * N * D);
  for (let b = 0; b < B; b++) out.set(xs.slice((b * frames + t) * N * D, (b * frames + t + 1) * N * D), b * N * D);
  return out;
}

/** x_BTND with frame t replaced by other values. */
function replaceFrame(x: np.Array, t: number, seed: number): np.Array {
  const parts = [];
  if (t > 0) parts.push(x.ref.slice([], [0, t]));
  parts.push(randn(seed, [B, 1, N, D], 3));
  if (t + 1 < T) parts.push(x.ref.slice([], [t + 1, T]));
  x.dispose();
  return np.concatenate(parts, 1);
}

describe("ST block", () => {
  it("keeps the shape, and has spatial mixing within a frame and causal mixing across frames", async () => {
    const p = initSTBlock(makeKey(1), cfg);
    const x = randn(2, [B, T, N, D]);
    const y = stBlock(p, x);
    expect(y.shape).toEqual([B, T, N, D]);
    y.dispose();
  });

  for (const variant of [
    { name: "gelu, LayerNorm, RoPE", extra: {} },
    { name: "swiglu, RMSNorm, no RoPE", extra: { mlp: "swiglu", norm: "rms", rope: false } },
  ] as const) {
    it(`stepping frame by frame equals the full forward (${variant.name})`, async () => {
      const c = { ...cfg, ...variant.extra } as STBlockConfig;
      const p = initSTBlock(makeKey(3), c);
      const x = randn(4, [B, T, N, D]);
      await blockUntilReady({ p, x });
      const full = await host(stBlock(tree.ref(p), x.ref, c));
      let cache: KVCache | null = null;
      for (let t = 0; t < T; t++) {
        const r = stBlockStep(tree.ref(p), x.ref.slice([], [t, t + 1]), cache, c);
        cache = r.cache;
        expect(cache.k.shape).toEqual([B * N, 4, t + 1, D / 4]);
        expect(maxAbsDiff(await host(r.y_B1ND), frame(full, t))).toBeLessThan(1e-5);
      }
      tree.dispose({ p, x, cache });
    });
  }

  it("outputs at frames <= t do not depend on frame t+1 (exact); without causal time they do", async () => {
    const p = initSTBlock(makeKey(5), cfg);
    const x = randn(6, [B, T, N, D]);
    await blockUntilReady({ p, x });
    const base = await host(stBlock(tree.ref(p), x.ref));
    const baseFull = await host(stBlock(tree.ref(p), x.ref, { causalTime: false }));
    for (let t = 0; t < T - 1; t++) {
      const changed = replaceFrame(x.ref, t + 1, 10 + t);
      const y = await host(stBlock(tree.ref(p), changed.ref));
      for (let s = 0; s <= t; s++) expect(Array.from(frame(y, s))).toEqual(Array.from(frame(base, s)));
      expect(Array.from(frame(y, t + 1))).not.toEqual(Array.from(frame(base, t + 1)));
      const yFull = await host(stBlock(tree.ref(p), changed, { causalTime: false }));
      expect(Array.from(frame(yFull, 0))).not.toEqual(Array.from(frame(baseFull, 0)));
    }
    tree.dispose({ p, x });
  });

  it("spatial attention stays within a frame: other frames' tokens at other positions only reach a token through time", async () => {
    // With T = 1 there is no temporal mixing: each frame is processed independently of the batch's others.
    const p = initSTBlock(makeKey(7), cfg);
    const x = randn(8, [4, 1, N, D]);
    const all = await host(stBlock(tree.ref(p), x.ref));
    const one = await host(stBlock(p, x.slice([1, 2])));
    expect(maxAbsDiff(all.slice(N * D, 2 * N * D), one)).toBeLessThan(1e-6);
  });

  it("gradient matches finite differences (parameters and input)", async () => {
    const p = initSTBlock(makeKey(9), { dim: 8, heads: 2, mlpHidden: 16 });
    await expectGradOk((t: { p: STBlockParams; x: np.Array }) => stBlock(t.p, t.x), { p, x: randn(10, [1, 3, 2, 8]) });
  });

  it("leaks nothing over 20 apply + grad calls (full and stepped), and traces with makeJaxpr", async () => {
    const p = initSTBlock(makeKey(11), cfg);
    const x = randn(12, [B, T, N, D]);
    const c = { k: randn(13, [B * N, 4, 2, D / 4]), v: randn(14, [B * N, 4, 2, D / 4]) };
    await blockUntilReady({ p, x, c });
    await expectNoLeaks((pp: STBlockParams, xx: np.Array) => stBlock(pp, xx), () => [tree.ref(p), x.ref]);
    await expectNoLeaks(
      (pp: STBlockParams, xx: np.Array, cc: KVCache) => {
        const r = stBlockStep(pp, xx, cc);
        tree.dispose(r.cache);
        return r.y_B1ND;
      },
      () => [tree.ref(p), x.ref.slice([], [0, 1]), tree.ref(c)],
    );
    const { jaxpr } = makeJaxpr((pp: STBlockParams, xx: np.Array) => stBlock(pp, xx))(tree.ref(p), x.ref);
    expect(jaxpr.toString().length).toBeGreaterThan(0);
    jaxpr.dispose();
    tree.dispose({ p, x, c });
  });
});

describe("ST stack", () => {
  const stackCfg = { ...cfg, layers: 2 };

  it("is deterministic from its key and scales residual outputs by depth", async () => {
    const a = initSTStack(makeKey(20), stackCfg);
    const b = initSTStack(makeKey(20), stackCfg);
    expect(a.blocks.length).toBe(2);
    expect(await host(a.blocks[1].temporal.wqkv.ref)).toEqual(await host(b.blocks[1].temporal.wqkv.ref));
    expect(await host(a.blocks[0].temporal.wqkv.ref)).not.toEqual(await host(a.blocks[1].temporal.wqkv.ref));
    const rms = (v: Float32Array) => Math.sqrt(v.reduce((s, e) => s + e * e, 0) / v.length);
    const wo = rms(await host(a.blocks[0].spatial.wo.ref));
    expect(wo).toBeGreaterThan((0.8 / Math.sqrt(D)) * (1 / Math.sqrt(6)));
    expect(wo).toBeLessThan((1.2 / Math.sqrt(D)) * (1 / Math.sqrt(6)));
    tree.dispose({ a, b });
  });

  it("stepping frame by frame equals the full forward, and stays causal (exact)", async () => {
    const p = initSTStack(makeKey(21), stackCfg);
    const x = randn(22, [B, T, N, D]);
    await blockUntilReady({ p, x });
    const full = await host(stStack(tree.ref(p), x.ref));
    let caches: KVCache[] | null = null;
    for (let t = 0; t < T; t++) {
      const r = stStackStep(tree.ref(p), x.ref.slice([], [t, t + 1]), caches);
      caches = r.caches;
      expect(maxAbsDiff(await host(r.y_B1ND), frame(full, t))).toBeLessThan(1e-5);
    }
    tree.dispose(caches);
    for (let t = 0; t < T - 1; t++) {
      const changed = await host(stStack(tree.ref(p), replaceFrame(x.ref, t + 1, 30 + t)));
      for (let s = 0; s <= t; s++) expect(Array.from(frame(changed, s))).toEqual(Array.from(frame(full, s)));
      expect(Array.from(frame(changed, t + 1))).not.toEqual(Array.from(frame(full, t + 1)));
    }
    tree.dispose({ p, x });
  });

  it("with timeWindow, stepping (bounded caches) equals the full forward with a banded mask; trimming by hand is the same", async () => {
    const p = initSTStack(makeKey(23), stackCfg);
    const x = randn(24, [B, 6, N, D]);
    await blockUntilReady({ p, x });
    const win = { timeWindow: 3 };
    const full = await host(stStack(tree.ref(p), x.ref, win));
    const unbounded = await host(stStack(tree.ref(p), x.ref));
    let caches: KVCache[] | null = null;
    let manual: KVCache[] | null = null;
    for (let t = 0; t < 6; t++) {
      const r = stStackStep(tree.ref(p), x.ref.slice([], [t, t + 1]), caches, win);
      caches = r.caches;
      expect(caches[0].k.shape[2]).toBe(Math.min(t + 1, 3));
      const y = await host(r.y_B1ND);
      expect(maxAbsDiff(y, frame(full, t, 6))).toBeLessThan(1e-5);
      const m = stStackStep(tree.ref(p), x.ref.slice([], [t, t + 1]), manual);
      manual = m.caches.map((c) => trimCache(c, 2));
      expect(maxAbsDiff(await host(m.y_B1ND), y)).toBeLessThan(1e-5);
    }
    // The window matters once frames fall out of it.
    expect(maxAbsDiff(frame(full, 5, 6), frame(unbounded, 5, 6))).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(frame(full, 2, 6), frame(unbounded, 2, 6))).toBeLessThan(1e-6);
    tree.dispose({ p, x, caches, manual });
  });

  for (const rope of [true, false]) {
    it(`prepared caches (rotated once, reused by several steps) give the full forward's frames (rope ${rope})`, async () => {
      const p = initSTStack(makeKey(29), stackCfg);
      const x = randn(30, [B, 6, N, D]);
      const other = randn(31, [B, 1, N, D]);
      await blockUntilReady({ p, x, other });
      const win = { timeWindow: 3, rope };
      const full = await host(stStack(tree.ref(p), x.ref, win));
      let caches: KVCache[] | null = null;
      for (let t = 0; t < 6; t++) {
        if (!caches) {
          caches = stStackStep(tree.ref(p), x.ref.slice([], [0, 1]), null, win).caches;
          continue;
        }
        const prepared = prepareStackCaches(caches, win);
        expect(prepared[0].k.shape[2]).toBe(Math.min(t, 2));
        expect(prepared[0].kRot === undefined).toBe(!rope);
        // A pass with other tokens first (its cache dropped), then the frame itself: both read the same prepared past.
        const probe = stStackStep(tree.ref(p), other.ref, tree.ref(prepared as never) as KVCache[], win);
        tree.dispose(probe.caches as never);
        probe.y_B1ND.dispose();
        const r = stStackStep(tree.ref(p), x.ref.slice([], [t, t + 1]), prepared, win);
        caches = r.caches;
        expect(caches[0].kRot).toBeUndefined();
        expect(maxAbsDiff(await host(r.y_B1ND), frame(full, t, 6))).toBeLessThan(1e-5);
      }
      expect(() => trimCache(prepareStackCaches(caches as KVCache[], { timeWindow: 3 })[0], 1)).toThrow(/prepared cache/);
      tree.dispose({ p, x, other });
    });
  }

  it("runs under jit, and its step rejects a wrong number of caches", async () => {
    const p = initSTStack(makeKey(25), { ...stackCfg, finalNorm: false });
    expect(p.final).toBeUndefined();
    const x = randn(26, [B, T, N, D]);
    const f = jit((pp: STStackParams, xx: np.Array) => stStack(pp, xx));
    const a = await host(f(tree.ref(p), x.ref));
    const b = await host(stStack(tree.ref(p), x.ref));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    f.dispose();
    expect(() => stStackStep(tree.ref(p), x.ref.slice([], [0, 1]), [null])).toThrow(/caches/);
    tree.dispose({ p, x });
  });

  it("gradient matches finite differences, and 20 apply + grad calls leak nothing", async () => {
    const p = initSTStack(makeKey(27), { dim: 8, heads: 2, mlpHidden: 16, layers: 2, mlp: "swiglu" });
    const x = randn(28, [1, 3, 2, 8]);
    await blockUntilReady({ p, x });
    // The blocks are checked one by one above; here the gradient through the whole stack, into
    // the first block's temporal attention, the final norm and the input.
    await expectGradOk((t: { p: STStackParams; x: np.Array }) => stStack(t.p, t.x), { p: tree.ref(p), x: x.ref }, {
      only: (path) => path === "x" || path.startsWith("p.final") || path.startsWith("p.blocks.0.temporal."),
    });
    await expectNoLeaks((pp: STStackParams, xx: np.Array) => stStack(pp, xx), () => [tree.ref(p), x.ref]);
    tree.dispose({ p, x });
  });
});
