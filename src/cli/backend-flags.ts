/**
 * `--backend jax|ort`, `--int8` / `--fp32` and `--threads N`, shared by play, rollout and eval
 * world: which engine runs the session's passes (src/world/session.ts). Default ort with int8
 * weights: onnxruntime-node is installed with worldkit and is 4–6× faster than jax-js's wasm
 * kernels here, and its int8 matmuls another ~1.3× (bench/RESULTS.md, models/default/README.md).
 */
import { SCHEDULE_KINDS } from "../models/maskgit.js";
import type { MaskgitScheduleKind } from "../models/maskgit.js";
import type { SessionBackend } from "../world/session.js";
import { intFlag, UsageError } from "./args.js";
import type { parseArgs } from "./args.js";

export const BACKEND_FLAGS = ["backend", "int8", "fp32", "threads"];
/** The flags among BACKEND_FLAGS that take no value (for parseArgs). */
export const BACKEND_SWITCHES = ["int8", "fp32"];

export const BACKEND_USAGE = `  --backend B        jax | ort: where the session runs (default ort, onnxruntime; jax = jax-js wasm)
  --fp32             fp32 weights (ort's default is int8 weights in the matmuls: ~1.3× faster,
                     frames within 0.1 dB PSNR of fp32's on held-out data; --int8 says so explicitly)
  --threads N        onnxruntime threads (ort; default 1, the fastest measured for a step)`;

export interface BackendChoice {
  backend: SessionBackend;
  int8: boolean;
  threads?: number;
}

export function backendFlags(args: ReturnType<typeof parseArgs>, command: string): BackendChoice {
  const backend = (args.flags.backend ?? "ort") as SessionBackend;
  if (backend !== "jax" && backend !== "ort") throw new UsageError(`worldkit ${command}: --backend must be jax or ort, got "${String(args.flags.backend)}"`);
  if (args.flags.int8 && args.flags.fp32) throw new UsageError(`worldkit ${command}: --int8 and --fp32 contradict each other`);
  if (args.flags.int8 && backend !== "ort") throw new UsageError(`worldkit ${command}: --int8 needs --backend ort (jax-js has no int8 path)`);
  const int8 = backend === "ort" && !args.flags.fp32;
  const threads = args.flags.threads !== undefined ? intFlag(args, "threads", 0) : undefined;
  if (threads !== undefined && threads < 1) throw new UsageError(`worldkit ${command}: --threads must be ≥ 1, got ${threads}`);
  return { backend, int8, threads };
}

export const SAMPLING_FLAGS = ["temperature", "sample-steps", "sample-schedule", "choice-temperature"];

export const SAMPLING_USAGE = `  --temperature T    MaskGIT sampling temperature (0 = greedy; default: the world's dynamics config)
  --sample-steps N   MaskGIT passes per frame (default: the world's dynamics config)
  --sample-schedule S  cosine | geometric: how the hidden tokens shrink over the passes
                     (geometric leaves the uncertain few for several passes; default: the world's)
  --choice-temperature C  MaskGIT choice temperature: Gumbel noise of scale C (annealed to 0)
                     on which sampled tokens are kept early (0 = off; default: the world's)`;

export interface SamplingChoice {
  temperature?: number;
  sampleSteps?: number;
  sampleSchedule?: MaskgitScheduleKind;
  choiceTemperature?: number;
}

/** `--temperature` and `--sample-steps`: the session's sampling settings (undefined = the world's). */
export function samplingFlags(args: ReturnType<typeof parseArgs>, command: string): SamplingChoice {
  const out: SamplingChoice = {};
  if (args.flags.temperature !== undefined) {
    const t = Number(args.flags.temperature);
    if (!(t >= 0)) throw new UsageError(`worldkit ${command}: --temperature must be ≥ 0, got "${String(args.flags.temperature)}"`);
    out.temperature = t;
  }
  if (args.flags["sample-steps"] !== undefined) {
    const n = intFlag(args, "sample-steps", 0);
    if (n < 1) throw new UsageError(`worldkit ${command}: --sample-steps must be ≥ 1, got ${n}`);
    out.sampleSteps = n;
  }
  if (args.flags["choice-temperature"] !== undefined) {
    const c = Number(args.flags["choice-temperature"]);
    if (!(c >= 0)) throw new UsageError(`worldkit ${command}: --choice-temperature must be ≥ 0, got "${String(args.flags["choice-temperature"])}"`);
    out.choiceTemperature = c;
  }
  const kind = args.flags["sample-schedule"];
  if (kind !== undefined) {
    if (!SCHEDULE_KINDS.includes(kind as MaskgitScheduleKind)) throw new UsageError(`worldkit ${command}: --sample-schedule must be ${SCHEDULE_KINDS.join(" or ")}, got "${kind}"`);
    out.sampleSchedule = kind as MaskgitScheduleKind;
  }
  return out;
}
