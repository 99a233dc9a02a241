/**
 * `eval lam`: how well latent action codes match the true actions on held-out data: the
 * confusion table (true action × code counts), purity (the share of transitions whose code's
 * most common true action is their own), normalized mutual information, codes used, and how
 * much the code matters to the decoder (sensitivity); plus the action calibration
 * (actions.json) derived from the same pass. The metric functions are pure host functions,
 * shared with training validation.
 */
import { effectiveAction, hasEffectiveActions } from "../worlds/effective.js";
import type { WorldState } from "../worlds/types.js";
import { writeClip } from "../data/loader.js";
import type { ClipBatch, Dataset } from "../data/loader.js";
import { UNKNOWN_ACTION, depthScale } from "../data/format.js";
import { codeStripPng, lamInference } from "../train/lam-phase.js";
import { calibrateActions, estimateShift } from "../world/calibration.js";
import type { ActionsFile } from "../world/calibration.js";
import type { LoadedLam } from "../world/lam-io.js";

/** counts[action][code] over transitions with a known action (-1 entries are skipped). */
export function confusionTable(actions: ArrayLike<number>, codes: ArrayLike<number>, numActions: number, numCodes: number): number[][] {
  if (actions.length !== codes.length) throw new Error(`lam-eval.ts confusionTable: ${actions.length} actions but ${codes.length} codes`);
  const table = Array.from({ length: numActions }, () => new Array<number>(numCodes).fill(0));
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i];
    if (a < 0) continue;
    const c = codes[i];
    if (a >= numActions || c < 0 || c >= numCodes) throw new Error(`lam-eval.ts confusionTable: action ${a} or code ${c} out of range (${numActions} actions, ${numCodes} codes)`);
    table[a][c]++;
  }
  return table;
}

function total(table: number[][]): number {
  return table.reduce((s, row) => s + row.reduce((t, v) => t + v, 0), 0);
}

/** Σ_code max_action counts / total; 0 for an empty table. */
export function purity(table: number[][]): number {
  const n = total(table);
  if (n === 0) return 0;
  const codes = table[0]?.length ?? 0;
  let hits = 0;
  for (let c = 0; c < codes; c++) hits += Math.max(...table.map((row) => row[c]));
  return hits / n;
}

function entropy(counts: number[], n: number): number {
  let h = 0;
  for (const v of counts) if (v > 0) h -= (v / n) * Math.log(v / n);
  return h;
}

/**
 * Normalized mutual information I(action; code) / mean(H(action), H(code)) (the arithmetic
 * normalisation, as scikit-learn's default). 1 when one determines the other both ways; 0 when
 * independent. When both entropies are 0 (one action, one code) it is 1 by convention.
 */
export function nmi(table: number[][]): number {
  const n = total(table);
  if (n === 0) return 0;
  const rows = table.map((r) => r.reduce((s, v) => s + v, 0));
  const cols = table[0].map((_, c) => table.reduce((s, r) => s + r[c], 0));
  let mi = 0;
  table.forEach((row, a) =>
    row.forEach((v, c) => {
      if (v > 0) mi += (v / n) * Math.log((v * n) / (rows[a] * cols[c]));
    }),
  );
  const h = (entropy(rows, n) + entropy(cols, n)) / 2;
  return h === 0 ? 1 : Math.max(0, mi / h);
}

/** Share of transitions per code (codes are counted whether or not the true action is known). */
export function codeShares(codes: ArrayLike<number>, numCodes: number): number[] {
  const counts = new Array<number>(numCodes).fill(0);
  for (let i = 0; i < codes.length; i++) counts[codes[i]]++;
  return counts.map((c) => (codes.length ? c / codes.length : 0));
}

/**
 * pairDiff[a][b] = mean |x̂(a) − x̂(b)| over every value, for predictions laid out (A, M) with M
 * values per code (all frames of a batch under each code). The mean over a ≠ b is the code
 * sensitivity: 0 means the decoder ignores the action.
 */
