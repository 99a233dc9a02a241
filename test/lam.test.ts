import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, np, tree } from "../src/core/index.js";
import { resolveConfig } from "../src/core/config.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { getWorld } from "../src/worlds/index.js";
import { LAM_DEFAULTS, decodeNext, decoderBestCode, decoderKeepMask, encodeActions, initLam, lamLoss, poolTokens, predictEveryAction } from "../src/models/lam.js";
import { hostRng } from "../src/core/keys.js";
import { changeSigns, globalWarp, offsetDistribution, poolFrames } from "../src/models/motion.js";
import { runTraining } from "../src/train/loop.js";
import { LAM_RUN_DEFAULTS, lamPhase } from "../src/train/lam-phase.js";
import type { LamRunConfig } from "../src/train/lam-phase.js";
import { codePairDifferences, confusionTable, evalLam, nmi, purity, sensitivity } from "../src/eval/lam-eval.js";
import { disposeLam, loadLam, saveWorldLam } from "../src/world/lam-io.js";
import { calibrateActions, estimateShift, keyOfAction, readActionsFile, writeActionsFile } from "../src/world/calibration.js";

const dir = mkdtempSync(join(tmpdir(), "wk-lam-"));
const tiny = { height: 16, width: 16, channels: 3, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 4, codeDim: 8 };
const cfg = { ...LAM_DEFAULTS, ...tiny };

