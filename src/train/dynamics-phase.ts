/**
 * The dynamics model as a training phase. Its data are token sequences, not frames: the frozen
 * tokenizer and LAM (or the dataset's true actions) are run once over the dataset into a cache in
 * the run folder (src/train/token-cache.ts), and each step draws clips from that cache.
 *
 * Each step: B clips of T frames (train split), the action into each frame (a fraction
 * `actionDropout` replaced by "no action"), a MaskGIT mask (src/models/dynamics.ts
 * `trainingMask`), all drawn on the host from (seed, step), so a resumed run sees the same
 * batches; then the masked cross-entropy and AdamW in one compiled step (onnxruntime or jit).
 */
import { mkdir } from "node:fs/promises";
import { hostRng } from "../core/keys.js";
import { jit, np, tree } from "../core/jax.js";
import { loadCheckpoint } from "../core/checkpoint.js";
import { compareShapes } from "../core/tree-names.js";
import type { ParamTree } from "../core/tree-names.js";
import type { OwnedFunction } from "../core/jax.js";
import { freezeDeep } from "../core/config.js";
import { accuracyStepper } from "./step-runner.js";
import { DYNAMICS_DEFAULTS, boolArray, dynamicsLoss, groupByLabel, initDynamics, modelAction, trainingMask } from "../models/dynamics.js";
import { readActionsFile } from "../world/calibration.js";
import type { DynamicsConfig, DynamicsParams } from "../models/dynamics.js";
import type { Dataset } from "../data/loader.js";
import { disposeTokenizer, loadTokenizer } from "../world/tokenizer-io.js";
import { disposeLam, loadLam } from "../world/lam-io.js";
import { tokenCache } from "./token-cache.js";
import type { TokenCache } from "./token-cache.js";
import { TRAIN_DEFAULTS } from "./loop.js";
import type { Phase, TrainConfig } from "./loop.js";
import { keep } from "../core/refs.js";

export interface DynamicsDataConfig {
  /** The dataset folder. */
  dir: string;
  /** The frozen tokenizer: a run folder, world folder or checkpoint (`--tokenizer RUN`). */
  tokenizer: string;
  /** The frozen LAM whose codes are the actions (`--lam RUN`); "" with `trueActions`. */
  lam: string;
  /**
   * Train on the dataset's true actions instead of LAM codes (`--actions true`): for tests, for
   * comparison, and while no LAM is trained. A world trained so is driven by the game's own
   * action ids (actions.json is then not needed), and only works on data that has actions.
   */
  trueActions: boolean;
  /** Clips per batch B. */
  batch: number;
  /** Frames per clip T (at least the model's timeWindow, so every window length is trained). */
  frames: number;
  /** Frames per tokenizer call when building the cache (the tokenizer's training clip length). */
  chunk: number;
  /**
   * An actions.json of the LAM (`eval lam` writes one): codes with the same label become one
   * action of the model (DynamicsConfig.actionGroups). "" = one action per code.
   */
  actionGroups: string;
}

export interface DynamicsRunConfig {
  dynamics: DynamicsConfig;
  train: TrainConfig;
  data: DynamicsDataConfig;
}

export const DYNAMICS_RUN_DEFAULTS: Readonly<DynamicsRunConfig> = freezeDeep({
  dynamics: DYNAMICS_DEFAULTS,
  train: { ...TRAIN_DEFAULTS, steps: 5000, lr: 5e-4, warmupSteps: 200, weightDecay: 0.05 },
  data: { dir: "", tokenizer: "", lam: "", trueActions: false, batch: 8, frames: 8, chunk: 4, actionGroups: "" },
});

interface Batch {
  tokens_BTN: Int32Array;
  actions_BT: Int32Array;
  mask_BTN: Uint8Array;
}

/** Mix (seed, index) into one 32-bit host seed. */
function mix(seed: number, index: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 7, 0x85ebca77)) >>> 0;
}

