import { beforeAll, describe, expect, it } from "vitest";
import { grad, hostRng, initDevice, makeJaxpr, makeKey, np, tree } from "../../src/core/index.js";
import type { JsTree } from "../../src/core/index.js";
import { gradCheck, formatGradCheck } from "../../src/nn/gradcheck.js";
import {
  VQ_DEFAULTS,
  codebookStats,
  emaUpdate,
  initCodeAge,
  initVQ,
  initVQEma,
  quantize,
  resetDeadCodes,
  updateCodeAge,
} from "../../src/nn/vq.js";
import type { VQConfig } from "../../src/nn/vq.js";

beforeAll(async () => {
  await initDevice();
});

function randn(rng: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(rng(), 1e-12))) * Math.cos(2 * Math.PI * rng());
  return out;
}

/** Nearest code of each row by plain squared distance, in float64. */
function bruteArgmin(z: Float32Array, e: Float32Array, D: number): number[] {
  const K = e.length / D;
  const out: number[] = [];
  for (let n = 0; n < z.length / D; n++) {
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < K; k++) {
      let d = 0;
      for (let j = 0; j < D; j++) d += (z[n * D + j] - e[k * D + j]) ** 2;
      if (d < bestD) [best, bestD] = [k, d];
    }
    out.push(best);
  }
  return out;
}

const cfgOf = (over: Partial<VQConfig>): VQConfig => ({ ...VQ_DEFAULTS, ...over });

