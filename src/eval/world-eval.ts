/**
 * `eval world`: how well a learned world continues held-out play. From 4 context frames of the
 * dataset's held-out episodes (val split; all episodes when there is none), the session is
 * driven with the actions the LAM infers from the true continuation (or the dataset's true
 * actions, for a model trained on them), and compared with that continuation:
 *
 * - psnr_t, ssim_t: per horizon step 1..16 (RGB); psnr_t4 = step 4.
 * - delta_psnr_t4 (Genie's controllability): psnr_t4 with inferred actions minus with uniformly
 *   random codes, from the same starts.
 * - drift: PSNR at steps 16, 32, 64 of the same rollouts (null where no held-out episode is long
 *   enough).
 * - gravity (src/eval/gravity.ts), jump_rise and jump_fall (src/eval/jump.ts: the world driven by
 *   its jump key, as a person plays it), revisit_psnr and wall_penetration (src/eval/maze-eval.ts)
 *   on the worlds they apply to; step timing (src/eval/timing.ts).
 *
 * Action codes: the LAM labels windows of `lamChunk` frames overlapping by one, as the dynamics'
 * token cache did (src/train/token-cache.ts), so the codes mean what they meant in training.
 * Context frame j is given the code of the transition into it.
 *
 * Backend: the session runs on `backend` (default ort, onnxruntime). On ort, the same starts and
 * actions are also rolled out with int8 weights (fp32 when `int8` makes int8 the main session):
 * int8_psnr_drop is the horizon-mean PSNR of the fp32 rollouts minus that of the int8 ones, and
 * int8_step_ms_median the int8 session's median step (with timing on).
 */
import { dirname } from "node:path";
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { hostRng } from "../core/keys.js";
import type { ParamTree } from "../core/tree-names.js";
import { UNKNOWN_ACTION, depthScale } from "../data/format.js";
import type { EpisodeEntry } from "../data/format.js";
import { writeClip } from "../data/loader.js";
import type { Dataset } from "../data/loader.js";
import type { DecodedEpisode } from "../data/shard-reader.js";
import { codeCount } from "../models/dynamics.js";
import { inferActions } from "../models/lam.js";
import { readActionMap } from "../world/dynamics-io.js";
import type { LoadedWorld } from "../world/dynamics-io.js";
import type { LoadedLam } from "../world/lam-io.js";
import { WorldSession } from "../world/session.js";
import type { SessionBackend } from "../world/session.js";
import type { WorldState } from "../worlds/types.js";
import { fallingTargets, gravitySheet, scoreGravity } from "./gravity.js";
import type { GravityCase, GravityResult } from "./gravity.js";
import { isJumpStart, jumpCodes, jumpRollouts } from "./jump.js";
import type { JumpResult } from "./jump.js";
import { isWallStart, loopLeg, mazeMoves, revisitPsnr, wallPenetration } from "./maze-eval.js";
import type { MazeMoves, WallResult } from "./maze-eval.js";
import { mean, psnr, ssim, stderr } from "../data/image-metrics.js";
import { COST_WINDOW, timeSession } from "./timing.js";
import type { TimingResult } from "./timing.js";
import type { MaskgitScheduleKind } from "../models/maskgit.js";

/** One frame out of a rollout (the session's StepResult fits; so does a world's Frame). */
export interface RolledFrame {
  rgb: Uint8Array;
  depth: Float32Array | null;
}

/** A held-out start: context frames and where they came from. */
export interface StartClip {
  episode: number;
  /** The episode's world seed (manifest), to rebuild the true simulator. */
  seed: number;
  /** Index of the first context frame in the episode. */
  first: number;
  count: number;
  /** count·H·W·C values in [0, 1] (C = the tokenizer's channels). */
  context: Float32Array;
  /** The action code into each context frame. */
  contextActions: number[];
  /** State record of the last context frame (null when the data has none). */
  state: WorldState | null;
}

/** Plays actions from a start: the decoded last context frame, then one frame per action. */
export type Roller = (clip: StartClip, actions: number[]) => Promise<{ first: RolledFrame; frames: RolledFrame[] }>;

