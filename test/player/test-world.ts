/**
 * A tiny untrained world folder for the player tests (the same sizes as test/session.test.ts):
 * 16×16 RGB+depth frames, 16 tokens, 4 actions bound to ←, →, Space and idle, and two start frames;
 * with `prompt: true` also an untrained prompt model whose vocabulary is TEST_CAPTIONS' words.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostRng, makeKey, tree } from "../../src/core/index.js";
import type { ParamTree } from "../../src/core/tree-names.js";
import { DYNAMICS_DEFAULTS, initDynamics } from "../../src/models/dynamics.js";
import type { DynamicsConfig } from "../../src/models/dynamics.js";
import { TOKENIZER_DEFAULTS, initTokenizer } from "../../src/models/tokenizer.js";
import type { TokenizerConfig } from "../../src/models/tokenizer.js";
import { disposeWorld, saveWorldDynamics } from "../../src/world/dynamics-io.js";
import type { LoadedWorld } from "../../src/world/dynamics-io.js";
import { saveWorldTokenizer } from "../../src/world/tokenizer-io.js";
import { encodeStartFrames, START_FILE } from "../../src/world/start-frames.js";
import { buildVocab, initPrompt, PROMPT_DEFAULTS } from "../../src/models/prompt.js";
import type { PromptConfig } from "../../src/models/prompt.js";
import { saveWorldPrompt } from "../../src/world/prompt-io.js";

export const TEST_TOKENIZER: TokenizerConfig = { ...TOKENIZER_DEFAULTS, height: 16, width: 16, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 32, codeDim: 8 };
export const TEST_DYNAMICS: DynamicsConfig = { ...DYNAMICS_DEFAULTS, tokensPerFrame: 16, codes: 32, actions: 4, dim: 32, heads: 2, layers: 2, mlpRatio: 2, timeWindow: 3, sampleSteps: 2, temperature: 1 };

export const TEST_ACTIONS = [
  { code: 0, label: "noop", key: "", share: 0.25, distinct: true, meanShift: [0, 0] },
  { code: 1, label: "left", key: "ArrowLeft", share: 0.25, distinct: true, meanShift: [2, 0] },
  { code: 2, label: "right", key: "ArrowRight", share: 0.25, distinct: true, meanShift: [-2, 0] },
  { code: 3, label: "jump", key: "Space", share: 0.25, distinct: true, meanShift: [0, 1] },
];

/** Captions in the platformer's grammar (src/worlds/captions.ts): the test prompt model's vocabulary. */
export const TEST_CAPTIONS = [
  "a day level with one coin on the right, one enemy in the middle and two platforms",
  "a night level with three coins on the left, no enemies and two platforms",
];
export const TEST_PROMPT: PromptConfig = {
  ...PROMPT_DEFAULTS,
  tokensPerFrame: 16,
  codes: 32,
  vocab: buildVocab(TEST_CAPTIONS),
  maxWords: 16,
  dim: 32,
  heads: 2,
  textLayers: 1,
  layers: 1,
  mlpRatio: 2,
  sampleSteps: 2,
};

/** Write the test world into `dir` (call after initDevice()); `prompt`: with prompt.safetensors. */
export async function writeTestWorld(dir: string, opts: { prompt?: boolean } = {}): Promise<void> {
  const t = initTokenizer(makeKey(1), TEST_TOKENIZER);
  const { codebook_KD, ema, age_K } = t.state;
  tree.dispose({ ema, age_K } as unknown as ParamTree);
  const world: LoadedWorld = {
    tokenizer: { config: TEST_TOKENIZER, params: t.params, codebook_KD, source: "test", step: 0 },
    dynamics: { config: TEST_DYNAMICS, params: initDynamics(makeKey(2), TEST_DYNAMICS), source: "test", step: 0, tokenizerPath: null },
    actionMap: null,
    source: "test",
  };
  await saveWorldTokenizer(dir, world.tokenizer);
  await saveWorldDynamics(dir, world.dynamics);
  disposeWorld(world);
  if (opts.prompt) {
    const params = initPrompt(makeKey(3), TEST_PROMPT);
    await saveWorldPrompt(dir, { config: TEST_PROMPT, params, source: "test", step: 0 });
    tree.dispose(params as unknown as ParamTree);
  }
  const actions = { format: "worldkit-actions", version: 1, codes: 4, method: "true-actions", source: { model: "test", data: "test" }, actions: TEST_ACTIONS };
  writeFileSync(join(dir, "actions.json"), JSON.stringify(actions));
  // Two start frames: a left-to-right colour ramp with a depth gradient, so the first frame is not noise.
  const r = hostRng(9);
  const frames = new Float32Array(2 * 16 * 16 * 4);
  for (let i = 0; i < frames.length; i += 4) {
    const x = (i / 4) % 16;
    const y = Math.floor(i / 64) % 16;
    frames.set([x / 15, y / 15, r(), (x + y) / 30], i);
  }
  writeFileSync(join(dir, START_FILE), encodeStartFrames(frames, { count: 2, height: 16, width: 16, channels: 4 }, [4, 2]));
  writeFileSync(join(dir, "config.json"), JSON.stringify({ name: "test world" }));
  writeFileSync(join(dir, "README.md"), "# test world\n");
}
