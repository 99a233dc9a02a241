/**
 * The latent action model as a training phase: its step (loss + AdamW in one pure function that
 * runs on onnxruntime or jax-js, then the EMA codebook update and code ages), the dead-code reset
 * outside the exported graph (it needs randomness), validation (purity and NMI of the codes
 * against the true actions where the data has them, codes used, code sensitivity) and the
 * per-code sample strips.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jit, np } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { adamwInit } from "../nn/optim.js";
import type { AdamWState, ArrayTree } from "../nn/optim.js";
import { makeTrainStep } from "../nn/train-step.js";
import { stepRunner } from "./step-runner.js";
import { codebookStats, emaUpdate, updateCodeAge } from "../nn/vq.js";
import { deadCodeResetter } from "./dead-codes.js";
import { LAM_DEFAULTS, decoderKeepMask, inferActions, initLam, lamLoss, lamVqConfig, predictEveryAction } from "../models/lam.js";
import type { LamConfig, LamParams, LamState } from "../models/lam.js";
import { clipArray, clipLoader } from "../data/loader.js";
import type { ClipBatch, ClipLoader, Dataset, LoaderState } from "../data/loader.js";
import { codePairDifferences, confusionTable, nmi, purity, sensitivity } from "../eval/lam-eval.js";
import { tilePng } from "../data/tiles.js";
import type { Tile } from "../data/tiles.js";
import { TRAIN_DEFAULTS } from "./loop.js";
import type { Phase, StepMetrics, TrainConfig } from "./loop.js";
import type { ParamTree } from "../core/tree-names.js";
import { keep } from "../core/refs.js";
import { hostRng } from "../core/keys.js";

export interface LamDataConfig {
  /** The dataset folder (stored so that --resume needs nothing else). */
  dir: string;
  /** Clips per batch. */
  batch: number;
  /** Frames per clip: T − 1 transitions each (the encoder sees the earlier frames of the clip). */
  frames: number;
}

export interface LamRunConfig {
  lam: LamConfig;
  train: TrainConfig;
  data: LamDataConfig;
}

export const LAM_RUN_DEFAULTS: Readonly<LamRunConfig> = freezeDeep({
  lam: LAM_DEFAULTS,
  train: { ...TRAIN_DEFAULTS, steps: 3000, lr: 2e-3, warmupSteps: 100, weightDecay: 0.01 },
  data: { dir: "", batch: 16, frames: 3 },
});

type Batch = { x_BTHWC: np.Array; codebook_KD: np.Array; keep_BUN?: np.Array };

/** A jitted "code of every transition" and "next frame under every code", shared by validation, samples and eval. */
export function lamInference(cfg: LamConfig) {
  const infer = jit(((p: LamParams, c: np.Array, x: np.Array) => inferActions(p, c, x, cfg)) as never) as unknown as OwnedFunction<
    (p: LamParams, c: np.Array, x: np.Array) => np.Array
  >;
  const every = jit(((p: LamParams, c: np.Array, x: np.Array) => predictEveryAction(p, c, x, cfg)) as never) as unknown as OwnedFunction<
    (p: LamParams, c: np.Array, x: np.Array) => np.Array
  >;
  return {
    /** Codes (B·(T−1), row-major) of a host clip batch. Borrows params and codebook. */
    async codes(p: LamParams, codebook_KD: np.Array, b: ClipBatch): Promise<Int32Array> {
      return (await infer(keep(p), codebook_KD.ref, clipArray(b)).data()) as Int32Array;
    },
    /** x̂ under every code, (A, F, H, W, C) flattened, for F host frames. Borrows params and codebook. */
    async everyAction(p: LamParams, codebook_KD: np.Array, frames: Float32Array, F: number): Promise<Float32Array> {
      const x = np.array(frames, { shape: [F, cfg.height, cfg.width, cfg.channels] });
      return (await every(keep(p), codebook_KD.ref, x).data()) as Float32Array;
    },
    dispose() {
      infer.dispose();
      every.dispose();
    },
  };
}

/** The true actions of a clip batch per transition (B·(T−1)), matching the code layout. */
export function transitionActions(b: ClipBatch): Int32Array {
  const out = new Int32Array(b.B * (b.T - 1));
  for (let i = 0; i < b.B; i++) for (let t = 0; t < b.T - 1; t++) out[i * (b.T - 1) + t] = b.actions_BT[i * b.T + t];
  return out;
}

