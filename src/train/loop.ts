/**
 * One training loop for every phase (tokenizer, latent actions, dynamics, prompt). A phase
 * supplies its model through the `Phase` interface; the loop owns everything else: the run
 * folder, the schedule, progress, metrics.jsonl, periodic validation, samples, curves,
 * checkpoints and exact resume.
 *
 * Exact resume: the step's PRNG key is derived from (seed, step), the learning rate from the
 * step, and the data loader's position is stored in the checkpoint, so a resumed run produces
 * the same losses as an uninterrupted one.
 */
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { np, tree } from "../core/jax.js";
import { makeKey } from "../core/keys.js";
import type { Key } from "../core/keys.js";
import { freezeDeep } from "../core/config.js";
import { warmupCosine } from "../nn/schedule.js";
import { Progress } from "../core/progress.js";
import { checkpointPath, latestCheckpoint, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from "../core/checkpoint.js";
import { compareShapes } from "../core/tree-names.js";
import type { ParamTree } from "../core/tree-names.js";
import { appendMetrics, createRunFolder, flushMetrics, readMetrics } from "./run-folder.js";
import { COLORS, plotPanels } from "./plot.js";
import type { Panel } from "./plot.js";

export interface TrainConfig {
  /** Total optimizer steps. */
  steps: number;
  /** Peak learning rate (after warmup). */
  lr: number;
  /** Linear warmup steps from 0 to `lr`. */
  warmupSteps: number;
  /** Final learning rate as a fraction of `lr` at the end of the cosine decay. */
  finalLrFraction: number;
  /** AdamW β1. */
  b1: number;
  /** AdamW β2 (0.95 suits transformers trained for few steps). */
  b2: number;
  /** Decoupled weight decay (matrices only). */
  weightDecay: number;
  /** Global gradient-norm clip. */
  clipNorm: number;
  /** Seed for initialisation, data order and per-step randomness. */
  seed: number;
  /** Print/log train metrics every N steps. */
  logEvery: number;
  /** Validate every N steps (and at the end); 0 disables. */
  valEvery: number;
  /** Validation batches per validation. */
  valBatches: number;
  /** Write sample images every N steps (and at the end); 0 disables. */
  sampleEvery: number;
  /** Checkpoint every N steps (and at the end). */
  ckptEvery: number;
  /** Checkpoints kept on disk (oldest pruned). */
  keepCheckpoints: number;
  /** Where the training step runs: "ort" (onnxruntime, the fast path) or "jax" (jax-js jit). */
  backend: "ort" | "jax";
  /** onnxruntime threads; 0 means every core. */
  threads: number;
  /**
   * Start from this checkpoint's params and state (a run folder's latest checkpoint, or a
   * checkpoint file) instead of a fresh init, with a fresh optimizer and step 0: fine-tuning,
   * e.g. a tokenizer for a new world from the default world's. "" = fresh init. Shapes must match.
   */
  init: string;
  /**
   * With `init`: keep only these blocks of the checkpoint's `blocks` lists, in this order, e.g.
   * "0,3" starts a 2-layer model from a 4-layer one's first and last blocks (a smaller, faster
   * model that begins from a trained one). "" keeps them all.
   */
  initLayers: string;
}

export const TRAIN_DEFAULTS: Readonly<TrainConfig> = freezeDeep({
  steps: 2000,
  lr: 1e-3,
  warmupSteps: 100,
  finalLrFraction: 0.1,
  b1: 0.9,
  b2: 0.95,
  weightDecay: 0.01,
  clipNorm: 1.0,
  seed: 0,
  logEvery: 10,
  valEvery: 250,
  valBatches: 4,
  sampleEvery: 250,
  ckptEvery: 250,
  keepCheckpoints: 2,
  backend: "ort",
  threads: 0,
  init: "",
  initLayers: "",
});

/** Scalar metrics a step returns: arrays (read after the step) or plain numbers. */
export type StepMetrics = Record<string, np.Array | number>;

export interface StepResult<P, S> {
  params: P;
  opt: ParamTree;
  state: S;
  metrics: StepMetrics;
}

/** What a phase gives the loop. `P` params, `S` trainable-free state (EMA, code ages), `B` a batch. */
export interface Phase<P extends object, S extends object, B> {
  /** "tokenizer", "lam", ... (used in messages). */
  name: string;
  /** The run's resolved config; written to config.json and into every checkpoint. */
  config: { train: TrainConfig };
  /** Fresh params and state (consumes key). */
  init(key: Key): { params: P; state: S; opt: ParamTree };
  /**
   * One optimizer step. Consumes params, opt, state and key; returns the new ones and metrics.
   * `lr` is a scalar array (consumed); `step` is the number of steps taken before this one.
   */
  step(params: P, opt: ParamTree, state: S, batch: B, lr: np.Array, key: Key, step: number): StepResult<P, S> | Promise<StepResult<P, S>>;
  /** The next training batch, and the loader position to store in checkpoints. */
  nextBatch(): Promise<B>;
  loaderState(): unknown;
  restoreLoader(state: unknown): void;
  /** Validation metrics on held-out data (borrows params/state: must not consume them). */
  validate?(params: P, state: S): Promise<Record<string, number>>;
  /** Write sample images into `dir` (borrows params/state). */
  samples?(params: P, state: S, dir: string, step: number): Promise<void>;
  /** Names of metrics to plot (train and val): e.g. [["loss", true], ["psnr", false]] (name, log scale). */
  plots?: [string, boolean][];
  /**
   * `train.init` from a checkpoint whose params differ in shape in a way the phase knows how to
   * bridge (e.g. dynamics: per-code action rows → per-group rows). Returns null when the
   * checkpoint is not such a case (the loop then loads it as is); otherwise consumes `fresh`.
   */
  adaptInit?(file: string, fresh: { params: P; state: S; opt: ParamTree }): Promise<{ params: P; state: S; opt: ParamTree } | null>;
  /** Free jitted functions. */
  dispose?(): void;
}

export interface RunOptions {
  /** The run folder. */
  out: string;
  /** Continue from the latest checkpoint in `out`. */
  resume?: boolean;
  /** The command line, for command.txt. */
  command: string[];
  /** Stop after this step (for tests that simulate an interruption); the run stays resumable. */
  stopAt?: number;
  /** No progress output. */
  quiet?: boolean;
}

export interface RunResult<P, S> {
  params: P;
  state: S;
  step: number;
  lastMetrics: Record<string, number>;
}

/** Derive the key of step `step` from the seed: independent of how the run was split. */
export function stepKey(seed: number, step: number): Key {
  return makeKey((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca77)) | 0);
}

