/**
 * The tokenizer as a training phase: its step (loss + AdamW in one jit, then the EMA codebook
 * update, code ages and dead-code reset in a second jit), validation (PSNR, depth MAE and
 * codebook usage on held-out episodes) and sample reconstructions.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { adamwInit } from "../nn/optim.js";
import type { AdamWState, ArrayTree } from "../nn/optim.js";
import { makeTrainStep } from "../nn/train-step.js";
import { stepRunner } from "./step-runner.js";
import { codebookStats, emaUpdate, initCodeAge, initVQEma, updateCodeAge } from "../nn/vq.js";
import { loadCheckpoint } from "../core/checkpoint.js";
import { compareShapes } from "../core/tree-names.js";
import { deadCodeResetter } from "./dead-codes.js";
import { TOKENIZER_DEFAULTS, halves, initTokenizer, tokenizerLoss, vqConfigOf, tokenize, detokenize } from "../models/tokenizer.js";
import type { TokenizerConfig, TokenizerParams, TokenizerState } from "../models/tokenizer.js";
import { clipArray, clipLoader } from "../data/loader.js";
import type { ClipBatch, ClipLoader, Dataset, LoaderState } from "../data/loader.js";
import { channelMae, mean, psnr } from "../data/image-metrics.js";
import { tilePng } from "../data/tiles.js";
import type { Tile } from "../data/tiles.js";
import { TRAIN_DEFAULTS } from "./loop.js";
import type { Phase, StepMetrics, TrainConfig } from "./loop.js";
import type { ParamTree } from "../core/tree-names.js";
import { keep } from "../core/refs.js";

export interface TokenizerDataConfig {
  /** The dataset folder (stored so that --resume needs nothing else). */
  dir: string;
  /** Clips per batch. */
  batch: number;
  /** Frames per clip. */
  frames: number;
}

export interface TokenizerRunConfig {
  tokenizer: TokenizerConfig;
  train: TrainConfig;
  data: TokenizerDataConfig;
}

export const TOKENIZER_RUN_DEFAULTS: Readonly<TokenizerRunConfig> = freezeDeep({
  tokenizer: TOKENIZER_DEFAULTS,
  train: { ...TRAIN_DEFAULTS, steps: 3000, lr: 1e-3, warmupSteps: 100, weightDecay: 0.01 },
  data: { dir: "", batch: 8, frames: 4 },
});

type Batch = { x_BTHWC: np.Array; codebook_KD: np.Array };

