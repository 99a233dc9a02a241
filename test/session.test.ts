import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { initDevice, np, tree } from "../src/core/index.js";
import { liveBuffers, settle, startLeakCount } from "../src/core/leaks.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { boolArray, dynamicsLogits } from "../src/models/dynamics.js";
import type { DynamicsParams } from "../src/models/dynamics.js";
import { detokenize } from "../src/models/tokenizer.js";
import type { TokenizerParams } from "../src/models/tokenizer.js";
import { disposeWorld, loadWorld, saveWorldDynamics } from "../src/world/dynamics-io.js";
import type { LoadedWorld } from "../src/world/dynamics-io.js";
import { saveWorldTokenizer } from "../src/world/tokenizer-io.js";
import { sampleInverseCdf, sessionIteration } from "../src/world/sampling.js";
import { hostRng } from "../src/core/keys.js";
import { WorldSession } from "../src/world/session.js";
import type { SessionOptions } from "../src/world/session.js";
import { makeTinyWorld, tinyConfigs, tinyFrames } from "./helpers/tiny-world.js";
import { main } from "../src/cli/main.js";

const { tokCfg, dynCfg } = tinyConfigs(32, 2);
const dir = mkdtempSync(join(tmpdir(), "wk-session-"));
let world: LoadedWorld;
const makeWorld = (): LoadedWorld => makeTinyWorld(tokCfg, dynCfg);
const frames = tinyFrames;

beforeAll(async () => {
  await initDevice();
  world = makeWorld();
});
afterAll(() => {
  disposeWorld(world);
  rmSync(dir, { recursive: true, force: true });
});