describe("quantize", () => {
  it("chooses the same codes as a brute-force argmin, for any leading dims", async () => {
    const cfg = cfgOf({ codes: 64, dim: 16, codebook: "learned" });
    const rng = hostRng(1);
    const e = randn(rng, 64 * 16);
    const z = randn(rng, 3 * 100 * 16);
    const out = quantize({ codebook_KD: np.array(e, { shape: [64, 16] }) }, np.array(z, { shape: [3, 100, 16] }), cfg);
    expect(out.zq.shape).toEqual([3, 100, 16]);
    expect(out.indices.shape).toEqual([3, 100]);
    expect(out.indices.dtype).toBe(np.int32);
    const idx = Array.from(await out.indices.data(), Number);
    expect(idx).toEqual(bruteArgmin(z, e, 16));
    // The value of zq is the chosen code (up to the rounding of z + (e − z)).
    const expectedZq = idx.flatMap((k) => Array.from(e.subarray(k * 16, k * 16 + 16)));
    expect(Array.from(await out.zq.data())).toBeAllclose(expectedZq, { rtol: 0, atol: 1e-6 });
    out.commitLoss.dispose();
    out.codebookLoss.dispose();
  });

  it("straight-through: d(loss)/dz equals d(loss)/dzq exactly", async () => {
    const cfg = cfgOf({ codes: 32, dim: 8 });
    const rng = hostRng(2);
    const codebook_KD = initVQ(makeKey(0), cfg).codebook_KD;
    const w = np.array(randn(rng, 4 * 64 * 8), { shape: [4, 64, 8] });
    const z = np.array(randn(rng, 4 * 64 * 8), { shape: [4, 64, 8] });
    // A reconstruction-like loss of zq alone.
    const recon = (zq: np.Array) => np.square(zq.sub(w.ref)).mean();
    const viaQuantizer = (z: np.Array) => {
      const out = quantize({ codebook_KD: codebook_KD.ref }, z, cfg);
      tree.dispose([out.indices, out.commitLoss, out.codebookLoss]);
      return recon(out.zq);
    };
    const gZ = Float32Array.from(await grad(viaQuantizer)(z.ref).data());
    const fwd = quantize({ codebook_KD: codebook_KD.ref }, z, cfg);
    tree.dispose([fwd.indices, fwd.commitLoss, fwd.codebookLoss]);
    const gZq = Float32Array.from(await grad(recon)(fwd.zq).data());
    expect(Array.from(gZ)).toEqual(Array.from(gZq));
    expect(gZ.some((g) => g !== 0)).toBe(true);
    codebook_KD.dispose();
    w.dispose();
  });

  it("commitment gradient is 2β(z − e)/numel (and matches finite differences)", async () => {
    const beta = 0.25;
    const cfg = cfgOf({ codes: 16, dim: 8, beta, codebook: "ema" });
    const rng = hostRng(3);
    const e = randn(rng, 16 * 8);
    // Points near their codes, far from any decision boundary, so differences do not switch codes.
    const N = 40;
    const z = new Float32Array(N * 8);
    const noise = randn(rng, N * 8, 0.05);
    for (let n = 0; n < N; n++) for (let j = 0; j < 8; j++) z[n * 8 + j] = e[(n % 16) * 8 + j] + noise[n * 8 + j];
    const codebook_KD = np.array(e, { shape: [16, 8] });
    const commit = (z: np.Array) => {
      const out = quantize({ codebook_KD: codebook_KD.ref }, z, cfg);
      tree.dispose([out.zq, out.indices, out.codebookLoss]);
      return out.commitLoss;
    };
    const g = Array.from(await grad(commit)(np.array(z, { shape: [N, 8] })).data());
    const expected = Array.from(z, (zi, i) => (2 * beta * (zi - e[(Math.floor(i / 8) % 16) * 8 + (i % 8)])) / z.length);
    expect(g).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-9 });
    const check = await gradCheck(commit, np.array(z, { shape: [N, 8] }), { eps: 1e-3 });
    expect(check.maxRelError, formatGradCheck(check)).toBeLessThan(1e-2);
    codebook_KD.dispose();
  });

  it("codebook loss trains a learned codebook; EMA mode gives it no gradient", async () => {
    const rng = hostRng(4);
    const z = randn(rng, 20 * 4);
    const e = randn(rng, 8 * 4);
    const lossGrad = async (mode: "ema" | "learned") => {
      const cfg = cfgOf({ codes: 8, dim: 4, codebook: mode });
      const total = (p: { codebook_KD: np.Array }) => {
        const out = quantize(p, np.array(z, { shape: [20, 4] }), cfg);
        tree.dispose([out.zq, out.indices]);
        return out.commitLoss.add(out.codebookLoss);
      };
      return Array.from(await grad(total)({ codebook_KD: np.array(e, { shape: [8, 4] }) }).codebook_KD.data());
    };
    // d/de mean((sg(z) − e)²) = −2 Σ_{n→k} (z_n − e_k) / numel.
    const idx = bruteArgmin(z, e, 4);
    const expected = new Array(8 * 4).fill(0);
    idx.forEach((k, n) => {
      for (let j = 0; j < 4; j++) expected[k * 4 + j] -= (2 * (z[n * 4 + j] - e[k * 4 + j])) / z.length;
    });
    expect(await lossGrad("learned")).toBeAllclose(expected, { rtol: 1e-5, atol: 1e-8 });
    expect(await lossGrad("ema")).toEqual(new Array(8 * 4).fill(0));
  });

  it("names the shape in errors", () => {
    const cfg = cfgOf({ codes: 4, dim: 3 });
    expect(() => quantize({ codebook_KD: np.zeros([4, 3]) }, np.zeros([2, 5]), cfg)).toThrow(/\[2,5\].*dim=3/);
  });
});