beforeAll(async () => {
  await initDevice();
  await generateDataset({ world: getWorld("platformer"), episodes: 4, frames: 12, size: [16, 16], seed: 5, out: join(dir, "data") });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function frames(T: number, seed: number): Float32Array {
  return Float32Array.from({ length: T * 16 * 16 * 3 }, (_, i) => ((i * 7919 + seed * 104729) % 101) / 101);
}

describe("lam metrics", () => {
  it("confusion, purity and NMI of a hand-made assignment", () => {
    // actions 0,0,1,1,2,2 ; codes 0,0,1,1,1,-skip: action -1 is ignored
    const table = confusionTable([0, 0, 1, 1, 2, 2, -1], [0, 0, 1, 1, 1, 1, 3], 3, 4);
    expect(table).toEqual([
      [2, 0, 0, 0],
      [0, 2, 0, 0],
      [0, 2, 0, 0],
    ]);
    expect(purity(table)).toBeCloseTo(4 / 6, 12);
    // H(action) = ln 3, H(code) = H(1/3, 2/3), I = H(code) (code is a function of action).
    const hc = -(1 / 3) * Math.log(1 / 3) - (2 / 3) * Math.log(2 / 3);
    expect(nmi(table)).toBeCloseTo(hc / ((Math.log(3) + hc) / 2), 12);
    expect(nmi([[5, 0], [0, 7]])).toBeCloseTo(1, 12);
    expect(nmi([[3, 3], [2, 2]])).toBeCloseTo(0, 12);
    expect(purity([[3, 3], [2, 2]])).toBeCloseTo(6 / 10, 12);
  });

  it("code pair differences and sensitivity", () => {
    const pred = Float32Array.from([0, 0, 1, 1, 0, 2]); // 3 codes × 2 values
    const d = codePairDifferences(pred, 3);
    expect(d).toEqual([
      [0, 1, 1],
      [1, 0, 1],
      [1, 1, 0],
    ]);
    expect(sensitivity(d)).toBe(1);
  });
});

describe("calibration", () => {
  it("finds the global shift of a moved frame exactly", () => {
    const H = 16;
    const W = 16;
    const a = Float32Array.from({ length: H * W * 3 }, (_, i) => Math.sin(Math.floor(i / 3) * 0.37) * 0.5 + 0.5);
    const b = new Float32Array(H * W * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) b[(y * W + x) * 3 + c] = a[((((y + 1) % H) * W + ((x - 2 + W) % W)) * 3) + c];
    // b(x, y) = a(x − 2, y + 1): the scene moved 2 right and 1 up.
    expect(estimateShift(a, b, H, W, 3)).toEqual([2, -1]);
    expect(estimateShift(a, a, H, W, 3)).toEqual([0, 0]);
  });

  it("labels codes by their true actions, keys unique, unused codes not distinct", async () => {
    expect(keyOfAction("left+jump")).toBe("ArrowLeft+Space");
    expect(keyOfAction("noop")).toBe("");
    expect(keyOfAction("dance")).toBeNull();
    const names = ["noop", "left", "right"];
    const confusion = [
      [50, 0, 0, 0],
      [0, 40, 0, 30],
      [0, 0, 60, 0],
    ];
    const total = 180;
    const file = calibrateActions({
      shares: [50 / total, 40 / total, 60 / total, 30 / total],
      meanShifts: [[0, 0], [1.5, 0], [-1.5, 0], [1.4, 0]],
      pairDiff: [
        [0, 1, 1, 1],
        [1, 0, 1, 0.5],
        [1, 1, 0, 1],
        [1, 0.5, 1, 0],
      ],
      confusion,
      actionNames: names,
      source: { model: "m", data: "d" },
    });
    expect(file.method).toBe("true-actions");
    expect(file.actions.map((e) => e.label)).toEqual(["noop", "left", "right", "left"]);
    expect(file.actions.map((e) => e.key)).toEqual(["", "ArrowLeft", "ArrowRight", null]);
    expect(file.actions.every((e) => e.distinct)).toBe(true);

    const motion = calibrateActions({
      shares: [0.5, 0.5, 0, 0],
      meanShifts: [[-1.2, 0], [0.1, 0], [0, 0], [0, 0]],
      pairDiff: [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
      source: { model: "m", data: "d" },
    });
    expect(motion.method).toBe("motion");
    expect(motion.actions.map((e) => [e.label, e.key, e.distinct])).toEqual([
      ["scene ←", "ArrowRight", true],
      ["still", "", true],
      ["still", null, false],
      ["still", null, false],
    ]);
    await writeActionsFile(join(dir, "actions.json"), motion);
    expect(readActionsFile(dir)).toEqual(motion);
  });
});

describe("lam model", () => {
  it("the latent of transition t depends on frames ≤ t+1 only, and has unit norm", async () => {
    const { params, state } = initLam(makeKey(3), cfg);
    tree.dispose(state as unknown as ParamTree);
    const base = frames(3, 1);
    const changed = base.slice();
    for (let i = 2 * 768; i < 3 * 768; i++) changed[i] = 1 - changed[i];
    const enc = (x: Float32Array) => encodeActions(tree.ref(params as unknown as ParamTree) as never, np.array(x, { shape: [1, 3, 16, 16, 3] }), cfg).data();
    const z1 = (await enc(base)) as Float32Array;
    const z2 = (await enc(changed)) as Float32Array;
    tree.dispose(params as unknown as ParamTree);
    expect(Array.from(z2.subarray(0, 8))).toEqual(Array.from(z1.subarray(0, 8)));
    expect(Array.from(z2.subarray(8))).not.toEqual(Array.from(z1.subarray(8)));
    expect(Math.hypot(...z1.subarray(0, 8))).toBeCloseTo(1, 4);
  });

  it("predicts the next frame under every code: shape (A, B, H, W, C), values in [0, 1]", async () => {
    const { params, state } = initLam(makeKey(4), cfg);
    const pred = predictEveryAction(params, state.codebook_KD.ref, np.array(frames(2, 2), { shape: [2, 16, 16, 3] }), cfg);
    tree.dispose(state as unknown as ParamTree);
    expect(pred.shape).toEqual([4, 2, 16, 16, 3]);
    const v = (await pred.data()) as Float32Array;
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
  });
});

describe("lam pooling", () => {
  it("poolFrames averages pool×pool blocks exactly", async () => {
    const x = Float32Array.from({ length: 2 * 4 * 6 * 3 }, (_, i) => i % 17);
    const y = (await poolFrames(np.array(x, { shape: [2, 4, 6, 3] }), 2).data()) as Float32Array;
    const at = (b: number, r: number, c: number, ch: number) => x[((b * 4 + r) * 6 + c) * 3 + ch];
    const want: number[] = [];
    for (let b = 0; b < 2; b++) for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) for (let ch = 0; ch < 3; ch++) {
      want.push((at(b, 2 * r, 2 * c, ch) + at(b, 2 * r, 2 * c + 1, ch) + at(b, 2 * r + 1, 2 * c, ch) + at(b, 2 * r + 1, 2 * c + 1, ch)) / 4);
    }
    expect(Array.from(y)).toEqual(want);
  });

  it("poolTokens: the mean of each cell of a g×g token grid, then the max over all tokens", async () => {
    // (B=1, U=2, 4×6 tokens, D=3), cells of 2×3 tokens.
    const [U, rows, cols, D] = [2, 4, 6, 3];
    const x = Float32Array.from({ length: U * rows * cols * D }, (_, i) => (i * 37) % 23);
    const y = (await poolTokens(np.array(x, { shape: [1, U, rows * cols, D] }), rows, cols, 2).data()) as Float32Array;
    const at = (u: number, r: number, c: number, d: number) => x[((u * rows + r) * cols + c) * D + d];
    const want: number[] = [];
    for (let u = 0; u < U; u++) {
      for (let gy = 0; gy < 2; gy++) for (let gx = 0; gx < 2; gx++) for (let d = 0; d < D; d++) {
        let s = 0;
        for (let r = 0; r < 2; r++) for (let c = 0; c < 3; c++) s += at(u, gy * 2 + r, gx * 3 + c, d);
        want.push(s / 6);
      }
      for (let d = 0; d < D; d++) {
        let m = -Infinity;
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m = Math.max(m, at(u, r, c, d));
        want.push(m);
      }
    }
    expect(y.length).toBe(want.length);
    y.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    // Mirroring the tokens left-right keeps the whole-frame mean but swaps the cells' means.
    const mirrored = new Float32Array(x.length);
    for (let u = 0; u < U; u++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let d = 0; d < D; d++) mirrored[((u * rows + r) * cols + c) * D + d] = at(u, r, cols - 1 - c, d);
    const pool = async (v: Float32Array, g: number) => Array.from((await poolTokens(np.array(v, { shape: [1, U, rows * cols, D] }), rows, cols, g).data()) as Float32Array);
    const [a1, b1] = [await pool(x, 1), await pool(mirrored, 1)];
    a1.forEach((v, i) => expect(b1[i]).toBeCloseTo(v, 5));
    expect(await pool(mirrored, 2)).not.toEqual(await pool(x, 2));
    expect(() => poolTokens(np.zeros([1, 1, rows * cols, D]), rows, cols, 4)).toThrow(/4×4 cells/);
    expect(() => initLam(makeKey(0), { ...cfg, codeRegions: 3 })).toThrow(/codeRegions/);
  });

  it("a pooled FiLM + warp + cost-volume LAM (codes from the change) encodes full-size frames and predicts them at full size, blockwise constant", async () => {
    const pooled = { ...cfg, pool: 2, patch: 2, decoderAction: "film" as const, decoderWarp: 1, costVolume: 1, flowWeight: 0.01, codeFrom: "change" as const };
    expect(() => initLam(makeKey(5), { ...cfg, decoderAction: "mul" as never })).toThrow(/"decoderAction" must be "add" or "film", got "mul"/);
    expect(() => initLam(makeKey(5), { ...cfg, flowWeight: 0.1 })).toThrow(/"flowWeight" 0.1 needs "costVolume" > 0/);
    expect(() => initLam(makeKey(5), { ...cfg, pool: 3 })).toThrow(/"pool" 3 times "patch" 4 must divide the frame size 16×16/);
    const { params, state } = initLam(makeKey(5), pooled);
    const z = encodeActions(tree.ref(params as unknown as ParamTree) as never, np.array(frames(3, 1), { shape: [1, 3, 16, 16, 3] }), pooled);
    expect(z.shape).toEqual([1, 2, 8]);
    z.dispose();
    const { loss, aux } = lamLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, np.array(frames(3, 1), { shape: [1, 3, 16, 16, 3] }), pooled);
    const withFlow = ((await loss.data()) as Float32Array)[0];
    tree.dispose(aux as never);
    const off = lamLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, np.array(frames(3, 1), { shape: [1, 3, 16, 16, 3] }), { ...pooled, flowWeight: 0 });
    const without = ((await off.loss.data()) as Float32Array)[0];
    tree.dispose(off.aux as never);
    // The flow term is 0.01 × a cross-entropy over (2·1+1)² = 9 offsets (about ln 9 at init).
    expect(withFlow - without).toBeGreaterThan(0.01 * 0.5 * Math.log(9));
    expect(withFlow - without).toBeLessThan(0.01 * 3 * Math.log(9));
    const pred = predictEveryAction(params, state.codebook_KD.ref, np.array(frames(2, 2), { shape: [2, 16, 16, 3] }), pooled);
    tree.dispose(state as unknown as ParamTree);
    expect(pred.shape).toEqual([4, 2, 16, 16, 3]);
    const v = (await pred.data()) as Float32Array;
    // The codes scale and shift the decoder's features: their predictions differ.
    const one = 2 * 16 * 16 * 3;
    expect(Array.from(v.subarray(0, one))).not.toEqual(Array.from(v.subarray(one, 2 * one)));
    // Each 2×2 block holds one value (the pooled prediction repeated).
    const px = (r: number, c: number) => v[(r * 16 + c) * 3];
    for (let r = 0; r < 16; r += 2) for (let c = 0; c < 16; c += 2) {
      expect(px(r, c + 1)).toBe(px(r, c));
      expect(px(r + 1, c)).toBe(px(r, c));
    }
  });

  it("decoderDrop: zeroed input tokens hide x_t from the decoder there; all kept is the plain decoder; the mask drops about that fraction", async () => {
    const drop = { ...cfg, decoderDrop: 0.5, decoderMotion: false };
    const m = decoderKeepMask(drop, 4, 2, hostRng(3));
    expect(m.shape).toEqual([4, 2, 16]); // 16×16 frames, patch 4: 16 tokens
    const zeros = m.data.filter((v) => v === 0).length;
    expect(zeros).toBeGreaterThan(0.3 * 128);
    expect(zeros).toBeLessThan(0.7 * 128);
    expect(Array.from(decoderKeepMask(drop, 4, 2, hostRng(3)).data)).toEqual(Array.from(m.data));
    expect(() => decoderKeepMask({ ...drop, decoderDrop: 1 }, 1, 1, hostRng(1))).toThrow(/"decoderDrop" must be in \[0, 1\), got 1/);
    const { params, state } = initLam(makeKey(7), drop);
    const zq = () => np.array(Float32Array.from({ length: 2 * 8 }, (_, i) => Math.sin(i)), { shape: [1, 2, 8] });
    const framesA = frames(2, 1), framesB = frames(2, 2);
    // Δ = x̂ − x_t for two different x_t under one keep mask.
    const delta = async (f: Float32Array, keep: Float32Array | null) => {
      const x = () => np.array(f, { shape: [1, 2, 16, 16, 3] });
      const k = keep ? np.array(keep, { shape: [1, 2, 16] }) : undefined;
      const out = decodeNext(tree.ref(params as unknown as ParamTree) as never, x(), np.zeros([1, 2, 16, 16, 3]), zq(), drop, k);
      const v = (await out.sub(x()).data()) as Float32Array;
      return Array.from(v);
    };
    const none = new Float32Array(32);
    const all = new Float32Array(32).fill(1);
    // Every token hidden: the prediction's change does not depend on x_t at all.
    const [a0, b0] = [await delta(framesA, none), await delta(framesB, none)];
    for (let i = 0; i < a0.length; i++) expect(a0[i]).toBeCloseTo(b0[i], 5);
    // Every token kept: exactly the decoder without a mask, which does see x_t.
    const [a1, plain] = [await delta(framesA, all), await delta(framesA, null)];
    expect(a1).toEqual(plain);
    expect(a1).not.toEqual(await delta(framesB, all));
    tree.dispose(params as unknown as ParamTree);
    tree.dispose(state as unknown as ParamTree);
  });

  it("warpFrom decoder: the decoder's region tokens correct the code's warp kernels; with that correction zero it is the code's warp exactly", async () => {
    const base = { ...cfg, patch: 2, decoderWarp: 1, warpRegions: 2, decoderMotion: false };
    expect(() => initLam(makeKey(8), { ...base, warpFrom: "frame" as never })).toThrow(/"warpFrom" must be "code" or "decoder", got "frame"/);
    const { params, state } = initLam(makeKey(8), { ...base, warpFrom: "decoder" as const });
    expect(params.warpOut!.w.shape).toEqual([cfg.dim, 9]);
    const zq = () => np.array(Float32Array.from({ length: 2 * 8 }, (_, i) => Math.cos(i)), { shape: [1, 2, 8] });
    const predict = async (p: unknown, c: typeof base & { warpFrom: "code" | "decoder" }, f: Float32Array) => {
      const out = decodeNext(tree.ref(p as ParamTree) as never, np.array(f, { shape: [1, 2, 16, 16, 3] }), np.zeros([1, 2, 16, 16, 3]), zq(), c);
      return Array.from((await out.data()) as Float32Array);
    };
    const fromDecoder = await predict(params, { ...base, warpFrom: "decoder" }, frames(2, 1));
    const { warpOut, ...codeOnly } = params;
    expect(fromDecoder).not.toEqual(await predict(codeOnly, { ...base, warpFrom: "code" }, frames(2, 1)));
    const zeroed = { ...codeOnly, warpOut: { w: np.zeros(warpOut!.w.shape), b: np.zeros(warpOut!.b!.shape) } };
    const a = await predict(zeroed, { ...base, warpFrom: "decoder" }, frames(2, 1));
    const b = await predict(codeOnly, { ...base, warpFrom: "code" }, frames(2, 1));
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6);
    tree.dispose(warpOut as never);
    tree.dispose(zeroed as unknown as ParamTree);
    tree.dispose(state as unknown as ParamTree);
  });

  it("fineFlow: a full-size cost volume per pooled token feeds the encoder and adds a second flow term the code must explain", async () => {
    const pooled = { ...cfg, pool: 2, patch: 2, decoderWarp: 1, costVolume: 1, flowWeight: 0.01 };
    const fine = { ...pooled, fineFlow: 2 };
    expect(() => initLam(makeKey(6), { ...pooled, fineFlow: -1 })).toThrow(/"fineFlow" must be a non-negative integer, got -1/);
    const { params, state } = initLam(makeKey(6), fine);
    // (2·2+1)² = 25 offsets in, and the code's prediction of them for each of the 4×4 tokens.
    expect(params.fineFlowIn!.w.shape).toEqual([25, cfg.dim]);
    expect(params.fineFlowOut!.w.shape).toEqual([cfg.codeDim, 16 * 25]);
    const x = () => np.array(frames(3, 1), { shape: [1, 3, 16, 16, 3] });
    const z = encodeActions(tree.ref(params as unknown as ParamTree) as never, x(), fine);
    expect(z.shape).toEqual([1, 2, 8]);
    z.dispose();
    const lossOf = async (c: typeof fine) => {
      const { loss, aux } = lamLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, x(), c);
      tree.dispose(aux as never);
      return ((await loss.data()) as Float32Array)[0];
    };
    const both = await lossOf(fine);
    // Without the pooled flow head's weight, the fine term goes too: what is left is the reconstruction.
    const none = await lossOf({ ...fine, flowWeight: 0 });
    tree.dispose(params as unknown as ParamTree);
    tree.dispose(state as unknown as ParamTree);
    // Two cross-entropies at init: about 0.01·(ln 9 + ln 25).
    expect(both - none).toBeGreaterThan(0.01 * 0.5 * (Math.log(9) + Math.log(25)));
    expect(both - none).toBeLessThan(0.01 * 3 * (Math.log(9) + Math.log(25)));
  });
});