export function tokenizerPhase(cfg: TokenizerRunConfig, ds: Dataset): Phase<TokenizerParams, TokenizerState, ClipBatch> {
  const tc = cfg.tokenizer;
  const vq = vqConfigOf(tc);
  const channels = tc.channels === 4 ? "rgbd" : "rgb";
  const [H, W] = ds.manifest.size;
  if (H !== tc.height || W !== tc.width) {
    throw new Error(`dataset ${ds.dir} has ${H}×${W} frames but tokenizer.height/width are ${tc.height}×${tc.width}`);
  }
  const loader: ClipLoader = clipLoader(ds, { split: "train", batch: cfg.data.batch, frames: cfg.data.frames, seed: cfg.train.seed, channels });

  const train = makeTrainStep<ArrayTree, Batch>(
    (p, batch) => {
      const out = tokenizerLoss(p as unknown as TokenizerParams, batch.codebook_KD, batch.x_BTHWC, tc);
      const a = out.aux;
      const stats = codebookStats(a.indices_BTN.ref, tc.codes);
      return {
        loss: out.loss,
        aux: { rgbMse: a.rgbMse, depthMse: a.depthMse, commit: a.commit, z: a.z_BTNd, indices: a.indices_BTN, usage: stats.usage, perplexity: stats.perplexity },
      };
    },
    { adamw: { b1: cfg.train.b1, b2: cfg.train.b2, weightDecay: cfg.train.weightDecay }, clipNorm: cfg.train.clipNorm },
  );

  /**
   * One whole step as a pure function (so it runs on either backend): loss, gradients, AdamW,
   * then the EMA codebook update and code ages. z is returned for the dead-code reset.
   */
  const fullStep = (params: ArrayTree, opt: ArrayTree, state: TokenizerState, x: np.Array, lr: np.Array) => {
    // freezeEncoder: the encoder's weights as they came in (AdamW's weight decay would move them) and the state untouched.
    const frozen = tc.freezeEncoder ? keep(halves(params as unknown as TokenizerParams).enc) : null;
    const out = train.stepFn(params, opt as unknown as AdamWState<ArrayTree>, { x_BTHWC: x, codebook_KD: frozen ? state.codebook_KD.ref : state.codebook_KD }, lr);
    const aux = out.aux as Record<string, np.Array>;
    const metrics = {
      loss: out.loss, psnr: np.log(aux.rgbMse.ref).mul(-10 / Math.LN10), rgb_mse: aux.rgbMse, depth_mse: aux.depthMse, commit: aux.commit,
      usage: aux.usage, perplexity: aux.perplexity, grad_norm: out.gradNorm,
    };
    if (frozen) {
      const updated = out.params as unknown as TokenizerParams;
      tree.dispose(halves(updated).enc as unknown as ArrayTree);
      aux.indices.dispose();
      return { params: { ...updated, ...frozen } as unknown as ArrayTree, opt: out.optState, state, metrics, z: aux.z };
    }
    const ema = emaUpdate(state.ema, aux.z.ref, aux.indices.ref, vq);
    const age_K = updateCodeAge(state.age_K, aux.indices, vq);
    return { params: out.params, opt: out.optState, state: { codebook_KD: ema.codebook_KD, ema: ema.state, age_K }, metrics, z: aux.z };
  };
  type FullOut = ReturnType<typeof fullStep>;
  const runner = stepRunner(fullStep, cfg.train);

  const deadCodes = deadCodeResetter(vq);

  const roundTrip = jit(((p: TokenizerParams, codebook: np.Array, x: np.Array) => {
    const tokens = tokenize(keep(p), codebook.ref, x, tc);
    return [detokenize(p, codebook, tokens.ref, tc), tokens];
  }) as never) as unknown as OwnedFunction<(p: TokenizerParams, c: np.Array, x: np.Array) => [np.Array, np.Array]>;

  /** Reconstruct a host batch: returns recon (host) and tokens (host). Borrows params. */
  async function reconstruct(p: TokenizerParams, s: TokenizerState, b: ClipBatch): Promise<{ recon: Float32Array; tokens: Int32Array }> {
    const [xhat, tokens] = roundTrip(keep(p), s.codebook_KD.ref, clipArray(b));
    return { recon: (await xhat.data()) as Float32Array, tokens: (await tokens.data()) as Int32Array };
  }

  return {
    name: "tokenizer",
    config: cfg,
    init(key) {
      const { params, state } = initTokenizer(key, tc);
      return { params, state, opt: adamwInit(keep(params) as unknown as ArrayTree) as unknown as ParamTree };
    },
    async adaptInit(file, fresh) {
      // A world folder's tokenizer.safetensors ({ params, codebook_KD }, no training state): its
      // weights and codebook, the EMA statistics started from that codebook, every code's age 0.
      const ck = await loadCheckpoint(file, { loadOptState: false });
      const p = ck.params as unknown as { params?: TokenizerParams; codebook_KD?: np.Array };
      if (Object.keys(p).sort().join() !== "codebook_KD,params" || !p.params || !p.codebook_KD) {
        tree.dispose(ck.params);
        return null;
      }
      const problems = compareShapes(p.params as unknown as ParamTree, fresh.params as unknown as ParamTree) || compareShapes({ codebook_KD: p.codebook_KD } as unknown as ParamTree, { codebook_KD: fresh.state.codebook_KD } as unknown as ParamTree);
      tree.dispose([fresh.params, fresh.state] as unknown as ParamTree);
      if (problems) {
        tree.dispose([ck.params, fresh.opt]);
        throw new Error(`train.init ${file} does not match the model: ${problems}`);
      }
      const state: TokenizerState = { codebook_KD: p.codebook_KD.ref, ema: initVQEma(p.codebook_KD, vq), age_K: initCodeAge(vq) };
      return { params: p.params, state, opt: fresh.opt };
    },
    async step(params, opt, state, batch, lr, key, step) {
      const args = [params, opt, state, clipArray(batch), lr] as unknown as ArrayTree[];
      const out = (await runner.run(...args)) as FullOut;
      const newState = tc.freezeEncoder ? (out.z.dispose(), key.dispose(), out.state) : deadCodes.apply(out.state, out.z, key, step);
      return { params: out.params as unknown as TokenizerParams, opt: out.opt as unknown as ParamTree, state: newState, metrics: out.metrics as StepMetrics };
    },
    async nextBatch() {
      const b = await loader.next();
      return b;
    },
    loaderState: () => loader.state(),
    restoreLoader: (s) => loader.restore(s as LoaderState),
    async validate(p, s) {
      const val = clipLoader(ds, { split: "val", batch: cfg.data.batch, frames: cfg.data.frames, seed: 1234, channels });
      const psnrs: number[] = [];
      const maes: number[] = [];
      const used = new Set<number>();
      for (let i = 0; i < cfg.train.valBatches; i++) {
        const b = await val.next();
        const { recon, tokens } = await reconstruct(p, s, b);
        const shape = { frames: b.B * b.T, height: b.H, width: b.W, channels: b.C };
        psnrs.push(...psnr(recon, b.x_BTHWC, shape));
        if (b.C === 4) maes.push(...channelMae(recon, b.x_BTHWC, shape, 3));
        for (const t of tokens) used.add(t);
      }
      const out: Record<string, number> = { psnr: mean(psnrs), usage: used.size / tc.codes };
      if (maes.length) out.depth_mae = mean(maes);
      return out;
    },
    async samples(p, s, dir, step) {
      const val = clipLoader(ds, { split: "val", batch: Math.min(4, cfg.data.batch), frames: cfg.data.frames, seed: 99, channels });
      const b = await val.next();
      const { recon } = await reconstruct(p, s, b);
      const frameSize = b.H * b.W * b.C;
      const rows: Tile[][] = [];
      for (let i = 0; i < b.B; i++) {
        const offset = (i * b.T + b.T - 1) * frameSize; // last frame of each clip: it sees the most context
        const t = (data: Float32Array, show: "rgb" | "depth"): Tile => ({ data, offset, height: b.H, width: b.W, channels: b.C, show });
        rows.push(b.C === 4 ? [t(b.x_BTHWC, "rgb"), t(recon, "rgb"), t(b.x_BTHWC, "depth"), t(recon, "depth")] : [t(b.x_BTHWC, "rgb"), t(recon, "rgb")]);
      }
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `recon-${String(step).padStart(6, "0")}.png`), tilePng(rows, 3));
    },
    plots: [
      ["loss", true],
      ["psnr", false],
      ["usage", false],
      ["depth_mae", false],
    ],
    dispose() {
      runner.dispose();
      deadCodes.dispose();
      train.dispose();
      roundTrip.dispose();
    },
  };
}
