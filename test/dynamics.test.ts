import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/core/config.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { getWorld } from "../src/worlds/index.js";
import { TOKENIZER_DEFAULTS, initTokenizer } from "../src/models/tokenizer.js";
import type { TokenizerParams } from "../src/models/tokenizer.js";
import { runTraining } from "../src/train/loop.js";
import { latestCheckpoint } from "../src/core/checkpoint.js";
import { DYNAMICS_RUN_DEFAULTS, dynamicsPhase } from "../src/train/dynamics-phase.js";
import { disposeTokenizer, loadTokenizer, saveWorldTokenizer } from "../src/world/tokenizer-io.js";
import { tokenCache } from "../src/train/token-cache.js";
import { disposeWorld, loadWorld, saveWorldDynamics } from "../src/world/dynamics-io.js";
import { namedLeaves } from "../src/core/tree-names.js";
import { WorldSession } from "../src/world/session.js";
import { hostRng, initDevice, makeKey, np, tree } from "../src/core/index.js";
import type { KVCache } from "../src/nn/attention.js";
import { formatGradCheck, gradCheck } from "../src/nn/gradcheck.js";
import { adamwInit } from "../src/nn/optim.js";
import type { ArrayTree } from "../src/nn/optim.js";
import { makeTrainStep } from "../src/nn/train-step.js";
import { DYNAMICS_DEFAULTS, boolArray, dynamicsLogits, dynamicsLoss, dynamicsStep, groupByLabel, initDynamics, modelAction, trainingMask } from "../src/models/dynamics.js";
import type { DynamicsConfig, DynamicsParams } from "../src/models/dynamics.js";
import { maskgitIteration, maskgitSchedule } from "../src/models/maskgit.js";

const tiny: DynamicsConfig = { ...DYNAMICS_DEFAULTS, tokensPerFrame: 16, codes: 32, actions: 4, dim: 32, heads: 2, layers: 2, mlpRatio: 2, timeWindow: 8 };

const dir = mkdtempSync(join(tmpdir(), "wk-dyn-"));
beforeAll(async () => {
  await initDevice();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ints(n: number, max: number, seed: number): Int32Array {
  const r = hostRng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * max));
}

function inputs(cfg: DynamicsConfig, B: number, T: number, seed: number) {
  const N = cfg.tokensPerFrame;
  return {
    tokens: ints(B * T * N, cfg.codes, seed),
    actions: ints(B * T, cfg.actions + 1, seed + 1),
    mask: Uint8Array.from(ints(B * T * N, 2, seed + 2)),
  };
}

async function logits(p: DynamicsParams, x: ReturnType<typeof inputs>, B: number, T: number, cfg: DynamicsConfig): Promise<Float32Array> {
  const N = cfg.tokensPerFrame;
  const out = dynamicsLogits(
    tree.ref(p as never) as DynamicsParams,
    np.array(x.tokens, { shape: [B, T, N], dtype: np.int32 }),
    np.array(x.actions, { shape: [B, T], dtype: np.int32 }),
    boolArray(x.mask, [B, T, N]),
    cfg,
  );
  return (await out.data()) as Float32Array;
}