describe("lam global warp", () => {
  it("a one-hot kernel shifts the whole frame exactly, zeros shifted in; the default kernel is ≈ identity", async () => {
    const H = 5, W = 6, C = 2, r = 2, J = 25;
    const x = Float32Array.from({ length: 2 * H * W * C }, (_, i) => (i % 13) + 1);
    const logits = new Float32Array(2 * J);
    // frame 0: offset (dy, dx) = (1, −2); frame 1: (−2, 1). Index j = (dy + r)·5 + (dx + r).
    logits[(1 + r) * 5 + (-2 + r)] = 100;
    logits[J + (-2 + r) * 5 + (1 + r)] = 100;
    const y = (await globalWarp(np.array(x, { shape: [2, H, W, C] }), np.array(logits, { shape: [2, J] }), r).data()) as Float32Array;
    const shifts = [[1, -2], [-2, 1]];
    for (let f = 0; f < 2; f++) for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) {
      const [dy, dx] = shifts[f];
      const sy = yy - dy, sx = xx - dx;
      const want = sy >= 0 && sy < H && sx >= 0 && sx < W ? x[((f * H + sy) * W + sx) * C + c] : 0;
      expect(y[((f * H + yy) * W + xx) * C + c]).toBeCloseTo(want, 4);
    }
    // Zero logits: the centre bonus makes the warp nearly the identity.
    const id = (await globalWarp(np.array(x, { shape: [2, H, W, C] }), np.zeros([2, J]), r).data()) as Float32Array;
    let err = 0;
    id.forEach((v, i) => (err = Math.max(err, Math.abs(v - x[i]) / 13)));
    expect(err).toBeLessThan(0.05);
  });
  it("with a 2×2 grid each region moves by its own kernel (reading across region borders)", async () => {
    const H = 6, W = 8, C = 1, r = 1, K = 9, g = 2;
    const x = Float32Array.from({ length: H * W * C }, (_, i) => i + 1);
    // Regions row-major: (top-left, top-right, bottom-left, bottom-right) move by these (dy, dx).
    const shifts = [[0, -1], [0, 1], [1, 0], [-1, 1]];
    const logits = new Float32Array(g * g * K);
    shifts.forEach(([dy, dx], q) => (logits[q * K + (dy + r) * 3 + (dx + r)] = 100));
    const y = (await globalWarp(np.array(x, { shape: [1, H, W, C] }), np.array(logits, { shape: [1, g * g * K] }), r, g).data()) as Float32Array;
    for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) {
      const [dy, dx] = shifts[Math.floor(yy / (H / g)) * g + Math.floor(xx / (W / g))];
      const sy = yy - dy, sx = xx - dx;
      const want = sy >= 0 && sy < H && sx >= 0 && sx < W ? x[sy * W + sx] : 0;
      expect(y[yy * W + xx]).toBeCloseTo(want, 4);
    }
    expect(() => globalWarp(np.zeros([1, 5, 8, 1]), np.zeros([1, g * g * K]), r, g)).toThrow(/5×8 frame does not split into 2×2 regions/);
  });
});