export interface WorldEvalOptions {
  /** The LAM that labels transitions; null = the dataset's true actions (model trained on them). */
  lam: LoadedLam | null;
  /** Fewer starts and samples, 200 timed steps and the ratio at step 2,000 (for tests). */
  quick?: boolean;
  /**
   * Which episodes are held out: "val" (default: DIR's val split, for a dataset the model trained
   * on), "all" (every episode: a dataset generated with new seeds), or "train".
   */
  split?: "val" | "all" | "train";
  /** Rollout starts (default 8; quick 2). Gravity and maze tests use up to 2× as many moments. */
  starts?: number;
  /** Next-frame samples per gravity case (default 4; quick 2). */
  samples?: number;
  /** Also draw the gravity cases as a PNG contact sheet (`gravity_png`). */
  gravitySheet?: boolean;
  /** Seed of the sampling and the random actions. Default 0. */
  seed?: number;
  /** Context frames. Default 4. */
  context?: number;
  /** Frames per LAM window. Default 4 (the dynamics' default data.chunk). */
  lamChunk?: number;
  /** Timed steps and the late step of the ratio; false skips timing. Default 1,000 / 10,000. */
  timing?: { steps: number; ratioStep: number } | false;
  onProgress?: (stage: string) => void;
  /** Where the session runs. Default "ort". */
  backend?: SessionBackend;
  /** The main session has int8 weights (ort only). Default false. */
  int8?: boolean;
  /** onnxruntime threads (default 1). */
  threads?: number;
  /** Sampling temperature of every session (default: the dynamics config's). */
  temperature?: number;
  /** MaskGIT passes per frame (default: the dynamics config's). */
  sampleSteps?: number;
  /** MaskGIT schedule (default: the dynamics config's). */
  sampleSchedule?: MaskgitScheduleKind;
  /** MaskGIT choice temperature (default: the dynamics config's). */
  choiceTemperature?: number;
}

export interface WorldEvalResult {
  psnr_t: number[];
  ssim_t: number[];
  psnr_t4: number;
  psnr_t4_random: number;
  /**
   * Standard errors over the starts (sample std / √starts): of psnr_t4, and of delta_psnr_t4
   * (paired: each start's inferred-action PSNR minus its random-action PSNR). With 16 starts
   * and temperature 1, psnr_t4 moves by about this much between runs that differ only in the
   * sampling noise.
   */
  psnr_t4_stderr: number;
  delta_psnr_t4_stderr: number;
  delta_psnr_t4: number;
  /** PSNR at steps 16, 32, 64 (null: no held-out episode long enough). */
  drift: Record<string, number | null>;
  gravity: number | null;
  gravity_detail: GravityResult | null;
  /**
   * The gravity test scored with the tokenizer's reconstruction of the data's true next frame in
   * place of the model's samples (one sample): a perfect dynamics model's score through this
   * tokenizer. Well below 1 means the tokenizer hides the falls.
   */
  gravity_tokenizer_bound: number | null;
  /** With `gravitySheet`: the cases, failing first (data frame, its next, the model's start, samples). */
  gravity_png?: Uint8Array | null;
  /** Platformer, driven by the jump key: fraction of rollouts that rise a tile (jump.ts). */
  jump_rise: number | null;
  /** Of those, the fraction in which the player comes a tile down from its peak. */
  jump_fall: number | null;
  jump_detail: JumpResult | null;
  /** The same with the right arrow held after the jump (a running jump). */
  jump_rise_right: number | null;
  jump_fall_right: number | null;
  jump_right_detail: JumpResult | null;
  revisit_psnr: number | null;
  wall_penetration: number | null;
  wall_detail: WallResult | null;
  maze_moves: MazeMoves | null;
  step_ms_median: number | null;
  step_ms_p99: number | null;
  step_ms_ratio_10k: number | null;
  timing: TimingResult | null;
  int8_psnr_drop: number | null;
  int8_step_ms_median: number | null;
  backend: SessionBackend;
  /** The main session's weights were int8. */
  int8: boolean;
  actions: "lam" | "true";
  starts: number;
  /** Episodes the starts and moments were drawn from (see `split`). */
  episodes: number;
  env: string;
  world: string;
  data: string;
  notes: string[];
}

export const HORIZON = 16;
export const DRIFT_STEPS = [16, 32, 64];

/** Transition codes of episodes, from the LAM (windowed as in training) or the true actions. */
class ActionCodes {
  /** counts[trueAction][code] of what the LAM said (null without LAM or true actions). */
  readonly confusion: number[][] | null;
  private readonly infer: OwnedFunction<(p: ParamTree, cb: np.Array, x: np.Array) => np.Array> | null;