async function readMetricsOf(metrics: StepMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) out[k] = typeof v === "number" ? v : Number((await v.data())[0]);
  return out;
}

/**
 * The checkpoint file `train.init` names: a run folder's latest checkpoint, a world folder's part
 * file (`<phase>.safetensors`, e.g. models/default/dynamics.safetensors), or the file itself.
 */
async function initFile(path: string, phaseName: string): Promise<string> {
  const part = join(path, `${phaseName}.safetensors`);
  const file = existsSync(part) ? part : existsSync(join(path, "config.json")) ? await latestCheckpoint(path) : path;
  if (!file || !existsSync(file)) throw new Error(`train.init ${path}: no checkpoint there (give a run folder, a world folder or a ckpt-*.safetensors file)`);
  return file;
}

/**
 * A checkpoint's params and saved phase state. A world's part file holds `{ params }` and no
 * optimizer or phase state: its params are unwrapped and its state is null (the phase starts
 * its own). A part with more beside its params (the tokenizer's and LAM's codebooks, kept in the
 * training state) is refused: its run folder has that state.
 */
async function loadInit(file: string, fresh: ParamTree): Promise<{ params: ParamTree; state: ParamTree | null }> {
  const ck = await loadCheckpoint(file);
  const saved = ck.optState as { adam?: ParamTree; state?: ParamTree } | null;
  tree.dispose(saved?.adam ?? []);
  const keys = Object.keys(ck.params as object);
  const wrapped = saved === null && keys.includes("params") && !Object.keys(fresh as object).includes("params");
  if (!wrapped) return { params: ck.params, state: saved?.state ?? null };
  const { params, ...rest } = ck.params as Record<string, ParamTree>;
  if (keys.length > 1) {
    tree.dispose([params, rest as ParamTree]);
    throw new Error(`train.init ${file}: a world's part file with ${keys.filter((k) => k !== "params").join(", ")} beside its params; init from the run folder that made it`);
  }
  return { params, state: null };
}

/** Params and state from `path` (run folder, world folder or checkpoint file), the fresh optimizer; consumes `fresh`. */
async function initFrom<P extends object, S extends object, B>(path: string, layers: string, fresh: { params: P; state: S; opt: ParamTree }, phase: Phase<P, S, B>): Promise<{ params: P; state: S; opt: ParamTree }> {
  const file = await initFile(path, phase.name);
  if (layers) return initFromLayers(file, layers, fresh);
  const adapted = phase.adaptInit ? await phase.adaptInit(file, fresh) : null;
  if (adapted) return adapted;
  const loaded = await loadInit(file, fresh.params as ParamTree);
  const problems = compareShapes(loaded.params, fresh.params as ParamTree) || (loaded.state && compareShapes(loaded.state, fresh.state as ParamTree));
  if (problems) {
    tree.dispose([loaded.params, loaded.state ?? [], fresh.params as ParamTree, fresh.state as ParamTree, fresh.opt]);
    throw new Error(`train.init ${file} does not match the model: ${problems}`);
  }
  tree.dispose(fresh.params as ParamTree);
  if (loaded.state) tree.dispose(fresh.state as ParamTree);
  return { params: loaded.params as P, state: (loaded.state ?? fresh.state) as S, opt: fresh.opt };
}