export function codePairDifferences(pred_AM: Float32Array, A: number): number[][] {
  const M = pred_AM.length / A;
  if (!Number.isInteger(M)) throw new Error(`lam-eval.ts codePairDifferences: ${pred_AM.length} values do not split into ${A} codes`);
  const out = Array.from({ length: A }, () => new Array<number>(A).fill(0));
  for (let a = 0; a < A; a++) {
    for (let b = a + 1; b < A; b++) {
      let s = 0;
      for (let i = 0; i < M; i++) s += Math.abs(pred_AM[a * M + i] - pred_AM[b * M + i]);
      out[a][b] = out[b][a] = s / M;
    }
  }
  return out;
}

/** Mean of the off-diagonal entries of `codePairDifferences`. */
export function sensitivity(pairDiff: number[][]): number {
  const A = pairDiff.length;
  if (A < 2) return 0;
  let s = 0;
  for (let a = 0; a < A; a++) for (let b = 0; b < A; b++) if (a !== b) s += pairDiff[a][b];
  return s / (A * (A - 1));
}

export interface LamEvalOptions {
  /** Frames per clip (the encoder sees the clip's earlier frames); clips overlap by one frame so every transition counts once. */
  frames: number;
  /** Clips per batch. */
  batch: number;
  /** Stop after this many clips (spread over the whole dataset). */
  maxClips: number;
  /** Transitions per code used to measure its mean shift (each costs an exhaustive shift search). */
  shiftSamples?: number;
  /** Called after each batch with (clips done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface LamEvalResult {
  /** null when the data has no true actions. */
  purity: number | null;
  nmi: number | null;
  codes_used: number;
  codes: number;
  /** counts[trueAction][code]; null without true actions. */
  confusion: number[][] | null;
  /**
   * Purity and confusion against the effective actions (src/worlds/effective.ts: a key held
   * without effect counts as what it did, e.g. jump held in the air → no jump); null without
   * state records or a rule for the world.
   */
  effective_purity: number | null;
  effective_confusion: number[][] | null;
  /**
   * Purity against the true keys of a labeller that outputs exactly the effective action (one
   * code per effective action): what telling apart everything the keys did buys. Where keys
   * often do nothing (jump held in the air), this is well below 1, and so is any LAM's purity
   * (it can only go higher by guessing keys from the state, not from what changed).
   */
  purity_if_effective: number | null;
  action_names: string[] | null;
  /** Share of transitions per code. */
  code_share: number[];
  /** Mean |x̂(a) − x̂(b)| over code pairs a ≠ b: 0 means the decoder ignores the action. */
  sensitivity: number;
  transitions: number;
  /** The calibration (what `eval lam` writes as actions.json). */
  actions: ActionsFile;
  source: string;
  step: number;
  /** The per-code strip of the first batch (PNG bytes), not printed. */
  strip: Uint8Array;
}

