/**
 * Step timing of a WorldSession on the default backend: the median and 99th percentile of the
 * per-step wall time over the first `steps` steps, and how the cost at a late step compares with
 * step 10 (`ratio`): the session's caches are trimmed to a window, so it should stay near 1.
 *
 * Compilation is kept out: jit compiles once per cache length, so a warm-up runs until the cache
 * lengths stop growing, then `reset()` rewinds (the compiled functions stay) and the timed run
 * starts. "The cost at step n" is the median of the COST_WINDOW steps ending at n (at step 10:
 * the first COST_WINDOW steps, whose caches are as full as any later step's), so neither one slow
 * step (the garbage collector, another process on the cores) nor a slow stretch decides it. It
 * was the median of 10 steps until session 10: at 14 ms a step that moved by ±15% between runs
 * (one run of the 2-layer default world: ratio 1.17, while 100-step medians of a 10,000-step
 * session stayed within 14.3–15.0 ms throughout).
 */
import { hostRng } from "../core/keys.js";
import type { FramesInput, WorldSession } from "../world/session.js";

export interface TimingOptions {
  /** Steps for the median and p99 (1,000; 200 with --quick). */
  steps: number;
  /** The late step compared with step 10 (10,000; 2,000 with --quick). */
  ratioStep: number;
  /** Seed of the random action codes. */
  seed: number;
}

export interface TimingResult {
  step_ms_median: number;
  step_ms_p99: number;
  /** Cost at step `ratio_step` over the cost at step 10. */
  step_ms_ratio: number;
  ratio_step: number;
  ms_at_10: number;
  ms_at_ratio_step: number;
  steps: number;
}

/** The q-quantile (0..1) of values, by the nearest-rank method. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Steps whose median is "the cost at step n". */
export const COST_WINDOW = 100;

/** Median of the COST_WINDOW values ending at 1-based step n (the first COST_WINDOW while n is smaller). */
export function costAt(ms: number[], n: number): number {
  const end = Math.min(ms.length, Math.max(n, COST_WINDOW));
  return quantile(ms.slice(Math.max(0, end - COST_WINDOW), end), 0.5);
}

/** Time a session started from `start`, stepping random action codes. */
export async function timeSession(session: WorldSession, start: FramesInput, opts: TimingOptions): Promise<TimingResult> {
  if (opts.steps < 10 || opts.ratioStep < 2 * COST_WINDOW) throw new Error(`timing.ts: need steps ≥ 10 and ratioStep ≥ ${2 * COST_WINDOW}, got ${opts.steps} and ${opts.ratioStep}`);
  const rng = hostRng(opts.seed);
  const action = () => Math.floor(rng() * session.actionCount);
  await session.start(start);
  // Warm up until both caches have reached their windows (and a few steps more).
  let last = "";
  let flat = 0;
  for (let i = 0; i < 256 && flat < 3; i++) {
    await session.step(action());
    const now = JSON.stringify(session.cacheFrames());
    flat = now === last ? flat + 1 : 0;
    last = now;
  }
  await session.reset();
  const total = Math.max(opts.steps, opts.ratioStep);
  const ms: number[] = [];
  for (let i = 0; i < total; i++) ms.push((await session.step(action())).ms);
  const head = ms.slice(0, opts.steps);
  const at10 = costAt(ms, 10);
  const atEnd = costAt(ms, opts.ratioStep);
  return {
    step_ms_median: quantile(head, 0.5),
    step_ms_p99: quantile(head, 0.99),
    step_ms_ratio: atEnd / at10,
    ratio_step: opts.ratioStep,
    ms_at_10: at10,
    ms_at_ratio_step: atEnd,
    steps: opts.steps,
  };
}