/** B random clips of T frames from the cache's episodes of `split`, with masks and action dropout. */
export function sampleBatch(cache: TokenCache, split: "train" | "val", B: number, T: number, cfg: DynamicsConfig, rand: () => number): Batch {
  const { N } = cache.index;
  const eps = cache.index.episodes.filter((e) => e.split === split && e.frames >= T);
  if (!eps.length) throw new Error(`dynamics: no ${split} episode has ${T} frames (data.frames); use shorter clips or more data`);
  const tokens_BTN = new Int32Array(B * T * N);
  const actions_BT = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const e = eps[Math.floor(rand() * eps.length)];
    const start = e.offset + Math.floor(rand() * (e.frames - T + 1));
    tokens_BTN.set(cache.tokens.subarray(start * N, (start + T) * N), b * T * N);
    for (let t = 0; t < T; t++) actions_BT[b * T + t] = rand() < cfg.actionDropout ? cfg.actions : modelAction(cfg, cache.actions[start + t]);
  }
  return { tokens_BTN, actions_BT, mask_BTN: trainingMask(B, T, cfg, rand) };
}

function arrays(b: Batch, B: number, T: number, N: number) {
  return {
    tokens: np.array(b.tokens_BTN, { shape: [B, T, N], dtype: np.int32 }),
    actions: np.array(b.actions_BT, { shape: [B, T], dtype: np.int32 }),
    mask: boolArray(b.mask_BTN, [B, T, N]),
  };
}

/**
 * Build the phase: load the frozen models, build or reuse the token cache in `out`, and fix the
 * model's N, K and A from them (written into the run's config). Async because of the cache.
 */