export async function evalLam(lam: LoadedLam, ds: Dataset, opts: LamEvalOptions): Promise<LamEvalResult> {
  const cfg = lam.config;
  const [H, W] = ds.manifest.size;
  if (H !== cfg.height || W !== cfg.width) throw new Error(`dataset ${ds.dir} is ${H}×${W}; the LAM expects ${cfg.height}×${cfg.width}`);
  const C = cfg.channels;
  if (C === 4 && ds.manifest.depth === "none") throw new Error(`dataset ${ds.dir} has no depth; this LAM is RGB-D`);
  const T = opts.frames;
  if (T < 2) throw new Error(`eval lam: --frames must be ≥ 2, got ${T}`);
  const depthInv = C === 4 ? 1 / depthScale(ds.manifest.depth) : 0;
  const A = cfg.codes;
  const names = ds.manifest.actions;
  const shiftSamples = opts.shiftSamples ?? 48;

  const clips: { ep: number; start: number }[] = [];
  for (const e of ds.manifest.episodes) for (let s = 0; s + T <= e.frames; s += T - 1) clips.push({ ep: e.id, start: s });
  const chosen = clips.filter((_, i) => i % Math.max(1, Math.floor(clips.length / opts.maxClips)) === 0).slice(0, opts.maxClips);
  if (chosen.length === 0) throw new Error(`dataset ${ds.dir} has no episode with ≥ ${T} frames`);

  const inf = lamInference(cfg);
  const codes: number[] = [];
  const actions: number[] = [];
  const shifts: [number, number][][] = Array.from({ length: A }, () => []);
  const frameSize = H * W * C;
  let strip: Uint8Array | null = null;
  let pairDiff: number[][] = [];
  const effective: number[] = [];
  let withEffective = names !== null && hasEffectiveActions(ds.manifest.env);
  let cached: { id: number; ep: ReturnType<Dataset["readEpisode"]> } | null = null;
  for (let i = 0; i < chosen.length; i += opts.batch) {
    const group = chosen.slice(i, i + opts.batch);
    const B = group.length;
    const x = new Float32Array(B * T * frameSize);
    const actions_BT = new Int32Array(B * T);
    const effective_BT = new Int32Array(B * T);
    group.forEach(({ ep, start }, b) => {
      if (cached?.id !== ep) cached = { id: ep, ep: ds.readEpisode(ep, withEffective) };
      writeClip(cached.ep, start, T, C, depthInv, x, b * T * frameSize);
      const states = cached.ep.states;
      if (!states) withEffective = false;
      for (let t = 0; t < T; t++) {
        const a = cached.ep.actions_T[start + t];
        actions_BT[b * T + t] = a === UNKNOWN_ACTION ? -1 : a;
        if (states && a !== UNKNOWN_ACTION && t + 1 < T) effective_BT[b * T + t] = effectiveAction(a, states[start + t] as WorldState, states[start + t + 1] as WorldState);
      }
    });
    const batch: ClipBatch = { x_BTHWC: x, actions_BT, B, T, H, W, C, episodes: group.map((g) => g.ep), starts: group.map((g) => g.start) };
    const got = await inf.codes(lam.params, lam.codebook_KD, batch);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        const code = got[b * (T - 1) + t];
        codes.push(code);
        actions.push(actions_BT[b * T + t]);
        if (withEffective) effective.push(effective_BT[b * T + t]);
        if (shifts[code].length < shiftSamples) {
          const off = (b * T + t) * frameSize;
          shifts[code].push(estimateShift(x.subarray(off, off + frameSize), x.subarray(off + frameSize, off + 2 * frameSize), H, W, C));
        }
      }
    }
    if (!strip) {
      const F = Math.min(6, B);
      strip = await codeStripPng(inf, lam.params, { codebook_KD: lam.codebook_KD } as never, { ...batch, B: F }, cfg);
      const first = new Float32Array(F * frameSize);
      for (let b = 0; b < F; b++) first.set(x.subarray(b * T * frameSize, b * T * frameSize + frameSize), b * frameSize);
      pairDiff = codePairDifferences(await inf.everyAction(lam.params, lam.codebook_KD, first, F), A);
    }
    opts.onProgress?.(Math.min(chosen.length, i + B), chosen.length);
  }
  inf.dispose();

  const known = actions.some((a) => a >= 0) && names !== null;
  const confusion = known ? confusionTable(actions, codes, names.length, A) : null;
  const effectiveConfusion = known && withEffective ? confusionTable(effective, codes, names.length, A) : null;
  const shares = codeShares(codes, A);
  const meanShifts = shifts.map((list): [number, number] =>
    list.length ? [list.reduce((s, v) => s + v[0], 0) / list.length, list.reduce((s, v) => s + v[1], 0) / list.length] : [0, 0],
  );
  const calibration = calibrateActions({
    shares,
    meanShifts,
    pairDiff,
    confusion: confusion ?? undefined,
    actionNames: names ?? undefined,
    source: { model: lam.source, data: ds.dir },
  });
  return {
    purity: confusion ? purity(confusion) : null,
    nmi: confusion ? nmi(confusion) : null,
    codes_used: shares.filter((s) => s > 0).length,
    codes: A,
    confusion,
    effective_purity: effectiveConfusion ? purity(effectiveConfusion) : null,
    effective_confusion: effectiveConfusion,
    purity_if_effective: known && withEffective ? purity(confusionTable(actions, effective, names.length, names.length)) : null,
    action_names: names,
    code_share: shares,
    sensitivity: sensitivity(pairDiff),
    transitions: codes.length,
    actions: calibration,
    source: lam.source,
    step: lam.step,
    strip: strip!,
  };
}