/** Parse `train.initLayers` ("0,3") against a checkpoint with `have` blocks. */
export function parseInitLayers(spec: string, have: number, file: string): number[] {
  const picks = spec.split(",").map((s) => s.trim());
  const out = picks.map(Number);
  const bad = picks.find((s, i) => !/^\d+$/.test(s) || out[i] >= have);
  if (bad !== undefined) throw new Error(`train.initLayers "${spec}": "${bad}" is not a block of ${file} (it has blocks 0..${have - 1})`);
  return out;
}

/** The length of every `blocks` list in `t`. */
function blockCounts(t: ParamTree): number[] {
  if (Array.isArray(t) || t === null || typeof t !== "object" || t instanceof np.Array) return [];
  return Object.entries(t as Record<string, ParamTree>).flatMap(([k, v]) => (k === "blocks" && Array.isArray(v) ? [v.length] : blockCounts(v)));
}

/** Replace every `blocks` list in `t` by its entries `keep` (checked by `parseInitLayers`; the unpicked ones are disposed). */
function pickBlocks(t: ParamTree, keep: number[]): { tree: ParamTree; found: boolean } {
  if (Array.isArray(t) || t === null || typeof t !== "object" || t instanceof np.Array) return { tree: t, found: false };
  let found = false;
  const out: Record<string, ParamTree> = {};
  for (const [k, v] of Object.entries(t as Record<string, ParamTree>)) {
    if (k === "blocks" && Array.isArray(v)) {
      v.forEach((b, i) => {
        if (!keep.includes(i)) tree.dispose(b);
      });
      out[k] = keep.map((i, j) => (keep.indexOf(i) === j ? v[i] : tree.ref(v[i] as never)) as ParamTree);
      found = true;
    } else {
      const r = pickBlocks(v, keep);
      out[k] = r.tree;
      found ||= r.found;
    }
  }
  return { tree: out as ParamTree, found };
}

/** `train.init` with `train.initLayers`: the picked blocks and everything else as is; consumes `fresh`. */
async function initFromLayers<P extends object, S extends object>(file: string, layers: string, fresh: { params: P; state: S; opt: ParamTree }): Promise<{ params: P; state: S; opt: ParamTree }> {
  const ck = await loadInit(file, fresh.params as ParamTree);
  let keep: number[] = [];
  try {
    for (const n of blockCounts(ck.params)) keep = parseInitLayers(layers, n, file);
  } catch (e) {
    tree.dispose([ck.params, ck.state ?? [], fresh.params as ParamTree, fresh.state as ParamTree, fresh.opt]);
    throw e;
  }
  const { tree: params, found } = pickBlocks(ck.params, keep);
  // The phase's state (codebook EMA and the like) comes from the checkpoint too, when it has one; its Adam moments do not.
  const state = ck.state ? pickBlocks(ck.state, keep).tree : (fresh.state as ParamTree);
  const stateProblem = compareShapes(state, fresh.state as ParamTree);
  const problems = !found ? `it has no "blocks" list to pick from` : compareShapes(params, fresh.params as ParamTree) || (stateProblem && `state: ${stateProblem}`);
  tree.dispose(fresh.params as ParamTree);
  if (ck.state) tree.dispose(fresh.state as ParamTree);
  if (problems) {
    tree.dispose([params, state, fresh.opt]);
    throw new Error(`train.init ${file} with train.initLayers "${layers}": ${problems}`);
  }
  return { params: params as P, state: state as S, opt: fresh.opt };
}