/** Frame t of clip i of a batch, copied out. */
function frameOf(b: ClipBatch, i: number, t: number): Float32Array {
  const size = b.H * b.W * b.C;
  const off = (i * b.T + t) * size;
  return b.x_BTHWC.slice(off, off + size);
}

/** Gain of the strip's change rows: a change of 1/CHANGE_GAIN of the range shows at full brightness. */
const CHANGE_GAIN = 6;

/**
 * b − a per pixel (the mean over the RGB channels), times CHANGE_GAIN, as an RGB frame in [0, 1]:
 * orange where b is brighter, blue where it is darker, black where nothing changed. At the LAM's
 * size a one-pixel scroll is hard to see in the frames themselves; in their change it lights up
 * every edge, and which side of an edge is orange tells the direction (a scroll one way swaps the
 * colours of the other).
 */
function changeFrame(a: Float32Array, aOff: number, b: Float32Array, bOff: number, H: number, W: number, C: number): Float32Array {
  const out = new Float32Array(H * W * 3);
  const K = Math.min(3, C);
  for (let i = 0; i < H * W; i++) {
    let d = 0;
    for (let k = 0; k < K; k++) d += (b[bOff + i * C + k] - a[aOff + i * C + k]) / K;
    const v = Math.min(1, Math.abs(d) * CHANGE_GAIN);
    out.set(d > 0 ? [v, 0.5 * v, 0] : [0, 0.6 * v, v], i * 3);
  }
  return out;
}

/**
 * The per-code strip: two rows per sample frame. The first: x_t, the true x_t+1, then x̂_t+1
 * under each of the A codes (the column the encoder chose is the one to compare with the truth).
 * The second: under each of those, its change from x_t (`changeFrame`; blank under x_t), so a
 * code that copies the frame is black and one that scrolls or moves the player shows its edges
 * in orange and blue, their order across an edge telling the direction.
 */
export async function codeStripPng(inf: ReturnType<typeof lamInference>, p: LamParams, s: LamState, b: ClipBatch, cfg: LamConfig): Promise<Uint8Array> {
  const F = b.B;
  const size = b.H * b.W * b.C;
  const t = b.T - 2; // last transition of each clip: the encoder has seen the most context
  const frames = new Float32Array(F * size);
  for (let i = 0; i < F; i++) frames.set(frameOf(b, i, t), i * size);
  const pred = await inf.everyAction(p, s.codebook_KD, frames, F);
  const tile = (data: Float32Array, offset = 0): Tile => ({ data, offset, height: b.H, width: b.W, channels: b.C, show: "rgb" });
  const rows: Tile[][] = [];
  const blank: Tile = { data: new Float32Array(b.H * b.W * 3), height: b.H, width: b.W, channels: 3, show: "rgb" };
  for (let i = 0; i < F; i++) {
    const next = frameOf(b, i, t + 1);
    const row = [tile(frames, i * size), tile(next)];
    const change = [blank, { ...blank, data: changeFrame(frames, i * size, next, 0, b.H, b.W, b.C) }];
    for (let a = 0; a < cfg.codes; a++) {
      row.push(tile(pred, (a * F + i) * size));
      change.push({ ...blank, data: changeFrame(frames, i * size, pred, (a * F + i) * size, b.H, b.W, b.C) });
    }
    rows.push(row, change);
  }
  return tilePng(rows, 2);
}

