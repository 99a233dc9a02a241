/** The tiny random world (16×16 RGB-D, 16 tokens per frame) that the session tests play. */
import { hostRng, makeKey, tree } from "../../src/core/index.js";
import type { ParamTree } from "../../src/core/tree-names.js";
import { DYNAMICS_DEFAULTS, initDynamics } from "../../src/models/dynamics.js";
import type { DynamicsConfig } from "../../src/models/dynamics.js";
import { TOKENIZER_DEFAULTS, initTokenizer } from "../../src/models/tokenizer.js";
import type { TokenizerConfig } from "../../src/models/tokenizer.js";
import type { LoadedWorld } from "../../src/world/dynamics-io.js";

/** Tokenizer and dynamics configs of the tiny world with K = `codes` and `sampleSteps` passes. */
export function tinyConfigs(codes: number, sampleSteps: number): { tokCfg: TokenizerConfig; dynCfg: DynamicsConfig } {
  return {
    tokCfg: { ...TOKENIZER_DEFAULTS, height: 16, width: 16, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes, codeDim: 8 },
    dynCfg: { ...DYNAMICS_DEFAULTS, tokensPerFrame: 16, codes, actions: 4, dim: 32, heads: 2, layers: 2, mlpRatio: 2, timeWindow: 3, sampleSteps },
  };
}

/** A world of freshly initialised (untrained) models; the caller disposes it. */
export function makeTinyWorld(tokCfg: TokenizerConfig, dynCfg: DynamicsConfig): LoadedWorld {
  const t = initTokenizer(makeKey(1), tokCfg);
  const { codebook_KD, ema, age_K } = t.state;
  tree.dispose({ ema, age_K } as unknown as ParamTree);
  return {
    tokenizer: { config: tokCfg, params: t.params, codebook_KD, source: "test", step: 0 },
    dynamics: { config: dynCfg, params: initDynamics(makeKey(2), dynCfg), source: "test", step: 0, tokenizerPath: null },
    actionMap: null,
    source: "test",
  };
}

/** `count` random 16×16×4 frames in [0, 1). */
export function tinyFrames(count: number, seed: number): Float32Array {
  const r = hostRng(seed);
  return Float32Array.from({ length: count * 16 * 16 * 4 }, () => r());
}
