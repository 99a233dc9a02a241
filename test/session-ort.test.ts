import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, tree } from "../src/core/index.js";
import { liveBuffers, settle, startLeakCount } from "../src/core/leaks.js";
import { psnr } from "../src/data/image-metrics.js";
import { disposeWorld } from "../src/world/dynamics-io.js";
import type { LoadedWorld } from "../src/world/dynamics-io.js";
import { WorldSession, stepResult } from "../src/world/session.js";
import { OrtDecoder } from "../src/world/session-ort.js";
import { makeTinyWorld, tinyConfigs, tinyFrames } from "./helpers/tiny-world.js";
import type { SessionOptions, StepResult } from "../src/world/session.js";

// The tiny random world of session.test.ts; 64 codes so the sampler's blocked CDF has 8 blocks of 8.
const { tokCfg, dynCfg } = tinyConfigs(64, 3);
let world: LoadedWorld;
const makeWorld = (): LoadedWorld => makeTinyWorld(tokCfg, dynCfg);
const frames = tinyFrames;

/** start (2 context frames) + one step per action; every frame returned. */
async function rollout(opts: SessionOptions, actions: number[]): Promise<StepResult[]> {
  const s = new WorldSession(world, { decoderWindow: 8, ...opts });
  const out = [await s.start({ frames: frames(2, 3), count: 2, actions: [0, 1] })];
  for (const a of actions) out.push(await s.step(a));
  s.dispose();
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const ACTIONS = [0, 1, 2, 3, 0, 2];

beforeAll(async () => {
  await initDevice();
  world = makeWorld();
});
afterAll(() => disposeWorld(world));

describe("WorldSession on onnxruntime", () => {
  it("fp32 equals jax-js: the same tokens (greedy, sampled, with choice noise; 3 MaskGIT passes) and pixels within 1e-4", async () => {
    for (const [temperature, choiceTemperature] of [[0, 0], [1, 0], [1, 3]]) {
      const jax = await rollout({ backend: "jax", temperature, choiceTemperature, seed: 5 }, ACTIONS);
      const ort = await rollout({ backend: "ort", temperature, choiceTemperature, seed: 5 }, ACTIONS);
      jax.forEach((j, t) => {
        expect(Array.from(ort[t].tokens), `temperature ${temperature}, choice ${choiceTemperature}, frame ${t}`).toEqual(Array.from(j.tokens));
        expect(maxDiff(ort[t].pixels, j.pixels)).toBeLessThan(1e-4);
      });
      // Sampling is not degenerate: the steps are not all one token.
      expect(new Set(jax.slice(1).flatMap((r) => Array.from(r.tokens))).size).toBeGreaterThan(4);
    }
  });

  it("split in two (the player's two workers): stepTokens + an OrtDecoder give step()'s frames exactly, also after a reset", async () => {
    const whole = await rollout({ backend: "ort", temperature: 1, choiceTemperature: 3, seed: 5 }, ACTIONS);
    const s = new WorldSession(world, { backend: "ort", temperature: 1, choiceTemperature: 3, seed: 5, decoderWindow: 8 });
    const { nodeOrt } = await import("../src/onnx/runtime.js");
    const decoder = new OrtDecoder({ tokenizer: world.tokenizer.params, codebook_KD: world.tokenizer.codebook_KD, tokenizerConfig: tokCfg }, { decoderWindow: 8, int8: false, ort: nodeOrt });
    const c = tokCfg;
    const decodeAll = async (tokens: Int32Array[]) => {
      decoder.clear();
      let px: Float32Array | null = null;
      for (const t of tokens) px = await decoder.decode(t);
      return stepResult(px!, tokens[tokens.length - 1], c, 0);
    };
    for (let round = 0; round < 2; round++) {
      const start = round === 0 ? await s.startTokens({ frames: frames(2, 3), count: 2, actions: [0, 1] }) : await s.resetTokens();
      const split = [await decodeAll(start)];
      for (const a of ACTIONS) {
        const tk = await s.stepTokens(a);
        split.push(stepResult(await decoder.decode(tk), tk, c, 0));
      }
      whole.forEach((w, t) => {
        expect(Array.from(split[t].tokens), `round ${round}, frame ${t}`).toEqual(Array.from(w.tokens));
        expect(Array.from(split[t].pixels)).toEqual(Array.from(w.pixels));
        expect(Array.from(split[t].rgb)).toEqual(Array.from(w.rgb));
      });
    }
    expect(decoder.frames()).toBe(7); // decoderWindow − 1 slots, all real
    expect(decoder.takeSpent()).toBeGreaterThan(0);
    await decoder.dispose();
    s.dispose();
  });

  it("is seeded on ort: same seed and actions give the same frames, also after reset; another seed differs", async () => {
    const s = new WorldSession(world, { backend: "ort", seed: 7, temperature: 1 });
    await s.start({ frames: frames(1, 4), count: 1 });
    const first: number[] = [];
    for (const a of ACTIONS) first.push(...(await s.step(a)).tokens);
    await s.reset();
    const again: number[] = [];
    for (const a of ACTIONS) again.push(...(await s.step(a)).tokens);
    s.dispose();
    expect(again).toEqual(first);
    const other = (await rollout({ backend: "ort", seed: 8, temperature: 1 }, ACTIONS)).slice(1).flatMap((r) => Array.from(r.tokens));
    expect(other).not.toEqual(first);
  });

  it("int8 runs, and its frames stay close to fp32 (greedy, same start)", async () => {
    const fp32 = await rollout({ backend: "ort", temperature: 0 }, ACTIONS);
    const int8 = await rollout({ backend: "ort", temperature: 0, int8: true }, ACTIONS);
    const shape = { frames: 1, height: 16, width: 16, channels: 4 };
    const db = fp32.map((f, t) => psnr(f.pixels, int8[t].pixels, shape)[0]);
    console.log(`int8 vs fp32 PSNR per frame (dB): ${db.map((d) => d.toFixed(1)).join(" ")}`);
    expect(int8[0].tokens).toEqual(fp32[0].tokens); // the start is tokenized on jax-js: same tokens
    expect(db[0]).toBeGreaterThan(30); // the decoder alone, on the same tokens
    expect(Math.min(...db)).toBeGreaterThan(10);
    expect(() => new WorldSession(world, { backend: "jax", int8: true })).toThrow(/int8 needs the ort backend/);
  });

  it("stays bounded over 20 steps: flat cache lengths, no jax-js buffers left behind", async () => {
    await startLeakCount();
    const s = new WorldSession(world, { backend: "ort", seed: 1, decoderWindow: 2 });
    await s.start({ frames: frames(1, 5), count: 1 });
    await settle();
    const live = liveBuffers();
    const lengths: string[] = [];
    for (let i = 0; i < 20; i++) {
      await s.step(i % 4);
      lengths.push(JSON.stringify(s.cacheFrames()));
    }
    await settle();
    expect(liveBuffers()).toBe(live);
    // onnxruntime's caches have a fixed length, each window less one (timeWindow 3, decoderWindow 2).
    expect(new Set(lengths.slice(3))).toEqual(new Set([JSON.stringify({ dynamics: 2, decoder: 1 })]));
    const t = s.timings()!;
    expect(Object.keys(t).sort()).toEqual(["decode", "sample"]);
    s.dispose();
  });
});
