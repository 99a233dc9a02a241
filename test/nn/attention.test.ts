import { beforeAll, describe, expect, it } from "vitest";
import { blockUntilReady, grad, initDevice, makeJaxpr, makeKey, np, tree } from "../../src/core/index.js";
import { startLeakCount } from "../../src/core/leaks.js";
import { attention, attentionCached, cacheLength, initAttention, maskedSoftmax, prepareCache, trimCache } from "../../src/nn/attention.js";
import type { AttentionOptions, AttentionParams, KVCache } from "../../src/nn/attention.js";
import { blockCausalMask, causalMask, fullMask, maskFromPredicate, slidingCausalMask, toAdditive } from "../../src/nn/masks.js";
import { expectGradOk, expectNoLeaks, hasNaN, host, maxAbsDiff, randn } from "./util.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

async function boolMask(m: np.Array): Promise<boolean[]> {
  return Array.from(await host(m)).map((v) => v !== 0);
}

/** Float64 host reference of attention (same parameter layout, rotate-half RoPE). */
async function reference(
  p: AttentionParams,
  x: np.Array,
  allowed: (q: number, k: number) => boolean,
  rope: boolean,
): Promise<Float64Array> {
  const [B, S, D] = x.shape;
  const [, , H, dh] = p.wqkv.shape;
  const w = await host(p.wqkv.ref);
  const wo = await host(p.wo.ref);
  const qs = p.qNorm ? await host(p.qNorm.scale.ref) : null;
  const ks = p.kNorm ? await host(p.kNorm.scale.ref) : null;
  const xs = await host(x.ref);
  const y = new Float64Array(B * S * D);
  const rms = (v: number[], scale: Float32Array | null) => {
    if (!scale) return v;
    const r = Math.sqrt(v.reduce((a, b) => a + b * b, 0) / v.length + 1e-6);
    return v.map((e, i) => (e / r) * scale[i]);
  };
  const rot = (v: number[], pos: number) => {
    if (!rope) return v;
    const half = dh / 2;
    const out = v.slice();
    for (let i = 0; i < half; i++) {
      const a = pos * Math.pow(10000, (-2 * i) / dh);
      out[i] = v[i] * Math.cos(a) - v[i + half] * Math.sin(a);
      out[i + half] = v[i + half] * Math.cos(a) + v[i] * Math.sin(a);
    }
    return out;
  };
  for (let b = 0; b < B; b++) {
    // proj[j][s][h] = vector of dh
    const proj = [0, 1, 2].map((j) =>
      Array.from({ length: S }, (_, s) =>
        Array.from({ length: H }, (_, h) =>
          Array.from({ length: dh }, (_, e) => {
            let acc = 0;
            for (let d = 0; d < D; d++) acc += xs[(b * S + s) * D + d] * w[((d * 3 + j) * H + h) * dh + e];
            return acc;
          }),
        ),
      ),
    );
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const q = rot(rms(proj[0][s][h], qs), s);
        const logits: number[] = [];
        for (let t = 0; t < S; t++) {
          const k = rot(rms(proj[1][t][h], ks), t);
          logits.push(allowed(s, t) ? q.reduce((a, qe, e) => a + qe * k[e], 0) / Math.sqrt(dh) : -Infinity);
        }
        const m = Math.max(...logits);
        const ex = logits.map((l) => (Number.isFinite(m) ? Math.exp(l - m) : 0));
        const den = ex.reduce((a, c) => a + c, 0);
        const o = new Array(dh).fill(0);
        for (let t = 0; t < S; t++) for (let e = 0; e < dh; e++) o[e] += (den > 0 ? ex[t] / den : 0) * proj[2][t][h][e];
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let e = 0; e < dh; e++) acc += o[e] * wo[(h * dh + e) * D + d];
          y[(b * S + s) * D + d] += acc;
        }
      }
    }
  }
  x.dispose();
  return y;
}