describe("lam cost volume", () => {
  it("each interior token's offset distribution peaks at the shift that maps x_t onto x_t+1", async () => {
    const H = 16, W = 16, C = 3, r = 2, P = 4;
    const tex = (y: number, x: number, c: number) => ((y * 31 + x * 17 + c * 7 + ((x * y) % 5) * 13) % 23) / 23;
    // frame 1 = frame 0 moved down 1 and left 2: x1[y, x] = x0[y − 1, x + 2]
    const x = new Float32Array(2 * H * W * C);
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) {
      x[(y * W + xx) * C + c] = tex(y, xx, c);
      x[H * W * C + (y * W + xx) * C + c] = tex(y - 1, xx + 2, c);
    }
    const d = offsetDistribution(np.array(x, { shape: [1, 2, H, W, C] }), r, P);
    expect(d.shape).toEqual([1, 1, 16, 25]);
    const v = (await d.data()) as Float32Array;
    const want = (1 + r) * 5 + (-2 + r); // (dy, dx) = (1, −2)
    // The interior tokens (border tokens also see the zeros shifted in at the frame's edge).
    for (const n of [5, 6, 9, 10]) {
      const row = Array.from(v.subarray(n * 25, n * 25 + 25));
      expect(row.reduce((a, b) => a + b)).toBeCloseTo(1, 5);
      expect(row.indexOf(Math.max(...row))).toBe(want);
    }
  });
});