describe("WorldSession", () => {
  it("cached stepping equals the full block-causal forward: greedy tokens are the full forward's argmax; pixels match detokenize", async () => {
    const s = new WorldSession(world, { temperature: 0, sampleSteps: 1, decoderWindow: 8 });
    const N = dynCfg.tokensPerFrame;
    const K = dynCfg.codes;
    const start = await s.start({ frames: frames(2, 3), count: 2 });
    const toks: Int32Array[] = [start.tokens];
    const rgbs: Uint8Array[] = [start.rgb];
    const actions = [dynCfg.actions, dynCfg.actions]; // context frames: "none"
    for (let i = 0; i < 5; i++) {
      const a = i % dynCfg.actions;
      const r = await s.step(a);
      toks.push(r.tokens);
      rgbs.push(r.rgb);
      actions.push(a);
    }
    // start() returns the last context frame (1); frame 0's tokens come from starting on it alone
    // (the tokenizer is causal, so they are the same).
    const s0 = new WorldSession(world, { decoderWindow: 8 });
    const f0 = await s0.start({ frames: frames(2, 3).subarray(0, 16 * 16 * 4), count: 1 });
    s0.dispose();
    const all = [f0.tokens, ...toks]; // frames 0..6
    const T = all.length;
    // Greedy with one MaskGIT pass: frame t's tokens = argmax of the full forward with frame t hidden.
    let maxGap = Infinity;
    for (let t = 2; t < T; t++) {
      const tokens = new Int32Array(T * N);
      all.forEach((f, i) => tokens.set(f, i * N));
      const mask = new Uint8Array(T * N);
      mask.fill(1, t * N, (t + 1) * N);
      const logits = (await dynamicsLogits(
        tree.ref(world.dynamics.params as unknown as ParamTree) as unknown as DynamicsParams,
        np.array(tokens, { shape: [1, T, N], dtype: np.int32 }),
        np.array(Int32Array.from(actions), { shape: [1, T], dtype: np.int32 }),
        boolArray(mask, [1, T, N]),
        dynCfg,
      ).data()) as Float32Array;
      const want: number[] = [];
      for (let n = 0; n < N; n++) {
        const row = Array.from(logits.subarray((t * N + n) * K, (t * N + n + 1) * K));
        const best = row.indexOf(Math.max(...row));
        want.push(best);
        const sorted = [...row].sort((a, b) => b - a);
        maxGap = Math.min(maxGap, sorted[0] - sorted[1]);
      }
      expect(Array.from(all[t]), `frame ${t}`).toEqual(want);
    }
    expect(maxGap).toBeGreaterThan(1e-4); // the argmax check is meaningful at this tolerance
    // Decoding step by step (window 8 ≥ 7 frames) equals detokenize over the whole sequence.
    const tokens = new Int32Array(T * N);
    all.forEach((f, i) => tokens.set(f, i * N));
    const x = (await detokenize(
      tree.ref(world.tokenizer.params as unknown as ParamTree) as unknown as TokenizerParams,
      world.tokenizer.codebook_KD.ref,
      np.array(tokens, { shape: [1, T, N], dtype: np.int32 }),
      tokCfg,
    ).data()) as Float32Array;
    let maxDiff = 0;
    for (let t = 1; t < T; t++) {
      const rgb = rgbs[t - 1];
      for (let i = 0; i < 256; i++) for (let k = 0; k < 3; k++) maxDiff = Math.max(maxDiff, Math.abs(rgb[i * 3 + k] - Math.round(x[(t * 256 + i) * 4 + k] * 255)));
    }
    expect(maxDiff).toBeLessThanOrEqual(1);
    s.dispose();
  });

  it("is seeded: same seed and actions give identical frames (also after reset); another seed differs", async () => {
    const run = async (seed: number) => {
      const s = new WorldSession(world, { seed, temperature: 1 });
      await s.start({ frames: frames(2, 4), count: 2 });
      const out: number[] = [];
      for (const a of [0, 1, 2, 3]) out.push(...(await s.step(a)).tokens);
      await s.reset();
      const again: number[] = [];
      for (const a of [0, 1, 2, 3]) again.push(...(await s.step(a)).tokens);
      s.dispose();
      expect(again).toEqual(out);
      return out;
    };
    const a = await run(7);
    expect(await run(7)).toEqual(a);
    expect(await run(8)).not.toEqual(a);
  });

  /** Tokens of three sampled steps (seed 3, 4 passes) under the given sampling options. */
  const sampledTokens = async (opts: SessionOptions) => {
    const s = new WorldSession(world, { seed: 3, temperature: 1, sampleSteps: 4, ...opts });
    await s.start({ frames: frames(2, 4), count: 2 });
    const out: number[] = [];
    for (const a of [0, 1, 2]) out.push(...(await s.step(a)).tokens);
    s.dispose();
    return out;
  };

  it("sampleSchedule: geometric is seeded too and samples differently from cosine; a bad --sample-schedule is refused", async () => {
    const run = (sampleSchedule: "cosine" | "geometric") => sampledTokens({ sampleSchedule });
    const geo = await run("geometric");
    expect(await run("geometric")).toEqual(geo);
    expect(await run("cosine")).not.toEqual(geo);
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["rollout", "--world", "nowhere", "--actions", "0", "--out", "x.gif", "--sample-schedule", "linear"])).not.toBe(0);
    expect(err.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/--sample-schedule must be cosine or geometric/);
    err.mockRestore();
  });

  it("choiceTemperature: seeded, changes which tokens are kept; the noise ranks the re-hidden tokens; a bad flag is refused", async () => {
    const run = (choiceTemperature: number) => sampledTokens({ choiceTemperature });
    const chosen = await run(4.5);
    expect(await run(4.5)).toEqual(chosen);
    expect(await run(0)).not.toEqual(chosen);
    // Equal logits: every sampled token has the same log-probability, so the choice noise alone
    // decides; the re-hidden tokens are those with the smallest Gumbel noise −log(−log u).
    const N = 16;
    const u = Array.from({ length: N }, (_, i) => ((i * 7) % N + 0.5) / N);
    const r = sessionIteration(np.zeros([1, N, 8]), np.zeros([1, N], { dtype: np.int32 }), boolArray(new Uint8Array(N).fill(1), [1, N]), null, 0, 5, { u_BN: np.array(u, { shape: [1, N] }), scale: 2 });
    const hidden = Array.from((await r.mask_BN.astype(np.int32).data()) as Int32Array);
    r.tokens_BN.dispose();
    const lowest = u.map((v, i) => [v, i]).sort((a, b) => a[0] - b[0]).slice(0, 5).map(([, i]) => i);
    expect(hidden.flatMap((h, i) => (h ? [i] : []))).toEqual(lowest.sort((a, b) => a - b));
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["rollout", "--world", "nowhere", "--actions", "0", "--out", "x.gif", "--choice-temperature", "-1"])).not.toBe(0);
    expect(err.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/--choice-temperature must be ≥ 0/);
    err.mockRestore();
  });

  it("sampleInverseCdf: the code at u × total of the cumulative weights, two-level search equal to the host's; its log-probability", async () => {
    const [N, K] = [24, 12]; // blocks of 3 codes, 4 blocks
    const r = hostRng(5);
    const logits = Float32Array.from({ length: N * K }, () => 4 * r() - 2);
    const u = Float32Array.from({ length: N }, () => 0.02 + 0.96 * r());
    for (const T of [1, 0.7]) {
      const out = sampleInverseCdf(np.array(logits, { shape: [1, N, K] }), np.array(u, { shape: [1, N] }), T, true);
      const [codes, logp] = [(await out.codes_BN.data()) as Int32Array, (await out.logp_BN!.data()) as Float32Array];
      for (let n = 0; n < N; n++) {
        const l = Array.from(logits.subarray(n * K, (n + 1) * K));
        const m = Math.max(...l);
        const w = l.map((x) => Math.exp((x - m) / T));
        const target = u[n] * w.reduce((a, b) => a + b, 0);
        let c = 0;
        for (let acc = w[0]; acc < target; acc += w[++c]);
        expect(codes[n], `token ${n} at T ${T}`).toBe(c);
        const lse = Math.log(l.reduce((a, x) => a + Math.exp(x - m), 0)) + m;
        expect(logp[n]).toBeCloseTo(l[c] - lse, 4); // float32 log of a sum of exps
      }
    }
    const plain = sampleInverseCdf(np.array(logits, { shape: [1, N, K] }), np.array(u, { shape: [1, N] }), 1);
    expect(plain.logp_BN).toBeNull();
    plain.codes_BN.dispose();
  });

  it("stays bounded over a long run: cache lengths and live buffers are flat", async () => {
    await startLeakCount();
    const s = new WorldSession(world, { seed: 1, decoderWindow: 2 });
    await s.start({ frames: frames(1, 5), count: 1 });
    const lengths: string[] = [];
    let live = 0;
    for (let i = 0; i < 24; i++) {
      await s.step(i % 4);
      lengths.push(JSON.stringify(s.cacheFrames()));
      await settle();
      if (i === 11) live = liveBuffers();
    }
    await settle();
    expect(liveBuffers()).toBe(live);
    // onnxruntime's caches have a fixed length, each window less one (timeWindow 3, decoderWindow 2).
    expect(new Set(lengths.slice(3))).toEqual(new Set([JSON.stringify({ dynamics: 2, decoder: 1 })]));
    s.dispose();
  });

  it("starts from one RGB image (depth zero-filled) and loads a world folder with actions.json", async () => {
    await saveWorldTokenizer(dir, world.tokenizer);
    await saveWorldDynamics(dir, world.dynamics);
    const entry = (code: number, label: string, key: string | null) => ({ code, label, key, share: 0.25, distinct: key !== null, meanShift: [0, 0] });
    const actions = [entry(0, "noop", ""), entry(1, "right", null), entry(2, "right", "ArrowRight"), entry(3, "jump", "Space")];
    writeFileSync(join(dir, "actions.json"), JSON.stringify({ format: "worldkit-actions", version: 1, codes: 4, method: "true-actions", source: { model: "m", data: "d" }, actions }));
    const w = await loadWorld(dir);
    expect(w.actionMap).toEqual({ noop: 0, right: 2, ArrowRight: 2, jump: 3, Space: 3 });
    const s = new WorldSession(w, { seed: 3 });
    const rgb = frames(1, 6).subarray(0, 16 * 16 * 3);
    const first = await s.start({ image: rgb });
    expect(first.rgb.length).toBe(16 * 16 * 3);
    expect(first.depth!.length).toBe(16 * 16);
    const a = await s.step("right");
    expect(a.tokens.length).toBe(16);
    expect(a.ms).toBeGreaterThan(0);
    expect(() => s.actionCode("fly")).toThrow(/unknown action "fly".*noop, right/);
    expect(s.actionCode("right")).toBe(2);
    // The same world in memory gives the same frame.
    const s2 = new WorldSession(world, { seed: 3 });
    await s2.start({ image: rgb });
    expect(Array.from((await s2.step(2)).tokens)).toEqual(Array.from(a.tokens));
    s.dispose();
    s2.dispose();
    disposeWorld(w);
    // `worldkit rollout` on that folder: names from actions.json, NAME*K repeats.
    const gif = join(dir, "out.gif");
    expect(await main(["rollout", "--world", dir, "--actions", "right*3,jump,1", "--out", gif, "--json", "--scale", "2"])).toBe(0);
    const bytes = readFileSync(gif);
    expect(bytes.subarray(0, 6).toString("latin1")).toBe("GIF89a");
    expect(bytes.readUInt16LE(6)).toBe(2 * 32 + 3 * 2); // RGB | depth at scale 2, with 2-px gaps around
    expect(await main(["rollout", "--world", dir, "--actions", "fly", "--out", gif])).toBe(1);
  });
});