describe("EMA codebook", () => {
  it("matches a float64 reference and moves used codes towards their assigned means", async () => {
    const K = 6;
    const D = 3;
    const cfg = cfgOf({ codes: K, dim: D, emaDecay: 0.9, emaEps: 1e-5 });
    const rng = hostRng(5);
    const cs = Float32Array.from({ length: K }, () => 0.5 + 2 * rng());
    const es = randn(rng, K * D);
    const z = randn(rng, 30 * D);
    const idx = Array.from({ length: 30 }, (_, n) => (n * 7) % 5); // code 5 never used
    const state = { clusterSize_K: np.array(cs), embedSum_KD: np.array(es, { shape: [K, D] }) };
    const out = emaUpdate(state, np.array(z, { shape: [5, 6, D] }), np.array(idx, { shape: [5, 6], dtype: np.int32 }), cfg);

    const counts = new Array(K).fill(0);
    const sums = new Array(K * D).fill(0);
    idx.forEach((k, n) => {
      counts[k] += 1;
      for (let j = 0; j < D; j++) sums[k * D + j] += z[n * D + j];
    });
    const newCs = counts.map((c, k) => 0.9 * cs[k] + 0.1 * c);
    const newEs = sums.map((s, i) => 0.9 * es[i] + 0.1 * s);
    const n = newCs.reduce((a, b) => a + b, 0);
    const smoothed = newCs.map((c) => ((c + 1e-5) / (n + K * 1e-5)) * n);
    const codebook = newEs.map((s, i) => s / smoothed[Math.floor(i / D)]);
    const got = Array.from(await out.codebook_KD.data(), Number);
    expect(got).toBeAllclose(codebook, { rtol: 1e-5, atol: 1e-6 });
    expect(Array.from(await out.state.clusterSize_K.data())).toBeAllclose(newCs, { rtol: 1e-6, atol: 1e-7 });
    expect(Array.from(await out.state.embedSum_KD.data())).toBeAllclose(newEs, { rtol: 1e-6, atol: 1e-6 });

    // Each used code ends closer to the mean of its vectors than the code it came from.
    for (let k = 0; k < 5; k++) {
      let before = 0;
      let after = 0;
      for (let j = 0; j < D; j++) {
        const mean = sums[k * D + j] / counts[k];
        before += (es[k * D + j] / cs[k] - mean) ** 2;
        after += (got[k * D + j] - mean) ** 2;
      }
      expect(after).toBeLessThan(before);
    }
  });

  it("a codebook whose codes are their own data is a fixed point of initVQEma + emaUpdate", async () => {
    const cfg = cfgOf({ codes: 8, dim: 4, emaDecay: 0.5 });
    const { codebook_KD } = initVQ(makeKey(3), cfg);
    const ema = initVQEma(codebook_KD.ref, cfg);
    const out = emaUpdate(ema, codebook_KD.ref, np.arange(8).astype(np.int32), cfg);
    tree.dispose(out.state);
    expect(Array.from(await out.codebook_KD.data())).toBeAllclose(Array.from(await codebook_KD.data()), { rtol: 1e-5, atol: 1e-6 });
    expect(() => emaUpdate(initVQEma(np.zeros([8, 4]), cfg), np.zeros([0, 4]), np.zeros([0], { dtype: np.int32 }), cfg)).toThrow(/no input vectors/);
  });
});

describe("dead codes", () => {
  it("ages count steps since last use", async () => {
    const cfg = cfgOf({ codes: 4, dim: 2 });
    let age = initCodeAge(cfg);
    age = updateCodeAge(age, np.array([0, 1], { dtype: np.int32 }), cfg);
    age = updateCodeAge(age, np.array([[1, 1]], { dtype: np.int32 }), cfg);
    expect(Array.from(await age.data())).toEqual([1, 0, 2, 2]);
  });

  it("reset brings every code into use on a toy dataset where half start dead", async () => {
    const K = 8;
    const D = 4;
    const cfg = cfgOf({ codes: K, dim: D, deadCodeSteps: 2, resetNoise: 0.01 });
    const rng = hostRng(6);
    // 8 tight clusters; codes sit on the first 4 centres, the other 4 far from all data.
    const centres = randn(rng, K * D, 2);
    const perCluster = 16;
    const data = new Float32Array(K * perCluster * D);
    for (let c = 0; c < K; c++) {
      for (let i = 0; i < perCluster; i++) {
        for (let j = 0; j < D; j++) data[(c * perCluster + i) * D + j] = centres[c * D + j] + 0.1 * (rng() - 0.5);
      }
    }
    const init = new Float32Array(K * D);
    for (let i = 0; i < K * D; i++) init[i] = i < (K / 2) * D ? centres[i] : 100 + i;
    let codebook_KD = np.array(init, { shape: [K, D] });
    let ema = initVQEma(codebook_KD.ref, cfg);
    let age = initCodeAge(cfg);
    const z = np.array(data, { shape: [K * perCluster, D] });
    const usageOf = async (codebook_KD: np.Array) => {
      const { indices } = quantizeAll(codebook_KD, z.ref, cfg);
      const stats = codebookStats(indices, K);
      stats.perplexity.dispose();
      return stats.usage.jsAsync();
    };

    expect(await usageOf(codebook_KD.ref)).toBe(0.5);
    for (let step = 0; step < 2; step++) {
      const { indices } = quantizeAll(codebook_KD.ref, z.ref, cfg);
      age = updateCodeAge(age, indices, cfg);
    }
    expect(Array.from(await age.ref.data())).toEqual([0, 0, 0, 0, 2, 2, 2, 2]);
    const out = resetDeadCodes(codebook_KD, age, z.ref, makeKey(9), cfg, ema);
    codebook_KD = out.codebook_KD;
    ema = out.ema!;
    expect(Array.from(await out.age_K.data())).toEqual(new Array(K).fill(0));
    const cb = await codebook_KD.ref.data();
    expect(Array.from(cb.subarray(0, (K / 2) * D))).toEqual(Array.from(init.subarray(0, (K / 2) * D))); // live codes untouched
    for (let k = K / 2; k < K; k++) expect(Math.abs(cb[k * D])).toBeLessThan(10); // dead ones moved onto the data
    expect(Array.from(await ema.clusterSize_K.data()).slice(K / 2)).toEqual([1, 1, 1, 1]);
    expect(Array.from(await ema.embedSum_KD.data())).toEqual(Array.from(cb).map((v, i) => (i < (K / 2) * D ? init[i] : v)));
    expect(await usageOf(codebook_KD)).toBe(1);
    z.dispose();
  });
});