describe("lam change signs", () => {
  it("one-hot (down, same, up) per token and channel, 'same' within the threshold", async () => {
    const H = 4, W = 4, C = 2, P = 2;
    // Two frames; token (row, col) of 2×2 pixels; channel 0 changes by +0.1 in token 0, −0.1 in
    // token 3, +0.001 in token 1 (under the threshold); channel 1 does not change.
    const x = new Float32Array(2 * H * W * C).fill(0.5);
    const add = (tr: number, tc: number, c: number, v: number) => {
      for (let y = tr * P; y < tr * P + P; y++) for (let xx = tc * P; xx < tc * P + P; xx++) x[((H + y) * W + xx) * C + c] += v;
    };
    add(0, 0, 0, 0.1);
    add(1, 1, 0, -0.1);
    add(0, 1, 0, 0.001);
    const s = changeSigns(np.array(x, { shape: [1, 2, H, W, C] }), P, 0.002);
    expect(s.shape).toEqual([1, 1, 4, C, 3]);
    const v = Array.from((await s.data()) as Float32Array);
    const at = (n: number, c: number) => v.slice((n * C + c) * 3, (n * C + c) * 3 + 3);
    expect(at(0, 0)).toEqual([0, 0, 1]);
    expect(at(1, 0)).toEqual([0, 1, 0]);
    expect(at(2, 0)).toEqual([0, 1, 0]);
    expect(at(3, 0)).toEqual([1, 0, 0]);
    for (let n = 0; n < 4; n++) expect(at(n, 1)).toEqual([0, 1, 0]);
  });

  it("assignWeight: the decoder's best code per transition, and a cross-entropy teaching the encoder to pick it", async () => {
    const c = { ...cfg, decoderMotion: false, assignWeight: 0.5, assignSharpness: 3 };
    expect(() => initLam(makeKey(9), { ...c, assignWeight: -1 })).toThrow(/"assignWeight" must be ≥ 0, got -1/);
    const { params, state } = initLam(makeKey(9), c);
    const B = 3, H = 16, W = 16, C = 3, A = c.codes, d = c.codeDim;
    const clip = Float32Array.from({ length: B * 2 * H * W * C }, (_, i) => ((i * 7919) % 103) / 103);
    const x = () => np.array(clip, { shape: [B, 2, H, W, C] });
    const P = () => tree.ref(params as unknown as ParamTree) as never;
    const best = Array.from((await decoderBestCode(P(), state.codebook_KD.ref, x(), c).data()) as Int32Array);
    expect(best.length).toBe(B);
    // The same search on the host: decode every frame under every code, least squared error.
    const book = (await state.codebook_KD.ref.data()) as Float32Array;
    const F = H * W * C;
    const errs = Array.from({ length: B }, () => new Array<number>(A).fill(0));
    for (let k = 0; k < A; k++) {
      const prev = np.array(Float32Array.from({ length: B * F }, (_, i) => clip[Math.floor(i / F) * 2 * F + (i % F)]), { shape: [B, 1, H, W, C] });
      const zq = np.array(Float32Array.from({ length: B * d }, (_, i) => book[k * d + (i % d)]), { shape: [B, 1, d] });
      const y = (await decodeNext(P(), prev, np.zeros([B, 1, H, W, C]), zq, c).data()) as Float32Array;
      for (let b = 0; b < B; b++) for (let i = 0; i < F; i++) errs[b][k] += (y[b * F + i] - clip[(b * 2 + 1) * F + i]) ** 2;
    }
    expect(best).toEqual(errs.map((e) => e.indexOf(Math.min(...e))));
    // The term: −w · mean_b log softmax_k(−s‖z_b − e_k‖²)[best_b].
    const z = (await encodeActions(P(), x(), c).data()) as Float32Array;
    let ce = 0;
    for (let b = 0; b < B; b++) {
      const logits = Array.from({ length: A }, (_, k) => -c.assignSharpness * Array.from({ length: d }, (_, j) => (z[b * d + j] - book[k * d + j]) ** 2).reduce((s, v) => s + v, 0));
      const m = Math.max(...logits);
      const lse = m + Math.log(logits.reduce((s, v) => s + Math.exp(v - m), 0));
      ce -= logits[best[b]] - lse;
    }
    const lossOf = async (w: number) => {
      const { loss, aux } = lamLoss(P(), state.codebook_KD.ref, x(), { ...c, assignWeight: w });
      tree.dispose(aux as never);
      return ((await loss.data()) as Float32Array)[0];
    };
    const diff = (await lossOf(0.5)) - (await lossOf(0));
    tree.dispose(params as unknown as ParamTree);
    tree.dispose(state as unknown as ParamTree);
    expect(diff).toBeCloseTo((0.5 * ce) / B, 4);
  });

  it("changeNorm: each transition's error is divided by its mean squared change + ε, the weights scaled to mean 1", async () => {
    const norm = { ...cfg, changeNorm: 1e-3 };
    const { params, state } = initLam(makeKey(7), norm);
    const a = frames(1, 1);
    // Clip 0 changes a lot (every value +0.2), clip 1 a little (+0.01 on a quarter of them).
    const clip = (u: number) => Float32Array.from([...a, ...a.map((v, i) => v + (u === 0 ? 0.2 : i % 4 === 0 ? 0.01 : 0))]);
    const msq = [0.04, 0.0001 / 4];
    const run = async (x: Float32Array, B: number, c: typeof cfg) => {
      const r = lamLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, np.array(x, { shape: [B, 2, 16, 16, 3] }), c);
      const [loss, commit] = [((await r.loss.data()) as Float32Array)[0], ((await r.aux.commit.ref.data()) as Float32Array)[0]];
      tree.dispose(r.aux as never);
      return { loss, commit };
    };
    const one = [await run(clip(0), 1, cfg), await run(clip(1), 1, cfg)];
    const err = one.map((o) => o.loss - o.commit);
    const both = Float32Array.from([...clip(0), ...clip(1)]);
    const plain = await run(both, 2, cfg);
    const normed = await run(both, 2, norm);
    const inv = msq.map((m) => 1 / (m + 1e-3));
    const w = inv.map((v) => v / ((inv[0] + inv[1]) / 2));
    expect(plain.loss - plain.commit).toBeCloseTo((err[0] + err[1]) / 2, 4);
    expect(normed.commit).toBeCloseTo(plain.commit, 6);
    expect(normed.loss - normed.commit).toBeCloseTo((w[0] * err[0] + w[1] * err[1]) / 2, 4);
    // The small change now counts ~40× more than the large one.
    expect(w[1] / w[0]).toBeGreaterThan(30);
    tree.dispose([params as unknown as ParamTree, state as unknown as ParamTree]);
  });

  it("adds signWeight × a cross-entropy over 3 classes per token and channel to the loss", async () => {
    const base = { ...cfg, signWeight: 0 };
    const withSign = { ...cfg, signWeight: 0.1 };
    const { params, state } = initLam(makeKey(6), withSign);
    const x = () => np.array(frames(3, 1), { shape: [1, 3, 16, 16, 3] });
    const a = lamLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, x(), withSign);
    const on = ((await a.loss.data()) as Float32Array)[0];
    tree.dispose(a.aux as never);
    const b = lamLoss(params as never, state.codebook_KD.ref, x(), base);
    const off = ((await b.loss.data()) as Float32Array)[0];
    tree.dispose(b.aux as never);
    tree.dispose(state as unknown as ParamTree);
    expect(on - off).toBeGreaterThan(0.1 * 0.5 * Math.log(3));
    expect(on - off).toBeLessThan(0.1 * 3 * Math.log(3));
  });
});

