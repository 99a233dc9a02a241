import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, np, tree } from "../src/core/index.js";
import { resolveConfig } from "../src/core/config.js";
import { namedLeaves } from "../src/core/tree-names.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { getWorld } from "../src/worlds/index.js";
import { changeWeights, encode, initTokenizer, tokenize, tokenizerLoss, TOKENIZER_DEFAULTS } from "../src/models/tokenizer.js";
import { keep } from "../src/core/refs.js";

/** A trained run's tokens of x (consumes x). */
const encodeTokens = (r: { params: unknown; state: { codebook_KD: { ref: unknown } } }, x: ReturnType<typeof np.array>) =>
  tokenize(keep(r.params as never), r.state.codebook_KD.ref as never, x, { ...TOKENIZER_DEFAULTS, ...tiny }).data();
import { runTraining } from "../src/train/loop.js";
import { TOKENIZER_RUN_DEFAULTS, tokenizerPhase } from "../src/train/tokenizer-phase.js";
import type { TokenizerRunConfig } from "../src/train/tokenizer-phase.js";
import { disposeTokenizer, loadTokenizer, saveWorldTokenizer } from "../src/world/tokenizer-io.js";
import { evalTokenizer } from "../src/eval/tokenizer-eval.js";

const dir = mkdtempSync(join(tmpdir(), "wk-tok-"));
const tiny = { height: 16, width: 16, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 64, codeDim: 8 };