describe("dynamics", () => {
  for (const actionMode of ["additive", "prepended"] as const) {
    it(`is block-causal (${actionMode}): frame t+1's tokens, mask or action never change logits at frames ≤ t`, async () => {
      const cfg = { ...tiny, actionMode };
      const p = initDynamics(makeKey(1), cfg);
      const B = 2;
      const T = 4;
      const N = cfg.tokensPerFrame;
      const a = inputs(cfg, B, T, 10);
      const base = await logits(p, a, B, T, cfg);
      const perFrame = N * cfg.codes;
      for (const what of ["tokens", "action", "mask"] as const) {
        const b = { tokens: a.tokens.slice(), actions: a.actions.slice(), mask: a.mask.slice() };
        for (let bb = 0; bb < B; bb++) {
          const t = 2;
          if (what === "action") b.actions[bb * T + t] = (b.actions[bb * T + t] + 1) % (cfg.actions + 1);
          for (let n = 0; n < N; n++) {
            const i = (bb * T + t) * N + n;
            if (what === "tokens") b.tokens[i] = (b.tokens[i] + 7) % cfg.codes;
            if (what === "mask") b.mask[i] = 1 - b.mask[i];
          }
        }
        const changed = await logits(p, b, B, T, cfg);
        for (let bb = 0; bb < B; bb++) {
          const row = (t: number) => [(bb * T + t) * perFrame, (bb * T + t + 1) * perFrame] as const;
          expect(Array.from(changed.subarray(...row(0))), what).toEqual(Array.from(base.subarray(...row(0))));
          expect(Array.from(changed.subarray(...row(1))), what).toEqual(Array.from(base.subarray(...row(1))));
          expect(Array.from(changed.subarray(...row(2))), what).not.toEqual(Array.from(base.subarray(...row(2))));
        }
      }
      tree.dispose(p as never);
    });
  }

  it("stepping frame by frame with KV caches equals the full forward, also past the window", async () => {
    for (const actionMode of ["additive", "prepended"] as const) {
      const cfg = { ...tiny, actionMode, timeWindow: 3 };
      const p = initDynamics(makeKey(2), cfg);
      const T = 7;
      const N = cfg.tokensPerFrame;
      const x = inputs(cfg, 1, T, 20);
      const full = await logits(p, x, 1, T, cfg);
      let caches: KVCache[] | null = null;
      let maxErr = 0;
      for (let t = 0; t < T; t++) {
        const r = dynamicsStep(
          tree.ref(p as never) as DynamicsParams,
          np.array(x.tokens.slice(t * N, (t + 1) * N), { shape: [1, N], dtype: np.int32 }),
          np.array([x.actions[t]], { shape: [1], dtype: np.int32 }),
          boolArray(x.mask.slice(t * N, (t + 1) * N), [1, N]),
          caches,
          cfg,
        );
        caches = r.caches;
        // The cache never holds more than the window.
        expect(caches.every((c) => c.k.shape[2] === Math.min(t + 1, cfg.timeWindow))).toBe(true);
        const got = (await r.logits_BNK.data()) as Float32Array;
        const want = full.subarray(t * N * cfg.codes, (t + 1) * N * cfg.codes);
        for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
      }
      tree.dispose(caches as never);
      tree.dispose(p as never);
      expect(maxErr, actionMode).toBeLessThan(1e-4);
    }
  });

  it("passes a finite-difference gradient check", async () => {
    const cfg = { ...tiny, dim: 16, layers: 1, heads: 2, codes: 8, tokensPerFrame: 4, actions: 2, actionMode: "prepended" as const };
    const p = initDynamics(makeKey(3), cfg);
    const x = inputs(cfg, 1, 3, 30);
    const t = {
      p,
      tokens: np.array(x.tokens, { shape: [1, 3, 4], dtype: np.int32 }),
      actions: np.array(x.actions, { shape: [1, 3], dtype: np.int32 }),
      mask: boolArray(x.mask.map((_, i) => (i % 3 === 0 ? 0 : 1)), [1, 3, 4]),
    };
    const f = (a: typeof t) => dynamicsLoss(a.p, a.tokens, a.actions, a.mask, cfg).loss;
    const only = (path: string) => /tokenEmbed|maskToken|actionEmbed|pos|head\.w|blocks\.0\.temporal\.wqkv|blocks\.0\.spatial\.wo/.test(path);
    const r = await gradCheck(f as never, t as never, { seed: 2, coords: 2, points: 6, only });
    expect(r.details.length).toBeGreaterThanOrEqual(7 * 3);
    expect(r.maxRelError, formatGradCheck(r)).toBeLessThan(1e-2);
  });

  it("the MaskGIT loss falls on a toy sequence (tokens shift right each frame, by the action)", async () => {
    const cfg = { ...tiny, layers: 1, timeWindow: 4 };
    const N = cfg.tokensPerFrame;
    const B = 4;
    const T = 4;
    const rand = hostRng(5);
    const tokens = new Int32Array(B * T * N);
    const actions = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let n = 0; n < N; n++) tokens[b * T * N + n] = Math.floor(rand() * cfg.codes);
      actions[b * T] = cfg.actions;
      for (let t = 1; t < T; t++) {
        const a = Math.floor(rand() * 2); // action 0: shift by 1; action 1: shift by 2
        actions[b * T + t] = a;
        for (let n = 0; n < N; n++) tokens[(b * T + t) * N + n] = tokens[(b * T + t - 1) * N + ((n + N - 1 - a) % N)];
      }
    }
    let params = initDynamics(makeKey(4), cfg) as unknown as ArrayTree;
    let opt = adamwInit(tree.ref(params));
    type Batch = { tokens: np.Array; actions: np.Array; mask: np.Array };
    const step = makeTrainStep<ArrayTree, Batch>((p, b) => {
      const out = dynamicsLoss(p as unknown as DynamicsParams, b.tokens, b.actions, b.mask, cfg);
      return { loss: out.loss, aux: out.aux as never };
    }, { adamw: { weightDecay: 0 } });
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const mask = trainingMask(B, T, cfg, rand);
      const out = step.step(params, opt, {
        tokens: np.array(tokens, { shape: [B, T, N], dtype: np.int32 }),
        actions: np.array(actions, { shape: [B, T], dtype: np.int32 }),
        mask: boolArray(mask, [B, T, N]),
      }, np.array(3e-3));
      params = out.params;
      opt = out.optState;
      losses.push(Number((await out.loss.data())[0]));
      out.gradNorm.dispose();
      tree.dispose(out.aux);
    }
    step.dispose();
    tree.dispose(params);
    tree.dispose(opt as never);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    console.log(`toy loss ${first.toFixed(3)} -> ${last.toFixed(3)} (ln K = ${Math.log(cfg.codes).toFixed(3)})`);
    expect(first).toBeGreaterThan(0.8 * Math.log(cfg.codes));
    expect(last).toBeLessThan(0.5 * first);
  });

  it("changeWeight: tokens whose code moved since the frame before weigh 1 + changeWeight (host-computed loss)", async () => {
    const cfg = { ...tiny, changeWeight: 3 };
    const B = 2;
    const T = 3;
    const N = cfg.tokensPerFrame;
    const x = inputs(cfg, B, T, 30);
    for (let i = 0; i < B * T * N; i += 3) if (i >= N) x.tokens[i] = x.tokens[i - N]; // some codes repeat the frame before
    const p = initDynamics(makeKey(3), cfg);
    const lg = await logits(p, x, B, T, cfg);
    const arr = () => [np.array(x.tokens, { shape: [B, T, N], dtype: np.int32 }), np.array(x.actions, { shape: [B, T], dtype: np.int32 }), boolArray(x.mask, [B, T, N])] as const;
    const got = dynamicsLoss(tree.ref(p as never) as DynamicsParams, ...arr(), cfg);
    let [num, den, changed] = [0, 0, 0];
    for (let b = 0; b < B; b++) {
      for (let t = 1; t < T; t++) {
        for (let n = 0; n < N; n++) {
          const i = (b * T + t) * N + n;
          if (!x.mask[i]) continue;
          const row = lg.subarray(i * cfg.codes, (i + 1) * cfg.codes);
          const max = Math.max(...row);
          const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
          const moved = x.tokens[i] !== x.tokens[i - N];
          const w = moved ? 1 + cfg.changeWeight : 1;
          changed += moved ? 1 : 0;
          num += w * (lse - row[x.tokens[i]]);
          den += w;
        }
      }
    }
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBeLessThan(den); // both kinds are present
    expect(Number((await got.loss.data())[0])).toBeCloseTo(num / den, 4);
    const plain = dynamicsLoss(tree.ref(p as never) as DynamicsParams, ...arr(), { ...cfg, changeWeight: 0 });
    expect(Number((await plain.loss.data())[0])).not.toBeCloseTo(num / den, 4);
    tree.dispose([got.aux.accuracy, got.aux.scored, plain.aux.accuracy, plain.aux.scored, p] as never);
  });

  it("MaskGIT: the schedule ends at 0; an iteration keeps visible tokens and hides the least confident", async () => {
    expect(maskgitSchedule(16, 4)).toEqual([14, 11, 6, 0]);
    expect(maskgitSchedule(16, 1)).toEqual([0]);
    // geometric: N^(1 − (i+1)/steps), strictly decreasing while above 0.
    expect(maskgitSchedule(256, 4, "geometric")).toEqual([64, 16, 4, 0]);
    expect(maskgitSchedule(256, 2, "geometric")).toEqual([16, 0]);
    expect(maskgitSchedule(256, 4, "cosine")).toEqual([236, 181, 97, 0]);
    expect(() => maskgitSchedule(16, 4, "linear" as never)).toThrow(/cosine or geometric/);
    // 4 tokens, K = 3; token 0 visible; hidden tokens' confidence: 1 high, 2 low, 3 middle.
    const l = [[0, 0, 0], [9, 0, 0], [0, 0.1, 0], [0, 0, 3]];
    const r = maskgitIteration(
      np.array(l.flat(), { shape: [1, 4, 3] }),
      np.array([2, 0, 0, 0], { shape: [1, 4], dtype: np.int32 }),
      boolArray([0, 1, 1, 1], [1, 4]),
      np.zeros([1, 4, 3]),
      0,
      1,
    );
    expect(Array.from(await r.tokens_BN.data())).toEqual([2, 0, 1, 2]);
    expect(Array.from(await r.mask_BN.data()).map(Number)).toEqual([0, 0, 1, 0]);
  });

  it("trains as a phase on onnxruntime from a token cache (true actions), resumes exactly, and plays as a world", async () => {
    await generateDataset({ world: getWorld("platformer"), episodes: 3, frames: 10, size: [16, 16], seed: 2, out: join(dir, "data") });
    const tokCfg = { ...TOKENIZER_DEFAULTS, height: 16, width: 16, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 32, codeDim: 8 };
    const t = initTokenizer(makeKey(1), tokCfg);
    mkdirSync(join(dir, "tok"));
    await saveWorldTokenizer(join(dir, "tok"), { config: tokCfg, params: t.params, codebook_KD: t.state.codebook_KD, source: "test", step: 0 });
    tree.dispose(t as unknown as ParamTree);
    const cfg = resolveConfig(DYNAMICS_RUN_DEFAULTS, {
      values: {
        dynamics: { dim: 32, heads: 2, layers: 1, mlpRatio: 2, timeWindow: 4, sampleSteps: 2 },
        train: { steps: 6, logEvery: 1, valEvery: 3, valBatches: 1, sampleEvery: 0, ckptEvery: 3, warmupSteps: 2, threads: 1, backend: "ort" },
        data: { dir: join(dir, "data"), tokenizer: join(dir, "tok"), trueActions: true, batch: 2, frames: 4 },
      },
      source: "test",
    });
    const losses = (run: string) =>
      readFileSync(join(dir, run, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((m) => m.split === "train").map((m) => m.loss as number);
    const train = async (run: string, opts: { stopAt?: number; resume?: boolean }) => {
      const phase = await dynamicsPhase(cfg, openDataset(join(dir, "data")), join(dir, run));
      expect((phase.config as typeof cfg).dynamics).toMatchObject({ tokensPerFrame: 16, codes: 32, actions: getWorld("platformer").info.actions.length });
      const r = await runTraining(phase, { out: join(dir, run), command: ["test"], quiet: true, ...opts });
      phase.dispose?.();
      tree.dispose(r.params as unknown as ParamTree);
    };
    await train("whole", {});
    await train("split", { stopAt: 3 });
    await train("split", { resume: true });
    const whole = losses("whole");
    expect(whole.length).toBe(6);
    expect(whole.every(Number.isFinite)).toBe(true);
    expect(losses("split")).toEqual(whole);
    const cacheIndex = JSON.parse(readFileSync(join(dir, "whole", "token-cache.json"), "utf8"));
    expect(cacheIndex.episodes.length).toBe(3);
    // The cache holds for a tokenizer whose decoder alone changed (same encoder and codebook), not for a changed encoder.
    const variant = async (name: string, change: (p: TokenizerParams) => void) => {
      const t0 = await loadTokenizer(join(dir, "tok"));
      change(t0.params); // in place: the tree owns the new array
      mkdirSync(join(dir, name));
      await saveWorldTokenizer(join(dir, name), { ...t0, step: 7 });
      disposeTokenizer(t0);
      return loadTokenizer(join(dir, name));
    };
    const decOnly = await variant("tok-dec", (p) => void (p.patchOut.w = p.patchOut.w.add(1)));
    const encToo = await variant("tok-enc", (p) => void (p.patchIn.w = p.patchIn.w.add(1)));
    mkdirSync(join(dir, "cache-copy"));
    for (const f of ["token-cache.json", "token-cache.bin"]) copyFileSync(join(dir, "whole", f), join(dir, "cache-copy", f));
    const ds2 = openDataset(join(dir, "data"));
    const reused = await tokenCache(join(dir, "cache-copy"), ds2, { tokenizer: decOnly, lam: null, chunk: cfg.data.chunk, threads: 1 });
    expect(reused.index.tokenizer.source).toBe(cacheIndex.tokenizer.source); // read back, not rebuilt
    const rebuilt = await tokenCache(join(dir, "cache-copy"), ds2, { tokenizer: encToo, lam: null, chunk: cfg.data.chunk, threads: 1 });
    expect(rebuilt.index.tokenizer.source).toBe(encToo.source);
    expect(rebuilt.index.tokenizer.encoder).not.toBe(reused.index.tokenizer.encoder);
    disposeTokenizer(decOnly);
    disposeTokenizer(encToo);
    const world = await loadWorld(join(dir, "whole"));
    const s = new WorldSession(world, { seed: 1 });
    await s.start({ frames: new Float32Array(2 * 16 * 16 * 4).fill(0.5), count: 2 });
    expect((await s.step(1)).tokens.length).toBe(16);
    s.dispose();
    disposeWorld(world);

    // data.actionGroups: codes with one label become one action of the model; sessions still take codes.
    const names = getWorld("platformer").info.actions; // noop, left, right, jump, left+jump, right+jump
    const labels = ["noop", "left", "right", "jump", "left", "right"];
    const actionsFile = join(dir, "grouped-actions.json");
    writeFileSync(actionsFile, JSON.stringify({ format: "worldkit-actions", version: 1, codes: names.length, method: "true-actions", source: { model: "m", data: "d" }, actions: labels.map((label, code) => ({ code, label, key: null, share: 0, distinct: true, meanShift: [0, 0] })) }));
    const gcfg = resolveConfig(DYNAMICS_RUN_DEFAULTS, { values: cfg, source: "test" }, { values: { data: { actionGroups: actionsFile }, train: { steps: 2 } }, source: "test" });
    const phase = await dynamicsPhase(gcfg, openDataset(join(dir, "data")), join(dir, "grouped"));
    const dc = (phase.config as typeof cfg).dynamics;
    expect(dc.actions).toBe(4);
    expect(dc.actionGroups).toEqual([0, 1, 2, 3, 1, 2]);
    expect([0, 4, 5, 6].map((c) => modelAction(dc, c))).toEqual([0, 1, 2, 4]); // 6 = no action → the model's 4
    const batch = (await phase.nextBatch()) as { actions_BT: Int32Array };
    expect(Math.max(...batch.actions_BT)).toBeLessThanOrEqual(4);
    // train.init from the ungrouped run: each group's action row is the mean of its codes' rows.
    const from = (await latestCheckpoint(join(dir, "whole")))!;
    const adapted = (await phase.adaptInit!(from, phase.init(makeKey(9))))!;
    const wb = await loadWorld(join(dir, "whole"));
    const [rowsBefore, rowsAfter] = [(await wb.dynamics.params.actionEmbed.table.ref.data()) as Float32Array, (await adapted.params.actionEmbed.table.ref.data()) as Float32Array];
    disposeWorld(wb);
    const D = 32;
    const row = (x: Float32Array, r: number) => Array.from(x.subarray(r * D, (r + 1) * D));
    row(rowsAfter, 1).forEach((v, k) => expect(v).toBeCloseTo((row(rowsBefore, 1)[k] + row(rowsBefore, 4)[k]) / 2, 6)); // left = codes 1, 4
    expect(row(rowsAfter, 3)).toEqual(row(rowsBefore, 3)); // jump = code 3 alone
    expect(row(rowsAfter, 4)).toEqual(row(rowsBefore, 6)); // "no action"
    tree.dispose([adapted.params, adapted.opt, adapted.state] as unknown as ParamTree);
    const r = await runTraining(phase, { out: join(dir, "grouped"), command: ["test"], quiet: true });
    phase.dispose?.();
    tree.dispose(r.params as unknown as ParamTree);
    const gw = await loadWorld(join(dir, "grouped"));
    expect(gw.dynamics.config.actionGroups).toEqual([0, 1, 2, 3, 1, 2]);
    // train.init from a world folder: its dynamics.safetensors ({ params }, no optimizer state) as is.
    mkdirSync(join(dir, "gworld"));
    await saveWorldDynamics(join(dir, "gworld"), gw.dynamics);
    const again = await dynamicsPhase(resolveConfig(DYNAMICS_RUN_DEFAULTS, { values: gcfg, source: "test" }, { values: { train: { init: join(dir, "gworld") } }, source: "test" }), openDataset(join(dir, "data")), join(dir, "from-world"));
    const started = await runTraining(again, { out: join(dir, "from-world"), command: ["test"], quiet: true, stopAt: 0 });
    again.dispose?.();
    const want = new Map(namedLeaves(gw.dynamics.params as unknown as ParamTree));
    const got = namedLeaves(started.params as unknown as ParamTree);
    expect(got.length).toBe(want.size);
    for (const [name, x] of got) expect(await x.ref.data(), name).toEqual(await want.get(name)!.ref.data());
    tree.dispose(started.params as unknown as ParamTree);
    // train.init from a world grouped otherwise (4 groups; here 3): fresh group rows, its "no action" row, all else as is.
    const file3 = join(dir, "three-actions.json");
    const labels3 = ["noop", "move", "move", "jump", "move", "move"];
    writeFileSync(file3, JSON.stringify({ format: "worldkit-actions", version: 1, codes: names.length, method: "true-actions", source: { model: "m", data: "d" }, actions: labels3.map((label, code) => ({ code, label, key: null, share: 0, distinct: true, meanShift: [0, 0] })) }));
    const phase3 = await dynamicsPhase(resolveConfig(DYNAMICS_RUN_DEFAULTS, { values: gcfg, source: "test" }, { values: { data: { actionGroups: file3 } }, source: "test" }), openDataset(join(dir, "data")), join(dir, "three"));
    const fresh3 = phase3.init(makeKey(4));
    const freshRows = (await fresh3.params.actionEmbed.table.ref.data()) as Float32Array;
    const three = (await phase3.adaptInit!(join(dir, "gworld", "dynamics.safetensors"), fresh3))!;
    const rows3 = (await three.params.actionEmbed.table.ref.data()) as Float32Array;
    expect(rows3.length).toBe(4 * D);
    expect(Array.from(rows3.subarray(0, 3 * D))).toEqual(Array.from(freshRows.subarray(0, 3 * D)));
    expect(Array.from(rows3.subarray(3 * D))).toEqual(Array.from(((await want.get("actionEmbed.table")!.ref.data()) as Float32Array).subarray(4 * D)));
    expect(await three.params.tokenEmbed.table.ref.data()).toEqual(await want.get("tokenEmbed.table")!.ref.data());
    tree.dispose([three.params, three.opt, three.state] as unknown as ParamTree);
    phase3.dispose?.();
    const g = new WorldSession(gw, { seed: 1, temperature: 0 });
    expect(g.actionCount).toBe(6);
    await g.start({ frames: new Float32Array(2 * 16 * 16 * 4).fill(0.5), count: 2 });
    const viaLeftJump = Array.from((await g.step(4)).tokens); // left+jump: labelled left
    await g.reset();
    expect(Array.from((await g.step(1)).tokens)).toEqual(viaLeftJump); // the same action of the model
    expect(() => g.actionCode(7)).toThrow(/outside 0\.\.5/);
    g.dispose();
    disposeWorld(gw);
    expect(groupByLabel(["right", "noop", "right", "left"])).toEqual([0, 1, 0, 2]);
  });
});