  constructor(
    private readonly lam: LoadedLam | null,
    private readonly A: number,
    private readonly chunk: number,
    private readonly depthInv: number,
    names: string[] | null,
  ) {
    this.confusion = lam && names ? names.map(() => new Array<number>(A).fill(0)) : null;
    this.infer = lam ? (jit(((p: ParamTree, cb: np.Array, x: np.Array) => inferActions(p as never, cb, x, lam.config)) as never) as unknown as OwnedFunction<(p: ParamTree, cb: np.Array, x: np.Array) => np.Array>) : null;
  }

  /** Codes of the `count` transitions f → f+1 for f = from..from+count−1. */
  async transitions(ep: DecodedEpisode, from: number, count: number): Promise<number[]> {
    if (!this.lam || !this.infer) {
      return Array.from(ep.actions_T.subarray(from, from + count), (a) => (a === UNKNOWN_ACTION ? this.A : a));
    }
    const lc = this.lam.config;
    const out: number[] = [];
    for (let s = from; s < from + count; s += this.chunk - 1) {
      const T = Math.min(this.chunk, from + count + 1 - s);
      const x = new Float32Array(T * lc.height * lc.width * lc.channels);
      writeClip(ep, s, T, lc.channels, this.depthInv, x, 0);
      const x_1THWC = np.array(x, { shape: [1, T, lc.height, lc.width, lc.channels] });
      const codes = (await this.infer(tree.ref(this.lam.params as unknown as ParamTree), this.lam.codebook_KD.ref, x_1THWC).data()) as Int32Array;
      codes.forEach((c, u) => {
        out.push(c);
        const a = ep.actions_T[s + u];
        if (this.confusion && a !== UNKNOWN_ACTION && a < this.confusion.length) this.confusion[a][c]++;
      });
    }
    return out;
  }

  dispose(): void {
    this.infer?.dispose();
  }
}

function sessionRoller(session: WorldSession): Roller {
  return async (clip, actions) => {
    const first = await session.start({ frames: clip.context, count: clip.count, actions: clip.contextActions });
    const frames: RolledFrame[] = [];
    for (const a of actions) frames.push(await session.step(a));
    return { first, frames };
  };
}

const unit = (rgb: Uint8Array) => Float32Array.from(rgb, (v) => v / 255);

/** `n` items spread evenly over `xs`. */
function spread<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]);
}

