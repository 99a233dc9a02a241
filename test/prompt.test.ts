import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, jit, makeKey, np, tree } from "../src/core/index.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { keep } from "../src/core/refs.js";
import { generateDataset } from "../src/data/generate.js";
import { parseCaptions } from "../src/data/format.js";
import { boolArray } from "../src/models/dynamics.js";
import { NULL_ID, PAD_ID, PROMPT_DEFAULTS, SPECIAL_WORDS, UNK_ID, buildVocab, encodeCaption, initPrompt, promptLogits, promptLoss } from "../src/models/prompt.js";
import type { PromptConfig, PromptParams } from "../src/models/prompt.js";
import { PromptSampler } from "../src/models/prompt-sample.js";
import { samplePromptBatch } from "../src/train/prompt-phase.js";
import type { PromptPairs } from "../src/train/prompt-phase.js";
import { adamwInit } from "../src/nn/optim.js";
import type { AdamWState, ArrayTree } from "../src/nn/optim.js";
import { makeTrainStep } from "../src/nn/train-step.js";
import { captionFacts, captionOf, whereWords } from "../src/worlds/captions.js";
import { getWorld } from "../src/worlds/index.js";

const dir = mkdtempSync(join(tmpdir(), "wk-prompt-"));
beforeAll(async () => {
  await initDevice();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("captions", () => {
  it("are written for every 10th frame, deterministic and byte-identical for a seed", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    await generateDataset({ world: getWorld("platformer"), episodes: 2, frames: 25, size: [16, 16], seed: 1, out: a });
    await generateDataset({ world: getWorld("platformer"), episodes: 2, frames: 25, size: [16, 16], seed: 1, out: b });
    const text = readFileSync(join(a, "captions.jsonl"), "utf8");
    expect(readFileSync(join(b, "captions.jsonl"), "utf8")).toBe(text);
    const lines = parseCaptions(text, "captions.jsonl");
    expect(lines.map((l) => [l.episode, l.frame])).toEqual([[0, 0], [0, 10], [0, 20], [1, 0], [1, 10], [1, 20]]);
    // Seed 1's first episode: a snow level, three coins ahead (on the right), nothing else.
    expect(lines[0].caption).toBe("a snow level with three coins on the right, no enemies and no platforms");
  });

  it("say theme, counts and places from the platformer state", () => {
    const state = {
      world: "platformer", theme: "night", cameraX: 10,
      coins: [{ x: 11, collected: false }, { x: 21, collected: false }, { x: 15, collected: true }],
      enemies: [{ x: 20, alive: true }],
      visible: { platforms: 2, gapAhead: true },
    };
    expect(captionOf(state)).toBe("a night level with two coins on both sides, one enemy on the right, two platforms and a gap ahead");
    expect(captionFacts(captionOf(state))).toEqual({ theme: "night", coins: 2, enemies: 1 });
    expect(whereWords([0.5, 0.55])).toBe("in the middle");
    expect(whereWords([0.1, 0.5])).toBe("on the left");
  });

  it("describe maze3d and bounce frames", () => {
    expect(captionOf({ world: "maze3d", landmark: { name: "red door", distance: 1.5 }, distanceAhead: 0.5 })).toBe("a maze with a wall right ahead and the red door close by");
    expect(captionOf({ world: "maze3d", landmark: null, distanceAhead: 5 })).toBe("a maze with a long corridor ahead and no landmark in view");
    expect(captionOf({ world: "bounce", backdrop: "teal", balls: [{ color: "red" }, { color: "blue" }] })).toBe("a teal arena with two balls (red and blue)");
    expect(() => captionOf({ world: "pong" })).toThrow(/no captions for world "pong"/);
  });

  it("facts read user prompts with digits too", () => {
    expect(captionFacts("A DESERT level, 3 coins & 2 enemies!")).toEqual({ theme: "desert", coins: 3, enemies: 2 });
    expect(captionFacts("a maze with the cyan window in the distance").landmark).toBe("cyan window");
  });
});

describe("vocabulary", () => {
  const vocab = buildVocab(["a night level, with coins", "a day level"]);
  it("lists specials, then words by frequency, then alphabetically", () => {
    expect(vocab).toEqual([...SPECIAL_WORDS, "a", "level", "coins", "day", "night", "with"]);
  });
  it("encodes, pads, maps unknown words to <unk> and empty text to the null caption", () => {
    const ids = encodeCaption(vocab, "A Night level with DRAGONS", 8);
    expect(Array.from(ids)).toEqual([3, 7, 4, 8, UNK_ID, PAD_ID, PAD_ID, PAD_ID]);
    expect(Array.from(encodeCaption(vocab, "  ...  ", 4))).toEqual([NULL_ID, PAD_ID, PAD_ID, PAD_ID]);
    expect(Array.from(encodeCaption(vocab, "a a a a a a", 3))).toEqual([3, 3, 3]);
  });
});

const CFG: PromptConfig = { ...PROMPT_DEFAULTS, tokensPerFrame: 16, codes: 32, vocab: buildVocab(["red frame", "blue frame", "green frame"]), maxWords: 4, dim: 32, heads: 2, textLayers: 1, layers: 2, mlpRatio: 2, sampleSteps: 4, temperature: 0, guidance: 1 };

function logitsOf(p: PromptParams, text: string, tokens: Int32Array, hidden: Uint8Array): np.Array {
  return promptLogits(keep(p), np.array(encodeCaption(CFG.vocab, text, CFG.maxWords), { shape: [1, CFG.maxWords], dtype: np.int32 }), np.array(tokens, { shape: [1, 16], dtype: np.int32 }), boolArray(hidden, [1, 16]), CFG);
}

describe("prompt model", () => {
  it("has logits (B, N, K) that depend on the caption and on visible tokens", async () => {
    const p = initPrompt(makeKey(3), CFG);
    const tokens = Int32Array.from({ length: 16 }, (_, i) => i % 32);
    const hidden = Uint8Array.from({ length: 16 }, (_, i) => (i < 8 ? 1 : 0));
    const red = logitsOf(p, "red frame", tokens, hidden);
    expect(red.shape).toEqual([1, 16, 32]);
    const r = (await red.data()) as Float32Array;
    const b = (await logitsOf(p, "blue frame", tokens, hidden).data()) as Float32Array;
    const r2 = (await logitsOf(p, "red frame", tokens, hidden).data()) as Float32Array;
    expect(Array.from(r2)).toEqual(Array.from(r));
    const diff = r.reduce((s, v, i) => s + Math.abs(v - b[i]), 0);
    expect(diff).toBeGreaterThan(1e-3);
    // Padding is masked out: extra pad words cannot change anything, an unknown word can.
    const unk = (await logitsOf(p, "red frame dragons", tokens, hidden).data()) as Float32Array;
    expect(unk.reduce((s, v, i) => s + Math.abs(v - r[i]), 0)).toBeGreaterThan(1e-3);
    tree.dispose(p as unknown as ParamTree);
  });

  it("drops captions to the null caption at the configured rate", () => {
    const pairs: PromptPairs = { captions: [{ episode: 0, frame: 0, caption: "red frame" }], split: ["train"], tokens: new Int32Array(16), N: 16 };
    let state = 1;
    const rand = () => ((state = (state * 16807) % 2147483647) / 2147483647);
    const b = samplePromptBatch(pairs, [0], 2000, { ...CFG, captionDropout: 0.25 }, rand);
    let nulls = 0;
    for (let i = 0; i < 2000; i++) if (b.words_BL[i * CFG.maxWords] === NULL_ID) nulls++;
    expect(nulls / 2000).toBeGreaterThan(0.21);
    expect(nulls / 2000).toBeLessThan(0.29);
    const none = samplePromptBatch(pairs, [0], 100, CFG, rand, 0);
    expect(Array.from({ length: 100 }, (_, i) => none.words_BL[i * CFG.maxWords]).every((w) => w !== NULL_ID)).toBe(true);
    expect(b.mask_BN.length).toBe(2000 * 16);
  });

  it("overfits three captions to their frames in a few seconds, and sampling gives them back", async () => {
    const frames: Record<string, Int32Array> = {
      "red frame": Int32Array.from({ length: 16 }, (_, i) => (i * 3) % 32),
      "blue frame": Int32Array.from({ length: 16 }, (_, i) => (31 - i) % 32),
      "green frame": Int32Array.from({ length: 16 }, (_, i) => (i % 4) + 10),
    };
    const names = Object.keys(frames);
    const cfg = { ...CFG, captionDropout: 0 };
    type Args = { words: np.Array; tokens: np.Array; mask: np.Array };
    const ts = makeTrainStep<ArrayTree, Args>((p, b) => {
      const r = promptLoss(p as unknown as PromptParams, b.words, b.tokens, b.mask, cfg);
      return { loss: r.loss, aux: { accuracy: r.aux.accuracy } };
    }, { adamw: { weightDecay: 0 }, clipNorm: 1 });
    const step = jit(((p: ArrayTree, o: ArrayTree, b: Args, lr: np.Array) => {
      const out = ts.stepFn(p, o as unknown as AdamWState<ArrayTree>, b, lr);
      (out.aux as Record<string, np.Array>).accuracy.dispose();
      out.gradNorm.dispose();
      return [out.params, out.optState, out.loss];
    }) as never) as unknown as ((...a: unknown[]) => [ArrayTree, ArrayTree, np.Array]) & { dispose(): void };
    let params = initPrompt(makeKey(4), cfg) as unknown as ArrayTree;
    let opt = adamwInit(tree.ref(params)) as unknown as ArrayTree;
    let state = 7;
    const rand = () => ((state = (state * 16807) % 2147483647) / 2147483647);
    const pairs: PromptPairs = { captions: names.map((caption) => ({ episode: 0, frame: 0, caption })), split: ["train", "train", "train"], tokens: Int32Array.from(names.flatMap((n) => Array.from(frames[n]))), N: 16 };
    let loss = Infinity;
    for (let i = 0; i < 120; i++) {
      const b = samplePromptBatch(pairs, [0, 1, 2], 12, cfg, rand);
      const args = { words: np.array(b.words_BL, { shape: [12, 4], dtype: np.int32 }), tokens: np.array(b.tokens_BN, { shape: [12, 16], dtype: np.int32 }), mask: boolArray(b.mask_BN, [12, 16]) };
      const [p2, o2, l] = step(params, opt, args, np.array(3e-3));
      params = p2;
      opt = o2;
      loss = Number((await l.data())[0]);
    }
    step.dispose();
    ts.dispose();
    expect(loss).toBeLessThan(0.1);
    const sampler = new PromptSampler(params as unknown as PromptParams, cfg);
    const out = await sampler.sample(names, { temperature: 0 });
    names.forEach((n, i) => expect(Array.from(out.subarray(i * 16, (i + 1) * 16))).toEqual(Array.from(frames[n])));
    // Guidance runs the null caption alongside; on a fitted model it returns the same frames.
    const guided = await sampler.sample(names, { temperature: 0, guidance: 2 });
    expect(Array.from(guided)).toEqual(Array.from(out));
    // Different seeds at temperature 1 give different frames for an untrained-ish prompt.
    sampler.dispose();
    tree.dispose(params);
    tree.dispose(opt);
  }, 60_000);
});