describe("lam training and eval", () => {
  it("trains, resumes into the same run, loads, evaluates and calibrates", async () => {
    const run: LamRunConfig = resolveConfig(LAM_RUN_DEFAULTS, {
      values: {
        lam: tiny,
        train: { steps: 12, logEvery: 1, valEvery: 12, valBatches: 1, sampleEvery: 12, ckptEvery: 6, warmupSteps: 2, threads: 1 },
        data: { dir: join(dir, "data"), batch: 2, frames: 3 },
      },
      source: "test",
    });
    const train = async (opts: { stopAt?: number; resume?: boolean }) => {
      const phase = lamPhase(run, openDataset(join(dir, "data")));
      const r = await runTraining(phase, { out: join(dir, "run"), command: ["test"], quiet: true, ...opts });
      phase.dispose?.();
      tree.dispose(r.params as unknown as ParamTree);
      tree.dispose(r.state as unknown as ParamTree);
      return r;
    };
    await train({ stopAt: 6 });
    const r = await train({ resume: true });
    expect(r.step).toBe(12);
    expect(Number.isFinite(r.lastMetrics.loss)).toBe(true);
    expect(existsSync(join(dir, "run", "samples", "codes-000012.png"))).toBe(true);

    const lam = await loadLam(join(dir, "run"));
    expect(lam.step).toBe(12);
    expect(lam.codebook_KD.shape).toEqual([4, 8]);
    await saveWorldLam(join(dir), lam);
    disposeLam(lam);
    const world = await loadLam(dir);
    const e = await evalLam(world, openDataset(join(dir, "data")), { frames: 3, batch: 4, maxClips: 20 });
    disposeLam(world);
    // 4 episodes × 12 frames: clips start every 2 frames (5 per episode), 2 transitions each.
    expect(e.transitions).toBe(40);
    expect(e.confusion!.length).toBe(6);
    expect(e.confusion!.flat().reduce((s, v) => s + v, 0)).toBe(40);
    expect(e.code_share.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
    expect(e.purity).toBeGreaterThan(0);
    expect(e.purity).toBeLessThanOrEqual(1);
    expect(e.nmi).toBeGreaterThanOrEqual(0);
    // The platformer has effective actions: a key without effect counts as what it did.
    expect(e.effective_confusion!.flat().reduce((s, v) => s + v, 0)).toBe(40);
    expect(e.purity_if_effective).toBeGreaterThan(0);
    expect(e.purity_if_effective).toBeLessThanOrEqual(1);
    expect(e.codes_used).toBeGreaterThanOrEqual(1);
    expect(e.actions.actions.length).toBe(4);
    expect(e.strip.subarray(1, 4)).toEqual(new Uint8Array([80, 78, 71])); // "PNG"
    // 4 samples (batch 4), each a row of frames and a row of changes; x_t, x_t+1 and 4 codes; 16×16 tiles at 2×, 2 px gaps.
    const dims = new DataView(e.strip.buffer, e.strip.byteOffset + 16, 8);
    expect([dims.getUint32(0), dims.getUint32(4)]).toEqual([6 * 32 + 7 * 2, 8 * 32 + 9 * 2]);
  });
});