export async function evalWorld(world: LoadedWorld, ds: Dataset, opts: WorldEvalOptions): Promise<WorldEvalResult> {
  const tc = world.tokenizer.config;
  const dc = world.dynamics.config;
  const [H, W] = ds.manifest.size;
  if (H !== tc.height || W !== tc.width) throw new Error(`eval world: dataset ${ds.dir} is ${H}×${W}; the world ${world.source} expects ${tc.height}×${tc.width}`);
  if (tc.channels === 4 && ds.manifest.depth === "none") throw new Error(`eval world: dataset ${ds.dir} has no depth; the world ${world.source} is RGB-D`);
  const names = ds.manifest.actions;
  const lam = opts.lam;
  const nCodes = codeCount(dc);
  if (lam && (lam.config.codes !== nCodes || lam.config.height !== H || lam.config.width !== W)) {
    throw new Error(`eval world: LAM ${lam.source} (${lam.config.codes} codes, ${lam.config.height}×${lam.config.width}) does not fit the world (${nCodes} action codes) and data (${H}×${W})`);
  }
  if (!lam && (!names || names.length !== nCodes)) {
    throw new Error(`eval world: no LAM given and ${ds.dir} ${names ? `has ${names.length} true actions, not the model's ${nCodes}` : "has no true actions"}; pass --lam`);
  }
  const quick = !!opts.quick;
  const ctx = opts.context ?? 4;
  const nStarts = opts.starts ?? (quick ? 2 : 8);
  const samples = opts.samples ?? (quick ? 2 : 4);
  const seed = opts.seed ?? 0;
  const env = ds.manifest.env;
  const notes: string[] = [];
  const progress = opts.onProgress ?? (() => {});
  const depthInv = ds.manifest.depth === "none" ? 0 : 1 / depthScale(ds.manifest.depth);
  const frameSize = H * W * tc.channels;
  const codes = new ActionCodes(lam, nCodes, Math.max(2, opts.lamChunk ?? 4), depthInv, names);
  const backend = opts.backend ?? "ort";
  const int8 = !!opts.int8;
  const sessionOpts = { backend, int8, threads: opts.threads, temperature: opts.temperature, sampleSteps: opts.sampleSteps, sampleSchedule: opts.sampleSchedule, choiceTemperature: opts.choiceTemperature };
  const session = new WorldSession(world, { seed, ...sessionOpts });
  const roll = sessionRoller(session);

  const split = opts.split ?? "val";
  let held: EpisodeEntry[] = ds.manifest.episodes.filter((e) => split === "all" || e.split === split);
  if (held.length === 0) {
    if (split !== "val") throw new Error(`eval world: ${ds.dir} has no ${split} episodes`);
    held = ds.manifest.episodes;
    notes.push(`${ds.dir} has no val split: episodes of every split were used`);
  }
  let cached: { id: number; withStates: boolean; ep: DecodedEpisode } | null = null;
  const read = (id: number, withStates = false) => {
    if (cached?.id !== id || (withStates && !cached.withStates)) cached = { id, withStates, ep: ds.readEpisode(id, withStates) };
    return cached.ep;
  };
  /** The clip whose context ends at frame `last` (≥ ctx), and the codes of `after` transitions past it. */
  const clipEndingAt = async (entry: EpisodeEntry, last: number, after: number): Promise<{ clip: StartClip; next: number[] }> => {
    const ep = read(entry.id, true);
    const first = last - ctx + 1;
    const c = await codes.transitions(ep, first - 1, ctx + after);
    const context = new Float32Array(ctx * frameSize);
    writeClip(ep, first, ctx, tc.channels, depthInv, context, 0);
    const state = ep.states ? (ep.states[last] as WorldState) : null;
    return { clip: { episode: entry.id, seed: entry.seed, first, count: ctx, context, contextActions: c.slice(0, ctx), state }, next: c.slice(ctx) };
  };

  try {
    // Rollouts: as long as the longest drift step that some held-out episode allows.
    const longest = Math.max(...held.map((e) => e.frames)) - 1 - ctx;
    const length = [...DRIFT_STEPS].reverse().find((L) => L <= longest) ?? HORIZON;
    if (longest < HORIZON) throw new Error(`eval world: no held-out episode of ${ds.dir} has ${1 + ctx + HORIZON} frames (1 + context ${ctx} + horizon ${HORIZON})`);
    if (length < DRIFT_STEPS[DRIFT_STEPS.length - 1]) notes.push(`drift beyond step ${length} is null: no held-out episode has ${1 + ctx + DRIFT_STEPS[DRIFT_STEPS.length - 1]} frames`);
    const candidates: { entry: EpisodeEntry; last: number }[] = [];
    for (const e of held) for (let s = 1; s + ctx + length <= e.frames; s += ctx + length) candidates.push({ entry: e, last: s + ctx - 1 });
    const starts = spread(candidates, nStarts);
    const shape = { frames: 1, height: H, width: W, channels: 3 };
    const psnrAt: number[][] = Array.from({ length }, () => []);
    const ssimAt: number[][] = Array.from({ length: HORIZON }, () => []);
    const random: number[] = [];
    const rolled: { clip: StartClip; actions: number[]; truth: Float32Array[] }[] = [];
    const rng = hostRng(seed + 1);
    for (const [i, s] of starts.entries()) {
      progress(`rollouts ${i + 1}/${starts.length}`);
      const { clip, next } = await clipEndingAt(s.entry, s.last, length);
      const ep = read(s.entry.id, true);
      const truth = (t: number) => unit(ep.rgb_THWC.subarray((s.last + t) * H * W * 3, (s.last + t + 1) * H * W * 3));
      const { frames } = await roll(clip, next);
      rolled.push({ clip, actions: next.slice(0, HORIZON), truth: Array.from({ length: HORIZON }, (_, t) => truth(t + 1)) });
      frames.forEach((f, t) => {
        const [g, r] = [unit(f.rgb), truth(t + 1)];
        psnrAt[t].push(psnr(g, r, shape)[0]);
        if (t < HORIZON) ssimAt[t].push(ssim(g, r, shape)[0]);
      });
      const randomActions = Array.from({ length: 4 }, () => Math.floor(rng() * nCodes));
      const r4 = (await roll(clip, randomActions)).frames[3];
      random.push(psnr(unit(r4.rgb), truth(4), shape)[0]);
    }
    const psnr_t = psnrAt.slice(0, HORIZON).map(mean);
    const drift = Object.fromEntries(DRIFT_STEPS.map((k) => [String(k), k <= length ? mean(psnrAt[k - 1]) : null]));

    // Moments with known states, for gravity and the maze tests.
    const moments = async (want: (state: WorldState, entry: EpisodeEntry) => boolean, limit: number) => {
      const found: { entry: EpisodeEntry; last: number }[] = [];
      for (const e of held) {
        const ep = read(e.id, true);
        if (!ep.states) return [];
        for (let m = ctx; m + 1 < e.frames; m++) if (want(ep.states[m] as WorldState, e)) found.push({ entry: e, last: m });
      }
      return spread(found, limit);
    };

    let gravity: GravityResult | null = null;
    let gravityBound: number | null = null;
    let gravityPng: Uint8Array | null = null;
    if (env === "platformer" || env === "bounce") {
      // More moments than starts: cases without a visible fall in the data are left out (gravity.ts).
      const found = await moments((st) => fallingTargets(env, st, H, W).length > 0, 4 * nStarts);
      const samplers = Array.from({ length: samples }, (_, j) => new WorldSession(world, { seed: seed + 100 + j, ...sessionOpts }));
      const cases: GravityCase[] = [];
      const boundCases: GravityCase[] = [];
      try {
        for (const [i, m] of found.entries()) {
          progress(`gravity ${i + 1}/${found.length}`);
          const { clip, next } = await clipEndingAt(m.entry, m.last, 1);
          const drawn = [];
          for (const s of samplers) drawn.push(await sessionRoller(s)(clip, next));
          const ep = read(m.entry.id, false);
          const frameAt = (t: number) => ep.rgb_THWC.subarray(t * H * W * 3, (t + 1) * H * W * 3);
          const truth = { start: frameAt(m.last), next: frameAt(m.last + 1) };
          // The tokenizer's own reconstruction of the true next frame: what a perfect dynamics
          // model would show (the bound the tokenizer puts on this test).
          const after = (await roll((await clipEndingAt(m.entry, m.last + 1, 0)).clip, [])).first.rgb;
          for (const target of fallingTargets(env, clip.state!, H, W)) {
            cases.push({ target, start: drawn[0].first.rgb, samples: drawn.map((d) => d.frames[0].rgb), truth, at: { episode: m.entry.id, frame: m.last } });
            boundCases.push({ target, start: drawn[0].first.rgb, samples: [after], truth });
          }
        }
      } finally {
        for (const s of samplers) s.dispose();
      }
      gravity = scoreGravity(cases, H, W);
      if (opts.gravitySheet) gravityPng = gravitySheet(cases, H, W);
      gravityBound = scoreGravity(boundCases, H, W).fraction;
      if (gravity.cases === 0) notes.push(`gravity: ${found.length ? "the object was not found in the generated frames" : "no unsupported, not-rising object in the held-out data"}`);
    } else notes.push(`gravity: not measured on ${env} (platformer and bounce only)`);

    /** The context clips of moments (no codes past them). */
    const clips = async (ms: { entry: EpisodeEntry; last: number }[]) => {
      const out: StartClip[] = [];
      for (const m of ms) out.push((await clipEndingAt(m.entry, m.last, 0)).clip);
      return out;
    };

    // The keys' codes: a dynamics run folder has no actions.json; the LAM's own (written by `eval lam` beside its checkpoints, or a world folder's) names the same codes.
    const actionMap = world.actionMap ?? (lam ? readActionMap(dirname(lam.source)) : null);
    let jump: JumpResult | null = null;
    let jumpRight: JumpResult | null = null;
    if (env === "platformer") {
      const keys = jumpCodes(actionMap);
      if (!keys) notes.push("jump: neither the world's nor the LAM's actions.json binds a jump (Space) and a noop: jump_rise and jump_fall not measured");
      else {
        const starts = await clips(await moments(isJumpStart, nStarts));
        progress("jump, then no key");
        jump = await jumpRollouts(starts, roll, keys.jump, keys.noop, H, W);
        if (keys.right !== null) {
          progress("jump, then right");
          jumpRight = await jumpRollouts(starts, roll, keys.jump, keys.right, H, W);
        }
      }
    }

    let revisit: number | null = null;
    let wall: WallResult | null = null;
    let moves: MazeMoves | null = null;
    if (env === "maze3d") {
      moves = mazeMoves({ actionMap, trueActions: !lam, actionNames: names, confusion: codes.confusion });
      if (!moves) notes.push("maze: no forward/turn-left codes (neither the world's nor the LAM's actions.json has them, and the LAM's codes on the held-out starts do not name them): revisit and wall tests skipped");
      else {
        progress("maze revisit");
        const loopStarts = await moments((st, e) => loopLeg(e.seed, st) !== null, nStarts);
        revisit = await revisitPsnr(await clips(loopStarts), roll, moves, H, W);
        progress("maze wall");
        wall = await wallPenetration(await clips(await moments(isWallStart, nStarts)), roll, moves, H, W);
        if (wall.fraction === null) notes.push(tc.channels === 4 ? "wall_penetration: no held-out start faces a wall within reach" : "wall_penetration: the world has no depth channel");
      }
    }

    let timing: TimingResult | null = null;
    if (opts.timing !== false) {
      progress("timing");
      const t = opts.timing ?? (quick ? { steps: 200, ratioStep: 2000 } : { steps: 1000, ratioStep: 10_000 });
      const { clip } = await clipEndingAt(starts[0].entry, starts[0].last, 0);
      timing = await timeSession(session, { frames: clip.context, count: clip.count, actions: clip.contextActions }, { ...t, seed });
      if (t.ratioStep !== 10_000) notes.push(`step_ms_ratio_10k is the cost at step ${t.ratioStep} over step 10 (quick)`);
    }
    let int8Drop: number | null = null;
    let int8Ms: number | null = null;
    if (backend === "ort") {
      progress("int8");
      const other = new WorldSession(world, { seed, ...sessionOpts, int8: !int8 });
      try {
        const otherPsnr: number[] = [];
        for (const r of rolled) {
          const { frames } = await sessionRoller(other)(r.clip, r.actions);
          frames.forEach((f, t) => otherPsnr.push(psnr(unit(f.rgb), r.truth[t], shape)[0]));
        }
        const mainPsnr = mean(psnrAt.slice(0, HORIZON).flat());
        int8Drop = int8 ? mean(otherPsnr) - mainPsnr : mainPsnr - mean(otherPsnr);
        if (timing) {
          const { clip } = await clipEndingAt(starts[0].entry, starts[0].last, 0);
          const steps = timing.steps;
          const t8 = await timeSession(other, { frames: clip.context, count: clip.count, actions: clip.contextActions }, { steps, ratioStep: Math.max(2 * COST_WINDOW, steps), seed });
          int8Ms = int8 ? timing.step_ms_median : t8.step_ms_median;
          if (int8) notes.push(`step_ms_* are of the int8 session; the fp32 one's median is ${t8.step_ms_median.toFixed(2)} ms`);
        }
      } finally {
        other.dispose();
      }
    } else notes.push("int8: jax-js has no int8 path; int8_psnr_drop and int8_step_ms_median need --backend ort");

    return {
      psnr_t,
      ssim_t: ssimAt.map(mean),
      psnr_t4: psnr_t[3],
      psnr_t4_random: mean(random),
      psnr_t4_stderr: stderr(psnrAt[3]),
      delta_psnr_t4_stderr: stderr(psnrAt[3].map((v, i) => v - random[i])),
      delta_psnr_t4: psnr_t[3] - mean(random),
      drift,
      gravity: gravity?.fraction ?? null,
      gravity_detail: gravity,
      gravity_tokenizer_bound: gravityBound,
      ...(opts.gravitySheet ? { gravity_png: gravityPng } : {}),
      jump_rise: jump?.rise ?? null,
      jump_fall: jump?.fall ?? null,
      jump_detail: jump,
      jump_rise_right: jumpRight?.rise ?? null,
      jump_fall_right: jumpRight?.fall ?? null,
      jump_right_detail: jumpRight,
      revisit_psnr: revisit,
      wall_penetration: wall?.fraction ?? null,
      wall_detail: wall,
      maze_moves: moves,
      step_ms_median: timing?.step_ms_median ?? null,
      step_ms_p99: timing?.step_ms_p99 ?? null,
      step_ms_ratio_10k: timing?.step_ms_ratio ?? null,
      timing,
      int8_psnr_drop: int8Drop,
      int8_step_ms_median: int8Ms,
      backend,
      int8,
      actions: lam ? "lam" : "true",
      starts: starts.length,
      episodes: held.length,
      env,
      world: world.source,
      data: ds.dir,
      notes,
    };
  } finally {
    session.dispose();
    codes.dispose();
  }
}