beforeAll(async () => {
  await initDevice();
  await generateDataset({ world: getWorld("platformer"), episodes: 4, frames: 12, size: [16, 16], seed: 5, out: join(dir, "data") });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runConfig(train: Record<string, unknown>, data: Record<string, unknown> = {}): TokenizerRunConfig {
  return resolveConfig(TOKENIZER_RUN_DEFAULTS, {
    values: {
      tokenizer: tiny,
      train: { logEvery: 1, valEvery: 0, sampleEvery: 0, ckptEvery: 1000, warmupSteps: 10, threads: 1, ...train },
      data: { dir: join(dir, "data"), batch: 1, frames: 2, ...data },
    },
    source: "test",
  });
}

describe("tokenizer", () => {
  it("is causal in time: changing frame t+1 never changes the codes of frames ≤ t", async () => {
    const cfg = { ...TOKENIZER_DEFAULTS, ...tiny };
    const { params, state } = initTokenizer(makeKey(3), cfg);
    tree.dispose(state as unknown as ParamTree);
    const x = np.array(Float32Array.from({ length: 3 * 16 * 16 * 4 }, (_, i) => (i * 7919) % 101 / 101), { shape: [1, 3, 16, 16, 4] });
    const x2 = x.ref.add(np.array(Float32Array.from({ length: 3 * 16 * 16 * 4 }, (_, i) => (i >= 2 * 1024 ? 0.3 : 0)), { shape: [1, 3, 16, 16, 4] }));
    const z1 = (await encode(tree.ref(params as unknown as ParamTree) as never, x, cfg).data()) as Float32Array;
    const z2 = (await encode(params, x2, cfg).data()) as Float32Array;
    const perFrame = 16 * 8;
    expect(Array.from(z2.subarray(0, 2 * perFrame))).toEqual(Array.from(z1.subarray(0, 2 * perFrame)));
    expect(Array.from(z2.subarray(2 * perFrame))).not.toEqual(Array.from(z1.subarray(2 * perFrame)));
  });

  it("changeWeight: weights 1 + c·|x_t − x_t−1| per pixel; the weighted loss equals plain MSE on a still clip and differs on a moving one", async () => {
    // (B=1, T=2, 2×2, C=2): frame 1 differs from frame 0 in one pixel by (0.5, 0.3).
    const x0 = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
    const x1 = x0.slice();
    x1[6] += 0.5;
    x1[7] -= 0.3;
    const w = (await changeWeights(np.array(Float32Array.from([...x0, ...x1]), { shape: [1, 2, 2, 2, 2] }), 10).data()) as Float32Array;
    expect(Array.from(w).map((v) => +v.toFixed(5))).toEqual([1, 1, 1, 1, 1, 1, 1, 5]);
    const cfg = { ...TOKENIZER_DEFAULTS, ...tiny };
    const { params, state } = initTokenizer(makeKey(3), cfg);
    const lossOf = async (x: Float32Array, c: number) => {
      const r = tokenizerLoss(tree.ref(params as unknown as ParamTree) as never, state.codebook_KD.ref, np.array(x, { shape: [1, 2, 16, 16, 4] }), { ...cfg, changeWeight: c });
      const { rgbMse, ...rest } = r.aux;
      const [loss, rgb] = [(await r.loss.data())[0], (await rgbMse.data())[0]];
      tree.dispose(rest as unknown as ParamTree);
      return { loss, rgb };
    };
    const still = Float32Array.from({ length: 2 * 1024 }, (_, i) => ((i % 1024) * 7919) % 101 / 101);
    const moving = still.slice();
    for (let i = 1024; i < 1024 + 64; i++) moving[i] = 1 - moving[i];
    const [a, b] = [await lossOf(still, 0), await lossOf(still, 8)];
    expect(b.loss).toBeCloseTo(a.loss, 6);
    const [c, d] = [await lossOf(moving, 0), await lossOf(moving, 8)];
    expect(d.rgb).toBeCloseTo(c.rgb, 6); // the reported MSE stays unweighted
    expect(Math.abs(d.loss - c.loss)).toBeGreaterThan(1e-5);
    tree.dispose([params, state] as unknown as ParamTree);
  });

  it("overfits one tiny clip to ≥ 40 dB on onnxruntime", async () => {
    // One training episode, one clip: data.frames = the episode length.
    await generateDataset({ world: getWorld("bounce"), episodes: 1, frames: 2, size: [16, 16], seed: 11, out: join(dir, "one") });
    const cfg = runConfig({ steps: 800, lr: 3e-3, warmupSteps: 20, finalLrFraction: 0.05 }, { dir: join(dir, "one"), frames: 2 });
    const t0 = performance.now();
    const phase = tokenizerPhase({ ...cfg, train: { ...cfg.train } }, openDataset(join(dir, "one")));
    const r = await runTraining(phase, { out: join(dir, "overfit"), command: ["test"], quiet: true });
    const seconds = (performance.now() - t0) / 1000;
    phase.dispose?.();
    tree.dispose(r.params as unknown as ParamTree);
    tree.dispose(r.state as unknown as ParamTree);
    const psnr = -10 * Math.log10(r.lastMetrics.rgb_mse);
    console.log(`overfit: ${psnr.toFixed(1)} dB RGB after 800 steps in ${seconds.toFixed(1)} s`);
    expect(psnr).toBeGreaterThanOrEqual(40);
  });

  it("resume reproduces the uninterrupted loss curve exactly", async () => {
    const cfg = runConfig({ steps: 12, ckptEvery: 4 }, { batch: 2 });
    const losses = (run: string) =>
      readFileSync(join(dir, run, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((m) => m.split === "train").map((m) => m.loss as number);
    const train = async (run: string, opts: { stopAt?: number; resume?: boolean }) => {
      const phase = tokenizerPhase(cfg, openDataset(join(dir, "data")));
      const r = await runTraining(phase, { out: join(dir, run), command: ["test"], quiet: true, ...opts });
      phase.dispose?.();
      tree.dispose(r.params as unknown as ParamTree);
      tree.dispose(r.state as unknown as ParamTree);
    };
    await train("whole", {});
    await train("split", { stopAt: 7 });
    await train("split", { resume: true });
    const a = losses("whole");
    const b = losses("split");
    expect(a.length).toBe(12);
    expect(b).toEqual(a);
  });

  const host = async (a: { ref: { data(): Promise<unknown> } }) => Array.from((await a.ref.data()) as Float32Array);

  it("train.init starts from another run's params and state (fresh optimizer, step 0); a wrong shape is named", async () => {
    const base = runConfig({ steps: 3 });
    const phase = tokenizerPhase(base, openDataset(join(dir, "data")));
    const first = await runTraining(phase, { out: join(dir, "init-src"), command: ["test"], quiet: true });
    phase.dispose?.();
    const fine = tokenizerPhase(runConfig({ steps: 3, init: join(dir, "init-src") }), openDataset(join(dir, "data")));
    // stopAt 0: the loop takes no step, so what it returns is the initial params and state.
    const start = await runTraining(fine, { out: join(dir, "init-dst"), command: ["test"], quiet: true, stopAt: 0 });
    fine.dispose?.();
    expect(await host(start.params.patchIn.w)).toEqual(await host(first.params.patchIn.w));
    expect(await host(start.state.codebook_KD)).toEqual(await host(first.state.codebook_KD));
    const wrong = tokenizerPhase(
      resolveConfig(TOKENIZER_RUN_DEFAULTS, { values: { ...runConfig({ init: join(dir, "init-src") }), tokenizer: { ...tiny, dim: 48 } }, source: "test" }),
      openDataset(join(dir, "data")),
    );
    await expect(runTraining(wrong, { out: join(dir, "init-wrong"), command: ["test"], quiet: true, stopAt: 0 })).rejects.toThrow(/shape|does not match/);
    wrong.dispose?.();
    await expect(
      runTraining(tokenizerPhase(runConfig({ init: join(dir, "nowhere") }), openDataset(join(dir, "data"))), { out: join(dir, "init-none"), command: ["test"], quiet: true }),
    ).rejects.toThrow(/train.init .*nowhere: no checkpoint there/);
    for (const r of [first, start]) {
      tree.dispose(r.params as unknown as ParamTree);
      tree.dispose(r.state as unknown as ParamTree);
    }
  });

  it("train.initLayers starts a shallower model from picked blocks of a deeper one; a bad pick is named", async () => {
    const deep = (train: Record<string, unknown>, layers: number) =>
      resolveConfig(TOKENIZER_RUN_DEFAULTS, { values: { ...runConfig(train), tokenizer: { ...tiny, encoderLayers: layers, decoderLayers: layers } }, source: "test" });
    const phase = tokenizerPhase(deep({ steps: 2 }, 3), openDataset(join(dir, "data")));
    const src = await runTraining(phase, { out: join(dir, "layers-src"), command: ["test"], quiet: true });
    phase.dispose?.();
    const fine = tokenizerPhase(deep({ steps: 2, init: join(dir, "layers-src"), initLayers: "2,0" }, 2), openDataset(join(dir, "data")));
    const start = await runTraining(fine, { out: join(dir, "layers-dst"), command: ["test"], quiet: true, stopAt: 0 });
    fine.dispose?.();
    const srcLeaves = new Map(namedLeaves(src.params as unknown as ParamTree));
    const dstLeaves = namedLeaves(start.params as unknown as ParamTree);
    expect(dstLeaves.length).toBeLessThan(srcLeaves.size);
    let blockLeaves = 0;
    for (const [name, x] of dstLeaves) {
      // Block 0 of the new model is block 2 of the old, block 1 is block 0; all else by name.
      const from = name.replace(/\.blocks\.(\d+)\./, (_, i: string) => `.blocks.${[2, 0][Number(i)]}.`);
      if (from !== name || /\.blocks\.0\./.test(name)) blockLeaves++;
      expect(await host(x), name).toEqual(await host(srcLeaves.get(from)!));
    }
    expect(blockLeaves).toBeGreaterThan(0);
    expect(await host(start.state.codebook_KD)).toEqual(await host(src.state.codebook_KD));
    const bad = tokenizerPhase(deep({ init: join(dir, "layers-src"), initLayers: "0,3" }, 2), openDataset(join(dir, "data")));
    await expect(runTraining(bad, { out: join(dir, "layers-bad"), command: ["test"], quiet: true, stopAt: 0 })).rejects.toThrow(/initLayers "0,3": "3" is not a block .* 0\.\.2/);
    bad.dispose?.();
    const wrongCount = tokenizerPhase(deep({ init: join(dir, "layers-src"), initLayers: "1" }, 2), openDataset(join(dir, "data")));
    await expect(runTraining(wrongCount, { out: join(dir, "layers-count"), command: ["test"], quiet: true, stopAt: 0 })).rejects.toThrow(/initLayers "1": params lack/);
    wrongCount.dispose?.();
    await expect(runTraining(tokenizerPhase(runConfig({ initLayers: "0" }), openDataset(join(dir, "data"))), { out: join(dir, "layers-noinit"), command: ["test"], quiet: true })).rejects.toThrow(
      /no train.init is given/,
    );
    // A world folder's tokenizer.safetensors ({ params, codebook_KD }, no EMA state): its weights and codebook, the EMA from that codebook.
    const loaded = await loadTokenizer(join(dir, "layers-src"));
    mkdirSync(join(dir, "layers-world"));
    await saveWorldTokenizer(join(dir, "layers-world"), loaded);
    disposeTokenizer(loaded);
    const fromWorld = tokenizerPhase(deep({ init: join(dir, "layers-world") }, 3), openDataset(join(dir, "data")));
    const w = await runTraining(fromWorld, { out: join(dir, "layers-fromworld"), command: ["test"], quiet: true, stopAt: 0 });
    fromWorld.dispose?.();
    for (const [name, x] of namedLeaves(w.params as unknown as ParamTree)) expect(await host(x), name).toEqual(await host(srcLeaves.get(name)!));
    expect(await host(w.state.codebook_KD)).toEqual(await host(src.state.codebook_KD));
    expect(await host(w.state.ema.embedSum_KD)).toEqual(await host(src.state.codebook_KD)); // cluster size 1 each: sum = codebook
    tree.dispose([w.params, w.state] as unknown as ParamTree);
    for (const r of [src, start]) {
      tree.dispose(r.params as unknown as ParamTree);
      tree.dispose(r.state as unknown as ParamTree);
    }
  });

  it("freezeEncoder trains the decoder alone: encoder, codebook and so every token unchanged, the decoder moved", async () => {
    const first = await runTraining(tokenizerPhase(runConfig({ steps: 3 }), openDataset(join(dir, "data"))), { out: join(dir, "freeze-src"), command: ["test"], quiet: true });
    const cfg = resolveConfig(TOKENIZER_RUN_DEFAULTS, { values: runConfig({ steps: 3, init: join(dir, "freeze-src"), lr: 1e-2 }), source: "test" }, { values: { tokenizer: { freezeEncoder: true, changeWeight: 4 } }, source: "test" });
    const phase = tokenizerPhase(cfg, openDataset(join(dir, "data")));
    const after = await runTraining(phase, { out: join(dir, "freeze-dst"), command: ["test"], quiet: true });
    phase.dispose?.();
    const host = async (a: { ref: { data(): Promise<unknown> } }) => Array.from((await a.ref.data()) as Float32Array);
    const before = new Map(namedLeaves(first.params as unknown as ParamTree));
    let moved = 0;
    for (const [name, x] of namedLeaves(after.params as unknown as ParamTree)) {
      const same = JSON.stringify(await host(x)) === JSON.stringify(await host(before.get(name)!));
      if (/^(patchIn|encPos|encoder|toCode)\./.test(name)) expect(same, name).toBe(true);
      else if (!same) moved++;
    }
    expect(moved).toBeGreaterThan(4);
    expect(await host(after.state.codebook_KD)).toEqual(await host(first.state.codebook_KD));
    const x = np.array(new Float32Array(2 * 16 * 16 * 4).map((_, i) => (i % 7) / 7), { shape: [1, 2, 16, 16, 4] });
    const tokens = async (r: typeof first) => Array.from((await encodeTokens(r, x.ref)) as Int32Array);
    expect(await tokens(after)).toEqual(await tokens(first));
    x.dispose();
    for (const r of [first, after]) tree.dispose([r.params, r.state] as unknown as ParamTree);
  });

  it("loads from a run folder and evaluates: numbers in range, usage counted on the data", async () => {
    const t = await loadTokenizer(join(dir, "whole"));
    expect(t.step).toBe(12);
    const r = await evalTokenizer(t, openDataset(join(dir, "data")), { frames: 2, batch: 4, maxClips: 8 });
    tree.dispose(t.params as unknown as ParamTree);
    t.codebook_KD.dispose();
    expect(r.tokens_per_frame).toBe(16);
    expect(r.frames).toBe(16);
    expect(r.psnr).toBeGreaterThan(5);
    expect(r.psnr).toBeLessThan(100);
    expect(r.ssim).toBeLessThanOrEqual(1);
    expect(r.depth_mae).toBeGreaterThanOrEqual(0);
    expect(r.codebook_usage).toBeGreaterThan(0);
    expect(r.codebook_usage).toBeLessThanOrEqual(1);
  });
});
