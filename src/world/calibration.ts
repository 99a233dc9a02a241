/**
 * Action calibration: which human action each latent code stands for, and which key plays it.
 * Written as `actions.json` beside the LAM (format: docs/actions-json.md).
 *
 * With true actions (generated data), a code is labelled by the action it most often stands for.
 * Without them (imported video), by the mean motion of the frames it was chosen for: the global
 * shift of x_t+1 against x_t. The camera follows the player (platformer) or turns with them
 * (maze3d), so a scene moving left means the player went right: the key is the opposite arrow.
 *
 * A code is `distinct` when it is used (share ≥ minShare) and the decoder does something
 * different with it than with every more used distinct code (predictions differ by at least
 * `minDifference` of the largest difference between two used codes). Keys are unique: when two
 * codes get the same label, the more used one (distinct ones first) gets the key and the other
 * `key: null`. Without true actions only distinct codes get keys; with them, every label does.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

export const ACTIONS_FILE = "actions.json";
export const ACTIONS_FORMAT = "worldkit-actions";
export const ACTIONS_VERSION = 1;

export interface ActionEntry {
  /** The latent code, 0..A−1. */
  code: number;
  /** Human label: the true action's name, or a motion ("scene ←", "still", "change 2"). */
  label: string;
  /** Default key (KeyboardEvent.code names joined by "+", "" = no key held); null = not bound. */
  key: string | null;
  /** The true action this code most often stands for (only when the data had actions). */
  trueAction?: string;
  /** Share of transitions assigned to this code on the calibration data. */
  share: number;
  /** Whether the code means something of its own (see the module comment). */
  distinct: boolean;
  /** Mean global shift (dx, dy) in pixels of x_t+1 against x_t for transitions with this code. */
  meanShift: [number, number];
}

export interface ActionsFile {
  format: typeof ACTIONS_FORMAT;
  version: number;
  /** A, the number of codes. */
  codes: number;
  /** "true-actions" or "motion": what the labels were derived from. */
  method: "true-actions" | "motion";
  /** The model and data it was calibrated from (for people). */
  source: { model: string; data: string };
  actions: ActionEntry[];
}

/** Default keys of the worlds' action names. */
const KEY_OF_NAME: Record<string, string> = {
  noop: "",
  left: "ArrowLeft",
  right: "ArrowRight",
  jump: "Space",
  forward: "ArrowUp",
  back: "ArrowDown",
  "turn-left": "ArrowLeft",
  "turn-right": "ArrowRight",
  up: "ArrowUp",
  down: "ArrowDown",
};

/** Key of an action name; "left+jump" → "ArrowLeft+Space"; null when a part is unknown. */
export function keyOfAction(name: string): string | null {
  const parts = name.split("+").map((p) => KEY_OF_NAME[p]);
  if (parts.some((k) => k === undefined)) return null;
  return parts.filter((k) => k !== "").join("+");
}

/** Keys for codes whose motion has no arrow of its own. */
const SPARE_KEYS = ["Space", "KeyZ", "KeyX", "KeyC", "KeyV", "KeyB", "KeyN", "KeyM"];

/** Label and key from a mean scene shift (pixels); `still` below `minShift`. */
export function labelOfShift([dx, dy]: [number, number], minShift = 0.5): { label: string; key: string | null } {
  if (Math.hypot(dx, dy) < minShift) return { label: "still", key: "" };
  if (Math.abs(dx) >= Math.abs(dy)) return dx < 0 ? { label: "scene ←", key: "ArrowRight" } : { label: "scene →", key: "ArrowLeft" };
  return dy < 0 ? { label: "scene ↑", key: "ArrowDown" } : { label: "scene ↓", key: "ArrowUp" };
}

export interface CalibrationInput {
  /** Share of transitions per code (length A). */
  shares: number[];
  /** Mean scene shift per code (length A). */
  meanShifts: [number, number][];
  /** pairDiff[a][b]: mean |x̂(a) − x̂(b)| of the decoder's predictions (A × A). */
  pairDiff: number[][];
  /** counts[action][code] and the action names, when the data has true actions. */
  confusion?: number[][];
  actionNames?: string[];
  source: { model: string; data: string };
  /** A code used less than this is not distinct. Default 0.01. */
  minShare?: number;
  /** Fraction of the largest code difference the nearest code must differ by. Default 0.2. */
  minDifference?: number;
}

