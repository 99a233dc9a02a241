/**
 * Learning-rate schedules as plain functions of the step number (host numbers, not arrays):
 * the training loop evaluates one per step and passes the result to the jitted step as a
 * scalar array, so changing the rate never retraces.
 */

export interface WarmupCosineConfig {
  /** Rate reached at the end of warmup (the largest rate of the run). */
  peak: number;
  /** Steps of linear warmup from `init` to `peak`; 0 starts at `peak`. */
  warmupSteps: number;
  /** Step at which the cosine decay reaches `final`; later steps stay at `final`. */
  totalSteps: number;
  /** Rate at and after `totalSteps` (often peak/10 or 0). */
  final: number;
  /** Rate at step 0, where warmup starts. Default 0 (as optax's warmup_cosine_decay_schedule). */
  init?: number;
}

/**
 * Linear warmup from `init` (step 0) to `peak` (step `warmupSteps`), then half a cosine from
 * `peak` down to `final` (step `totalSteps`), then constant `final`.
 */
export function warmupCosine(cfg: WarmupCosineConfig): (step: number) => number {
  const { peak, warmupSteps, totalSteps, final } = cfg;
  const init = cfg.init ?? 0;
  for (const [key, value] of Object.entries({ peak, warmupSteps, totalSteps, final, init })) {
    if (!Number.isFinite(value)) throw new Error(`schedule.ts warmupCosine: "${key}" must be a finite number, got ${value}`);
  }
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) {
    throw new Error(`schedule.ts warmupCosine: "warmupSteps" must be an integer ≥ 0, got ${warmupSteps}`);
  }
  if (!Number.isInteger(totalSteps) || totalSteps < warmupSteps) {
    throw new Error(`schedule.ts warmupCosine: "totalSteps" (${totalSteps}) must be an integer ≥ warmupSteps (${warmupSteps})`);
  }
  const decaySteps = totalSteps - warmupSteps;
  return (step: number): number => {
    if (step < warmupSteps) return init + ((peak - init) * step) / warmupSteps;
    if (step >= totalSteps) return final;
    // Exact at the joint: final + (peak − final) need not round back to peak.
    if (step === warmupSteps) return peak;
    const progress = (step - warmupSteps) / decaySteps;
    return final + (peak - final) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