/** Run x_BSD through attentionCached in chunks of `chunk` positions; returns the concatenated outputs (B, S, D) on the host. */
async function stepped(
  p: AttentionParams,
  x: np.Array,
  chunk: number,
  maskFor: (start: number) => np.Array | undefined,
  opts: AttentionOptions = {},
): Promise<Float32Array> {
  const [B, S, D] = x.shape;
  const out = new Float32Array(B * S * D);
  let cache: KVCache | null = null;
  for (let s = 0; s < S; s += chunk) {
    const r = attentionCached(tree.ref(p), x.ref.slice([], [s, s + chunk]), cache, { ...opts, mask: maskFor(s) });
    cache = r.cache;
    expect(cacheLength(cache)).toBe(s + chunk);
    const y = await host(r.y_BSD);
    for (let b = 0; b < B; b++) out.set(y.slice(b * chunk * D, (b + 1) * chunk * D), (b * S + s) * D);
  }
  tree.dispose(cache);
  x.dispose();
  return out;
}

describe("masks", () => {
  it("full, causal and block-causal, aligned to the end of the keys", async () => {
    expect(await boolMask(fullMask(2, 3))).toEqual([true, true, true, true, true, true]);
    const T = true;
    const F = false;
    expect(await boolMask(causalMask(3))).toEqual([T, F, F, T, T, F, T, T, T]);
    expect(await boolMask(causalMask(2, 4))).toEqual([T, T, T, F, T, T, T, T]);
    // 2 frames of 2 tokens: frame(j) <= frame(i).
    expect(await boolMask(blockCausalMask(2, 2))).toEqual([T, T, F, F, T, T, F, F, T, T, T, T, T, T, T, T]);
    // One new frame against 3 frames of keys: everything allowed.
    expect(await boolMask(blockCausalMask(1, 2, 3))).toEqual(new Array(12).fill(true));
    // The last 2 of 3 frames (1 token each) = causal(2, 3).
    expect(await boolMask(blockCausalMask(2, 1, 3))).toEqual(await boolMask(causalMask(2, 3)));
    // Window of 2: itself and the one before.
    expect(await boolMask(slidingCausalMask(3, 2))).toEqual([T, F, F, T, T, F, F, T, T]);
    expect(await boolMask(slidingCausalMask(1, 2, 3))).toEqual([F, T, T]);
    expect(Array.from(await host(toAdditive(causalMask(2))))).toEqual([0, -Infinity, 0, 0]);
    expect(() => causalMask(3, 2)).toThrow(/keys/);
  });
});

describe("maskedSoftmax", () => {
  it("is stable with huge logits, -inf entries and fully masked rows (no NaN)", async () => {
    const logits = np.array([
      [1e30, -1e30, 3e38, 0],
      [-Infinity, 0, -Infinity, 1],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [1, 2, 3, 4],
    ]);
    const mask = np.array(
      [
        [true, true, true, true],
        [true, true, true, true],
        [true, true, true, true],
        [false, false, false, false],
      ],
      { dtype: np.bool },
    );
    const p = await host(maskedSoftmax(logits, mask));
    expect(hasNaN(p)).toBe(false);
    expect(Array.from(p.slice(0, 4))).toEqual([0, 0, 1, 0]);
    const e = Math.exp(1);
    expect(maxAbsDiff(p.slice(4, 8), [0, 1 / (1 + e), 0, e / (1 + e)])).toBeLessThan(1e-7);
    expect(Array.from(p.slice(8, 16))).toEqual(new Array(8).fill(0)); // all -inf, all masked
  });

  it("equals the plain softmax on ordinary logits, with boolean or additive masks", async () => {
    const x = randn(1, [3, 5], 3);
    const xs = await host(x.ref);
    const p = await host(maskedSoftmax(x.ref));
    for (let r = 0; r < 3; r++) {
      const row = Array.from(xs.slice(r * 5, r * 5 + 5));
      const m = Math.max(...row);
      const den = row.reduce((a, v) => a + Math.exp(v - m), 0);
      expect(maxAbsDiff(p.slice(r * 5, r * 5 + 5), row.map((v) => Math.exp(v - m) / den))).toBeLessThan(1e-6);
    }
    const a = await host(maskedSoftmax(x.ref, causalMask(3, 5)));
    const b = await host(maskedSoftmax(x, toAdditive(causalMask(3, 5))));
    expect(a).toEqual(b);
    expect(a[4]).toBe(0); // row 0 sees keys 0..2
  });

  it("has finite gradients through a fully masked row", async () => {
    const mask = np.array([[true, false, true], [false, false, false]], { dtype: np.bool });
    const g = await host(grad((x: np.Array) => maskedSoftmax(x, mask.ref).mul(np.array([[1, 2, 3], [4, 5, 6]])).sum())(randn(2, [2, 3])));
    expect(hasNaN(g)).toBe(false);
    expect(Array.from(g.slice(3))).toEqual([0, 0, 0]);
    expect(g[1]).toBe(0);
    mask.dispose();
  });
});