/** Quantize, keeping only the indices. */
function quantizeAll(codebook_KD: np.Array, z: np.Array, cfg: VQConfig): { indices: np.Array } {
  const out = quantize({ codebook_KD }, z, cfg);
  tree.dispose([out.zq, out.commitLoss, out.codebookLoss]);
  return { indices: out.indices };
}

describe("codebookStats", () => {
  it("gives usage and perplexity of hand-made histograms", async () => {
    const stats = async (idx: number[], K: number) => {
      const s = codebookStats(np.array(idx, { dtype: np.int32 }), K);
      return { usage: await s.usage.jsAsync(), perplexity: await s.perplexity.jsAsync() };
    };
    expect(await stats([0, 0, 1, 1], 4)).toEqual({ usage: 0.5, perplexity: 2 });
    expect(await stats([3, 0, 2, 1], 4)).toEqual({ usage: 1, perplexity: 4 });
    expect(await stats([5, 5, 5, 5, 5, 5, 5, 5], 8)).toEqual({ usage: 0.125, perplexity: 1 });
    const skewed = await stats([0, 0, 0, 1], 4);
    expect(skewed.usage).toBe(0.5);
    expect(skewed.perplexity).toBeCloseTo(Math.exp(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25))), 6);
  });
});

describe("traceability", () => {
  it("every function traces with makeJaxpr (for ONNX export)", () => {
    const cfg = cfgOf({ codes: 16, dim: 4 });
    type AnyFn = (...args: unknown[]) => JsTree<np.Array>;
    const trace = (f: AnyFn, ...args: unknown[]) => makeJaxpr(f)(...args).jaxpr.jaxpr.eqns.length;
    expect(trace(((cb: np.Array, z: np.Array) => quantize({ codebook_KD: cb }, z, cfg)) as unknown as AnyFn, np.ones([16, 4]), np.ones([2, 8, 4]))).toBeGreaterThan(0);
    expect(
      trace(((cs: np.Array, es: np.Array, z: np.Array, i: np.Array) => emaUpdate({ clusterSize_K: cs, embedSum_KD: es }, z, i, cfg)) as unknown as AnyFn,
        np.ones([16]), np.ones([16, 4]), np.ones([8, 4]), np.zeros([8], { dtype: np.int32 })),
    ).toBeGreaterThan(0);
    expect(
      trace(((cb: np.Array, age: np.Array, z: np.Array, key: np.Array) => resetDeadCodes(cb, age, z, key, cfg)) as unknown as AnyFn,
        np.ones([16, 4]), initCodeAge(cfg), np.ones([32, 4]), makeKey(1)),
    ).toBeGreaterThan(0);
    expect(trace(((i: np.Array) => codebookStats(i, 16)) as unknown as AnyFn, np.zeros([8], { dtype: np.int32 }))).toBeGreaterThan(0);
  });
});