export function lamPhase(cfg: LamRunConfig, ds: Dataset): Phase<LamParams, LamState, ClipBatch> {
  const lc = cfg.lam;
  const vq = lamVqConfig(lc);
  const channels = lc.channels === 4 ? "rgbd" : "rgb";
  const [H, W] = ds.manifest.size;
  if (H !== lc.height || W !== lc.width) throw new Error(`dataset ${ds.dir} has ${H}×${W} frames but lam.height/width are ${lc.height}×${lc.width}`);
  if (cfg.data.frames < 2) throw new Error(`lam: data.frames must be ≥ 2 (one transition), got ${cfg.data.frames}`);
  const loader: ClipLoader = clipLoader(ds, { split: "train", batch: cfg.data.batch, frames: cfg.data.frames, seed: cfg.train.seed, channels });
  const numActions = ds.manifest.actions?.length ?? 0;

  const train = makeTrainStep<ArrayTree, Batch>(
    (p, batch) => {
      const out = lamLoss(p as unknown as LamParams, batch.codebook_KD, batch.x_BTHWC, lc, batch.keep_BUN);
      const a = out.aux;
      const stats = codebookStats(a.indices_BU.ref, lc.codes);
      return { loss: out.loss, aux: { mse: a.mse, commit: a.commit, z: a.z_BUd, indices: a.indices_BU, usage: stats.usage, perplexity: stats.perplexity } };
    },
    { adamw: { b1: cfg.train.b1, b2: cfg.train.b2, weightDecay: cfg.train.weightDecay }, clipNorm: cfg.train.clipNorm },
  );

  /** One whole step as a pure function (either backend); z comes back for the dead-code reset. */
  const fullStep = (params: ArrayTree, opt: ArrayTree, state: LamState, x: np.Array, lr: np.Array, keep?: np.Array) => {
    const out = train.stepFn(params, opt as unknown as AdamWState<ArrayTree>, { x_BTHWC: x, codebook_KD: state.codebook_KD, ...(keep ? { keep_BUN: keep } : {}) }, lr);
    const aux = out.aux as Record<string, np.Array>;
    const ema = emaUpdate(state.ema, aux.z.ref, aux.indices.ref, vq);
    const age_K = updateCodeAge(state.age_K, aux.indices, vq);
    const metrics = { loss: out.loss, mse: aux.mse, commit: aux.commit, usage: aux.usage, perplexity: aux.perplexity, grad_norm: out.gradNorm };
    return { params: out.params, opt: out.optState, state: { codebook_KD: ema.codebook_KD, ema: ema.state, age_K }, metrics, z: aux.z };
  };
  type FullOut = ReturnType<typeof fullStep>;
  const runner = stepRunner(fullStep, cfg.train);

  const deadCodes = deadCodeResetter(vq);

  const inf = lamInference(lc);

  return {
    name: "lam",
    config: cfg,
    init(key) {
      const { params, state } = initLam(key, lc);
      return { params, state, opt: adamwInit(keep(params) as unknown as ArrayTree) as unknown as ParamTree };
    },
    async step(params, opt, state, batch, lr, key, step) {
      const args = [params, opt, state, clipArray(batch), lr] as unknown as ArrayTree[];
      if ((lc.decoderDrop ?? 0) > 0) {
        // The dropped tokens differ every step, and the same again on a resume (seeded by the step).
        const m = decoderKeepMask(lc, batch.B, batch.T - 1, hostRng(cfg.train.seed * 1_000_003 + step));
        args.push(np.array(m.data, { shape: m.shape }) as unknown as ArrayTree);
      }
      const out = (await runner.run(...args)) as FullOut;
      const newState = deadCodes.apply(out.state, out.z, key, step);
      return { params: out.params as unknown as LamParams, opt: out.opt as unknown as ParamTree, state: newState, metrics: out.metrics as StepMetrics };
    },
    nextBatch: () => loader.next(),
    loaderState: () => loader.state(),
    restoreLoader: (s) => loader.restore(s as LoaderState),
    async validate(p, s) {
      const val = clipLoader(ds, { split: "val", batch: cfg.data.batch, frames: cfg.data.frames, seed: 1234, channels });
      const codes: number[] = [];
      const actions: number[] = [];
      let last: ClipBatch | null = null;
      for (let i = 0; i < cfg.train.valBatches; i++) {
        const b = await val.next();
        codes.push(...(await inf.codes(p, s.codebook_KD, b)));
        actions.push(...transitionActions(b));
        last = b;
      }
      const used = new Set(codes).size;
      const out: Record<string, number> = { codes_used: used };
      if (last) {
        const F = Math.min(8, last.B);
        const size = last.H * last.W * last.C;
        const frames = new Float32Array(F * size);
        for (let i = 0; i < F; i++) frames.set(frameOf(last, i, 0), i * size);
        out.sensitivity = sensitivity(codePairDifferences(await inf.everyAction(p, s.codebook_KD, frames, F), lc.codes));
      }
      if (numActions > 0 && actions.some((a) => a >= 0)) {
        const table = confusionTable(actions, codes, numActions, lc.codes);
        out.purity = purity(table);
        out.nmi = nmi(table);
      }
      return out;
    },
    async samples(p, s, dir, step) {
      const val = clipLoader(ds, { split: "val", batch: Math.min(6, cfg.data.batch), frames: cfg.data.frames, seed: 99, channels });
      const png = await codeStripPng(inf, p, s, await val.next(), lc);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `codes-${String(step).padStart(6, "0")}.png`), png);
    },
    plots: [
      ["loss", true],
      ["purity", false],
      ["nmi", false],
      ["sensitivity", false],
      ["perplexity", false],
    ],
    dispose() {
      runner.dispose();
      deadCodes.dispose();
      train.dispose();
      inf.dispose();
    },
  };
}