export function calibrateActions(inp: CalibrationInput): ActionsFile {
  const A = inp.shares.length;
  if (inp.meanShifts.length !== A || inp.pairDiff.length !== A) throw new Error(`calibration.ts: ${A} shares but ${inp.meanShifts.length} shifts and ${inp.pairDiff.length} difference rows`);
  const minShare = inp.minShare ?? 0.01;
  const used = [...Array(A).keys()].filter((a) => inp.shares[a] >= minShare);
  let largest = 0;
  for (const a of used) for (const b of used) largest = Math.max(largest, inp.pairDiff[a][b]);
  // Greedy, most used first: a code is distinct when it differs enough from every distinct code
  // before it, so the most used code of a group of look-alikes keeps the meaning.
  const accepted: number[] = [];
  for (const a of [...used].sort((x, y) => inp.shares[y] - inp.shares[x])) {
    if (accepted.every((b) => inp.pairDiff[a][b] >= (inp.minDifference ?? 0.2) * largest)) accepted.push(a);
  }
  const distinct = (a: number) => accepted.includes(a);
  const withLabels = !!(inp.confusion && inp.actionNames && inp.confusion.some((row) => row.some((v) => v > 0)));
  const entries: ActionEntry[] = [...Array(A).keys()].map((code) => {
    const entry: ActionEntry = { code, label: "", key: null, share: inp.shares[code], distinct: distinct(code), meanShift: inp.meanShifts[code] };
    if (withLabels) {
      const column = inp.confusion!.map((row) => row[code]);
      const best = column.indexOf(Math.max(...column));
      if (column[best] > 0) {
        entry.trueAction = inp.actionNames![best];
        entry.label = entry.trueAction;
        entry.key = keyOfAction(entry.trueAction);
        return entry;
      }
    }
    const m = labelOfShift(inp.meanShifts[code]);
    entry.label = m.label;
    entry.key = m.key;
    return entry;
  });
  // One code per key: the most used distinct code keeps it; spare keys for unlabelled changes.
  const taken = new Set<string>();
  const byShare = [...entries].sort((a, b) => Number(b.distinct) - Number(a.distinct) || b.share - a.share);
  let spare = 0;
  for (const e of byShare) {
    // A code labelled by true actions keeps its key even when its effect is small next to a
    // scroll (a jump moves only the player's sprite): the label already says what it does.
    if ((!e.distinct && !e.trueAction) || e.key === null || taken.has(e.key)) {
      e.key = null;
      continue;
    }
    if (e.label === "still" && taken.has("")) {
      e.label = `change ${e.code}`;
      while (spare < SPARE_KEYS.length && taken.has(SPARE_KEYS[spare])) spare++;
      e.key = spare < SPARE_KEYS.length ? SPARE_KEYS[spare] : null;
    }
    if (e.key !== null) taken.add(e.key);
  }
  return {
    format: ACTIONS_FORMAT,
    version: ACTIONS_VERSION,
    codes: A,
    method: withLabels ? "true-actions" : "motion",
    source: inp.source,
    actions: entries,
  };
}

/**
 * The global shift (dx, dy) that best maps frame a onto frame b: b(x, y) ≈ a(x − dx, y − dy),
 * by exhaustive search over |dx|, |dy| ≤ maxShift of the mean absolute difference on the
 * overlap (grey levels). Frames are H×W with C values per pixel, RGB first.
 */
export function estimateShift(a: Float32Array, b: Float32Array, H: number, W: number, C: number, maxShift = 4): [number, number] {
  const grey = (f: Float32Array) => Float32Array.from({ length: H * W }, (_, i) => (f[i * C] + f[i * C + 1] + f[i * C + 2]) / 3);
  const ga = grey(a);
  const gb = grey(b);
  let best: [number, number] = [0, 0];
  let bestErr = Infinity;
  for (let dy = -maxShift; dy <= maxShift; dy++) {
    for (let dx = -maxShift; dx <= maxShift; dx++) {
      let err = 0;
      let n = 0;
      for (let y = Math.max(0, dy); y < Math.min(H, H + dy); y++) {
        for (let x = Math.max(0, dx); x < Math.min(W, W + dx); x++) {
          err += Math.abs(gb[y * W + x] - ga[(y - dy) * W + (x - dx)]);
          n++;
        }
      }
      // Ties (flat scenes) go to the smaller shift: the loop order alone would favour -maxShift.
      const e = err / n + 1e-6 * (Math.abs(dx) + Math.abs(dy));
      if (e < bestErr) {
        bestErr = e;
        best = [dx, dy];
      }
    }
  }
  return best;
}

export async function writeActionsFile(path: string, file: ActionsFile): Promise<void> {
  await writeFile(path, JSON.stringify(file, null, 2) + "\n");
}

/** Read and check `actions.json` from a world folder (or a file path); null when absent. */
export function readActionsFile(pathOrDir: string): ActionsFile | null {
  const path = pathOrDir.endsWith(".json") ? pathOrDir : join(pathOrDir, ACTIONS_FILE);
  if (!existsSync(path)) return null;
  const f = JSON.parse(readFileSync(path, "utf8")) as ActionsFile;
  if (f.format !== ACTIONS_FORMAT) throw new Error(`${path}: "format" must be "${ACTIONS_FORMAT}", got ${JSON.stringify(f.format)}`);
  if (f.version !== ACTIONS_VERSION) throw new Error(`${path}: version ${f.version} is not supported (this build reads version ${ACTIONS_VERSION})`);
  if (!Array.isArray(f.actions) || f.actions.length !== f.codes) throw new Error(`${path}: "actions" must list all ${f.codes} codes`);
  return f;
}