export async function dynamicsPhase(cfg: DynamicsRunConfig, ds: Dataset, out: string, log: (s: string) => void = () => {}): Promise<Phase<DynamicsParams, Record<string, never>, Batch>> {
  if (!cfg.data.tokenizer) throw new Error("train dynamics: --tokenizer RUN is required (config data.tokenizer)");
  if (!cfg.data.trueActions && !cfg.data.lam) throw new Error("train dynamics: pass --lam RUN, or --actions true to train on the dataset's true actions");
  const tokenizer = await loadTokenizer(cfg.data.tokenizer);
  const lam = cfg.data.trueActions ? null : await loadLam(cfg.data.lam);
  await mkdir(out, { recursive: true });
  log(`dynamics: token cache for ${ds.dir} (tokenizer ${tokenizer.source}, actions ${lam ? lam.source : "true"})`);
  const started = Date.now();
  const cache = await tokenCache(out, ds, {
    tokenizer,
    lam,
    chunk: cfg.data.chunk,
    backend: cfg.train.backend,
    threads: cfg.train.threads,
    onProgress: (done, total) => {
      if (done % 25 === 0 || done === total) {
        const s = (Date.now() - started) / 1000;
        log(`dynamics: token cache ${done}/${total} episodes, ${s.toFixed(0)} s, ETA ${((s / done) * (total - done)).toFixed(0)} s`);
      }
    },
  });
  disposeTokenizer(tokenizer);
  if (lam) disposeLam(lam);
  const { N, K, A } = cache.index;
  let groups: number[] = [];
  if (cfg.data.actionGroups) {
    const file = readActionsFile(cfg.data.actionGroups);
    if (!file) throw new Error(`train dynamics: data.actionGroups ${cfg.data.actionGroups}: no actions.json there`);
    if (file.codes !== A) throw new Error(`train dynamics: ${cfg.data.actionGroups} labels ${file.codes} codes, the token cache's actions have ${A}`);
    const labels = Array.from({ length: A }, (_, c) => file.actions.find((a) => a.code === c)?.label ?? `code ${c}`);
    groups = groupByLabel(labels);
    log(`dynamics: ${A} LAM codes → ${Math.max(...groups) + 1} actions by label (${labels.map((l, c) => `${c}:${l}`).join(" ")})`);
  }
  const dc: DynamicsConfig = { ...cfg.dynamics, tokensPerFrame: N, codes: K, actions: groups.length ? Math.max(...groups) + 1 : A, actionGroups: groups };
  const config: DynamicsRunConfig = freezeDeep({ ...cfg, dynamics: dc });
  const { batch: B, frames: T } = cfg.data;
  if (T < 2) throw new Error(`train dynamics: data.frames must be ≥ 2 (frame 0 is context), got ${T}`);

  type Args = { tokens: np.Array; actions: np.Array; mask: np.Array };
  const stepper = accuracyStepper<DynamicsParams, Args>((p, b) => {
    const r = dynamicsLoss(p, b.tokens, b.actions, b.mask, dc);
    return { loss: r.loss, aux: { accuracy: r.aux.accuracy, scored: r.aux.scored } };
  }, cfg.train);
  const evalLoss = jit(((p: DynamicsParams, b: Args) => {
    const r = dynamicsLoss(p, b.tokens, b.actions, b.mask, dc);
    r.aux.scored.dispose();
    return [r.loss, r.aux.accuracy];
  }) as never) as unknown as OwnedFunction<(p: DynamicsParams, b: Args) => [np.Array, np.Array]>;
  let index = 0;

  return {
    name: "dynamics",
    config,
    init(key) {
      const params = initDynamics(key, dc);
      return { params, state: {}, opt: stepper.initOpt(params) };
    },
    async adaptInit(file, fresh) {
      // From a model conditioned on the LAM's codes to one on their groups: each group's action
      // row starts as the mean of its codes' rows ("no action" keeps its row); all else as is.
      // From a model whose action rows fit neither (a world trained on another LAM's codes, or
      // grouped otherwise): the group rows start fresh, "no action" and all else from the file.
      if (!groups.length) return null;
      const ck = await loadCheckpoint<{ dynamics?: Partial<DynamicsConfig> }>(file, { loadOptState: false });
      const old = ck.config?.dynamics;
      // A world's part file wraps its params ({ params }); a run's checkpoint does not.
      const raw = ck.params as unknown as { params?: DynamicsParams } & Partial<DynamicsParams>;
      const loaded = (raw.params && !raw.actionEmbed ? raw.params : raw) as DynamicsParams;
      const table = loaded.actionEmbed?.table;
      const fitsNow = table?.shape[0] === dc.actions + 1;
      const codeRows = !old?.actionGroups?.length && old?.actions === groups.length && table?.shape[0] === groups.length + 1;
      if (!table || fitsNow) {
        tree.dispose(ck.params as ParamTree);
        return null;
      }
      let rows: np.Array[];
      if (codeRows) {
        rows = Array.from({ length: dc.actions }, (_, g) => {
          const members = groups.flatMap((gi, c) => (gi === g ? [c] : []));
          return np.concatenate(members.map((c) => table.ref.slice([c, c + 1])), 0).mean(0, { keepdims: true }); // (members,D) -> (1,D)
        });
      } else {
        rows = [fresh.params.actionEmbed.table.ref.slice([0, dc.actions])]; // (G,D)
        log(`dynamics: init from ${file}: its ${table.shape[0] - 1} action rows do not belong to these ${groups.length} codes; the ${dc.actions} group rows start fresh`);
      }
      const last = table.shape[0] - 1;
      const grouped = np.concatenate([...rows, table.slice([last, last + 1])], 0); // (G+1, D)
      const params = { ...loaded, actionEmbed: { ...loaded.actionEmbed, table: grouped } };
      const problems = compareShapes(params as unknown as ParamTree, fresh.params as unknown as ParamTree);
      tree.dispose(fresh.params as unknown as ParamTree);
      if (problems) {
        tree.dispose(params as unknown as ParamTree);
        tree.dispose(fresh.opt);
        throw new Error(`train.init ${file}: ${problems}`);
      }
      if (codeRows) log(`dynamics: init from ${file}: its ${groups.length} code rows averaged into ${dc.actions} action groups`);
      return { params: params as DynamicsParams, state: fresh.state, opt: fresh.opt };
    },
    async step(params, opt, state, batch, lr, key) {
      key.dispose();
      return { ...(await stepper.step(params, opt, arrays(batch, B, T, N), lr)), state };
    },
    async nextBatch() {
      return sampleBatch(cache, "train", B, T, dc, hostRng(mix(cfg.train.seed, index++)));
    },
    loaderState: () => ({ index }),
    restoreLoader: (s) => {
      index = (s as { index: number }).index;
    },
    async validate(p) {
      let loss = 0;
      let accuracy = 0;
      const n = cfg.train.valBatches;
      for (let i = 0; i < n; i++) {
        const b = sampleBatch(cache, cache.index.episodes.some((e) => e.split === "val" && e.frames >= T) ? "val" : "train", B, T, dc, hostRng(mix(1234, i)));
        const [l, a] = evalLoss(keep(p), arrays(b, B, T, N));
        loss += Number((await l.data())[0]) / n;
        accuracy += Number((await a.data())[0]) / n;
      }
      return { loss, accuracy };
    },
    plots: [
      ["loss", true],
      ["accuracy", false],
    ],
    dispose() {
      stepper.dispose();
      evalLoss.dispose();
    },
  };
}