/** Train a phase to `config.train.steps`, resuming if asked. Returns the final params (owned by the caller). */
export async function runTraining<P extends object, S extends object, B>(
  phase: Phase<P, S, B>,
  opts: RunOptions,
): Promise<RunResult<P, S>> {
  const cfg = phase.config.train;
  const resumeFrom = opts.resume ? await latestCheckpoint(opts.out) : null;
  if (opts.resume && !resumeFrom) throw new Error(`--resume ${opts.out}: no checkpoint found in that folder`);
  if (cfg.initLayers && !cfg.init) throw new Error(`train.initLayers "${cfg.initLayers}" picks blocks of the train.init checkpoint, but no train.init is given`);
  if (!opts.resume && existsSync(join(opts.out, "metrics.jsonl"))) {
    throw new Error(`${opts.out} already holds a run; pass --resume to continue it or choose another --out`);
  }
  await createRunFolder(opts.out, { config: phase.config, command: opts.command, resume: !!opts.resume });

  let params: P;
  let state: S;
  let opt: ParamTree;
  let step = 0;
  const fresh = phase.init(makeKey(cfg.seed));
  if (resumeFrom) {
    const ck = await loadCheckpoint(resumeFrom, {
      template: fresh.params as ParamTree,
      optTemplate: { adam: fresh.opt, state: fresh.state as ParamTree },
    });
    tree.dispose(fresh as unknown as ParamTree);
    params = ck.params as P;
    const o = ck.optState as { adam: ParamTree; state: S };
    opt = o.adam;
    state = o.state;
    step = ck.step;
    phase.restoreLoader(ck.extra.loader);
  } else if (cfg.init) {
    ({ params, state, opt } = await initFrom(cfg.init, cfg.initLayers, fresh, phase));
  } else {
    ({ params, state, opt } = fresh);
  }

  const schedule = warmupCosine({ peak: cfg.lr, warmupSteps: Math.min(cfg.warmupSteps, cfg.steps), totalSteps: cfg.steps, final: cfg.lr * cfg.finalLrFraction });
  const lastStep = Math.min(cfg.steps, opts.stopAt ?? cfg.steps);
  const bar = new Progress({ total: cfg.steps, start: step, label: `train ${phase.name}`, unit: "step", quiet: opts.quiet });
  let last: Record<string, number> = {};

  const save = async () => {
    await saveCheckpoint(checkpointPath(opts.out, step), {
      params: params as ParamTree,
      optState: { adam: opt, state: state as ParamTree },
      step,
      config: phase.config,
      extra: { loader: phase.loaderState() },
    });
    await pruneCheckpoints(opts.out, cfg.keepCheckpoints);
  };

  const t0 = performance.now();
  let stepsTimed = 0;
  while (step < lastStep) {
    const batch = await phase.nextBatch();
    const lr = schedule(step);
    const out = await phase.step(params, opt, state, batch, np.array(lr), stepKey(cfg.seed, step), step);
    ({ params, opt, state } = out);
    step++;
    stepsTimed++;
    const m = await readMetricsOf(out.metrics);
    if (!Number.isFinite(m.loss)) {
      throw new Error(`${phase.name}: loss became ${m.loss} at step ${step}; the last good checkpoint is in ${opts.out}`);
    }
    last = { ...m, lr };
    const rate = stepsTimed / ((performance.now() - t0) / 1000);
    bar.tick(1, pickProgress(m));
    if (step % cfg.logEvery === 0 || step === lastStep) appendMetrics(opts.out, { step, split: "train", ...last, steps_per_s: rate });
    const atEnd = step === cfg.steps;
    if (phase.validate && cfg.valEvery > 0 && (step % cfg.valEvery === 0 || atEnd)) {
      const v = await phase.validate(params, state);
      appendMetrics(opts.out, { step, split: "val", ...v });
    }
    if (phase.samples && cfg.sampleEvery > 0 && (step % cfg.sampleEvery === 0 || atEnd)) {
      await phase.samples(params, state, join(opts.out, "samples"), step);
    }
    if (step % cfg.ckptEvery === 0 || atEnd || step === lastStep) {
      await save();
      // Redrawn with each checkpoint rather than every log line: it rereads all of metrics.jsonl.
      await writeCurves(opts.out, phase.plots ?? [["loss", true]]);
    }
  }
  bar.done();
  flushMetrics(opts.out);
  return { params, state, step, lastMetrics: last };
}

function pickProgress(m: Record<string, number>): Record<string, number> {
  const keys = ["loss", "psnr", "usage", "purity"];
  const out: Record<string, number> = {};
  for (const k of keys) if (k in m) out[k] = m[k];
  return out;
}

/** Draw curves.png (and curves.json with the same series) from metrics.jsonl. */
export async function writeCurves(dir: string, plots: [string, boolean][]): Promise<void> {
  const records = (await readMetrics(dir)) as Record<string, unknown>[];
  const panels: Panel[] = plots.map(([name, logY]) => ({
    title: name,
    logY,
    series: ["train", "val"].map((split, i) => ({
      label: split,
      color: COLORS[i],
      points: records
        .filter((r) => r.split === split && typeof r[name] === "number")
        .map((r) => [r.step as number, r[name] as number] as [number, number]),
    })),
  }));
  await writeFile(join(dir, "curves.png"), plotPanels(panels));
  await writeFile(join(dir, "curves.json"), JSON.stringify(panels.map((p) => ({ title: p.title, series: p.series.map((s) => ({ label: s.label, points: s.points })) }))));
}