describe("attention", () => {
  const D = 16;
  const H = 4;
  const N = 3; // tokens per frame
  const F = 4; // frames

  for (const qkNorm of [false, true]) {
    for (const rope of [false, true]) {
      it(`matches a float64 reference (qkNorm ${qkNorm}, rope ${rope}, block-causal)`, async () => {
        const p = initAttention(makeKey(1), { dim: D, heads: H, qkNorm });
        if (p.qNorm) p.qNorm.scale = randn(3, [D / H], 0.2).add(1);
        if (p.kNorm) p.kNorm.scale = randn(4, [D / H], 0.2).add(1);
        const x = randn(2, [2, F * N, D]);
        const want = await reference(p, x.ref, (q, k) => Math.floor(k / N) <= Math.floor(q / N), rope);
        const got = await host(attention(p, x, { mask: blockCausalMask(F, N), rope }));
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
      });
    }
  }

  it("boolean and additive masks agree; a fully masked row gives zeros and finite gradients", async () => {
    const p = initAttention(makeKey(1), { dim: D, heads: H, qkNorm: true });
    const x = randn(2, [2, 4, D]);
    // Query 0 may see nothing.
    const m = () => maskFromPredicate(4, 4, (q, k) => q > 0 && k <= q);
    const a = await host(attention(tree.ref(p), x.ref, { mask: m() }));
    const b = await host(attention(tree.ref(p), x.ref, { mask: toAdditive(m()) }));
    expect(a).toEqual(b);
    expect(hasNaN(a)).toBe(false);
    for (let bb = 0; bb < 2; bb++) expect(Array.from(a.slice(bb * 4 * D, bb * 4 * D + D))).toEqual(new Array(D).fill(0));
    const g = grad((pp: AttentionParams, xx: np.Array) => attention(pp, xx, { mask: m() }).sum())(p, x);
    for (const leaf of tree.leaves(g)) expect(hasNaN(await host(leaf as np.Array))).toBe(false);
  });

  it("cached decoding equals the full forward: frame by frame, token by token, two frames at a time", async () => {
    const p = initAttention(makeKey(5), { dim: D, heads: H, qkNorm: true });
    const x = randn(6, [2, F * N, D]);
    await blockUntilReady({ p, x });
    for (const rope of [false, true]) {
      const full = await host(attention(tree.ref(p), x.ref, { mask: blockCausalMask(F, N), rope }));
      const byFrame = await stepped(p, x.ref, N, () => undefined, { rope });
      expect(maxAbsDiff(byFrame, full)).toBeLessThan(1e-5);
      const byFrameMasked = await stepped(p, x.ref, N, (s) => blockCausalMask(1, N, s / N + 1), { rope });
      expect(maxAbsDiff(byFrameMasked, full)).toBeLessThan(1e-5);
      const byTwo = await stepped(p, x.ref, 2 * N, (s) => blockCausalMask(2, N, s / N + 2), { rope });
      expect(maxAbsDiff(byTwo, full)).toBeLessThan(1e-5);
      const causalFull = await host(attention(tree.ref(p), x.ref, { mask: causalMask(F * N), rope }));
      const byToken = await stepped(p, x.ref, 1, () => undefined, { rope });
      expect(maxAbsDiff(byToken, causalFull)).toBeLessThan(1e-5);
    }
    tree.dispose({ p, x });
  });

  it("trimCache keeps the newest positions; with RoPE a trimmed cache equals a fresh window", async () => {
    const p = initAttention(makeKey(7), { dim: D, heads: H, qkNorm: true });
    const x = randn(8, [1, 6, D]); // one token per frame, 6 frames
    await blockUntilReady({ p, x });
    const keep = 2;
    let cache: KVCache | null = null;
    for (let t = 0; t < 6; t++) {
      const r = attentionCached(tree.ref(p), x.ref.slice([], [t, t + 1]), cache, { rope: true });
      cache = trimCache(r.cache, keep);
      expect(cacheLength(cache)).toBe(Math.min(t + 1, keep));
      // The same frame through a fresh full forward over the window [t - keep, t].
      const lo = Math.max(0, t - keep);
      const win = await host(attention(tree.ref(p), x.ref.slice([], [lo, t + 1]), { mask: causalMask(t + 1 - lo), rope: true }));
      expect(maxAbsDiff(await host(r.y_BSD), win.slice((t - lo) * D))).toBeLessThan(1e-5);
    }
    const c = cache!;
    const kept = await host(c.k.ref);
    const same = trimCache(c, 5);
    expect(await host(same.k.ref)).toEqual(kept);
    const one = trimCache(same, 1);
    expect(one.k.shape).toEqual([1, H, 1, D / H]);
    const want: number[] = [];
    for (let h = 0; h < H; h++) want.push(...kept.slice((h * 2 + 1) * (D / H), (h * 2 + 2) * (D / H))); // (1, H, 2, Dh): position 1 of each head
    expect(Array.from(await host(one.k))).toEqual(want);
    one.v.dispose();
    expect(() => trimCache({ k: np.zeros([1, 1, 2, 2]), v: np.zeros([1, 1, 2, 2]) }, -1)).toThrow(/keep/);
    tree.dispose({ p, x });
  });

  it("a padded cache (empty slots first, pastMask −Infinity) gives the unpadded cache's outputs, also prepared and trimmed", async () => {
    const p = initAttention(makeKey(12), { dim: D, heads: H, qkNorm: true });
    const x = randn(13, [1, 6, D]);
    await blockUntilReady({ p, x });
    const slots = 4;
    const dh = D / H;
    let plain: KVCache | null = null;
    let padded: KVCache = { k: np.zeros([1, H, slots, dh]), v: np.zeros([1, H, slots, dh]) };
    for (let t = 0; t < 6; t++) {
      const held = Math.min(t, slots);
      const mask = np.array(Float32Array.from({ length: slots }, (_, i) => (i < slots - held ? -Infinity : 0)));
      const xt = x.ref.slice([], [t, t + 1]);
      const a = attentionCached(tree.ref(p), xt.ref, plain, { rope: true });
      const b = attentionCached(tree.ref(p), xt, { ...padded, pastMask: mask }, { rope: true });
      expect(maxAbsDiff(await host(b.y_BSD), await host(a.y_BSD))).toBeLessThan(1e-6);
      plain = trimCache(a.cache, slots);
      padded = trimCache(b.cache, slots);
      expect(padded.pastMask).toBeUndefined();
      // The real frames are the padded cache's newest slots.
      const real = await host(trimCache({ k: padded.k.ref, v: padded.v.ref }, held + 1 > slots ? slots : held + 1).k);
      expect(maxAbsDiff(real, await host(plain.k.ref))).toBe(0);
    }
    // Prepared (rotated once) and trimmed: the mask travels and is sliced with the slots.
    const mask = np.array(Float32Array.of(-Infinity, 0, 0, 0));
    const prepared = prepareCache({ ...padded, pastMask: mask }, 3, true);
    expect(prepared.pastMask!.shape).toEqual([3]);
    expect(Array.from(await host(prepared.pastMask!.ref))).toEqual([0, 0, 0]);
    tree.dispose(prepared as never);
    if (plain) tree.dispose(plain as never);
    expect(() => attentionCached(tree.ref(p), x.ref.slice([], [0, 2]), { k: np.zeros([1, H, 2, dh]), v: np.zeros([1, H, 2, dh]), pastMask: np.zeros([2]) }, { rope: true })).toThrow(/pastMask/);
    tree.dispose({ p, x });
  });

  it("block-causal outputs at frames <= t do not depend on frame t+1 (exact)", async () => {
    const p = initAttention(makeKey(9), { dim: D, heads: H, qkNorm: true });
    const x = randn(10, [2, F * N, D]);
    const base = await host(attention(tree.ref(p), x.ref, { mask: blockCausalMask(F, N), rope: true }));
    for (let t = 0; t < F - 1; t++) {
      // Replace frame t+1 with other values.
      const parts = [x.ref.slice([], [0, (t + 1) * N]), randn(11 + t, [2, N, D], 5)];
      if (t + 2 < F) parts.push(x.ref.slice([], [(t + 2) * N, F * N]));
      const changed = await host(attention(tree.ref(p), np.concatenate(parts, 1), { mask: blockCausalMask(F, N), rope: true }));
      for (let b = 0; b < 2; b++) {
        const upTo = (t + 1) * N * D;
        const off = b * F * N * D;
        expect(Array.from(changed.slice(off, off + upTo))).toEqual(Array.from(base.slice(off, off + upTo)));
        expect(Array.from(changed.slice(off + upTo, off + upTo + N * D))).not.toEqual(Array.from(base.slice(off + upTo, off + upTo + N * D)));
      }
    }
    tree.dispose({ p, x });
  });

  const masks: [string, () => np.Array | undefined][] = [
    ["none", () => undefined],
    ["full", () => fullMask(2 * N)],
    ["causal", () => causalMask(2 * N)],
    ["block-causal", () => blockCausalMask(2, N)],
  ];
  for (const [name, mask] of masks) {
    it(`gradient matches finite differences (${name} mask, QK-norm, RoPE)`, async () => {
      const p = initAttention(makeKey(12), { dim: 8, heads: 2, qkNorm: true });
      p.qNorm!.scale = randn(13, [4], 0.2).add(1);
      p.kNorm!.scale = randn(14, [4], 0.2).add(1);
      await expectGradOk(
        (t: { p: AttentionParams; x: np.Array }) => attention(t.p, t.x, { mask: mask(), rope: true }),
        { p, x: randn(15, [2, 2 * N, 8]) },
      );
    });
  }

  it("gradient matches finite differences without QK-norm, through a cache", async () => {
    const p = initAttention(makeKey(16), { dim: 8, heads: 2, qkNorm: false });
    await expectGradOk(
      (t: { p: AttentionParams; x: np.Array; c: KVCache }) => attentionCached(t.p, t.x, t.c, { rope: true }).y_BSD,
      { p, x: randn(17, [2, 2, 8]), c: { k: randn(18, [2, 2, 3, 4]), v: randn(19, [2, 2, 3, 4]) } },
    );
  });

  it("leaks nothing over 20 apply + grad calls (plain and cached), and traces with makeJaxpr", async () => {
    const p = initAttention(makeKey(20), { dim: D, heads: H, qkNorm: true });
    const x = randn(21, [2, 2 * N, D]);
    const c = { k: randn(22, [2, H, 3, D / H]), v: randn(23, [2, H, 3, D / H]) };
    await blockUntilReady({ p, x, c });
    await expectNoLeaks(
      (pp: AttentionParams, xx: np.Array) => attention(pp, xx, { mask: blockCausalMask(2, N), rope: true }),
      () => [tree.ref(p), x.ref],
    );
    await expectNoLeaks(
      (pp: AttentionParams, xx: np.Array, cc: KVCache) => {
        const r = attentionCached(pp, xx, cc, { rope: true });
        tree.dispose(r.cache);
        return r.y_BSD;
      },
      () => [tree.ref(p), x.ref, tree.ref(c)],
    );
    const traced = (pp: AttentionParams, xx: np.Array, cc: KVCache) => {
      const r = attentionCached(pp, xx, cc, { rope: true });
      return [r.y_BSD, r.cache.k, r.cache.v];
    };
    const { jaxpr } = makeJaxpr(traced)(tree.ref(p), x.ref, tree.ref(c));
    expect(jaxpr.toString()).toContain("concatenate");
    jaxpr.dispose();
    tree.dispose({ p, x, c });
  });
});
