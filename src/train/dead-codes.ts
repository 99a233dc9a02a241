/**
 * Dead-code resets for the VQ phases (tokenizer, LAM): every `every` steps, codes idle for
 * `deadCodeSteps` move to recent encoder outputs (`resetDeadCodes`). It runs in jax-js beside
 * the exported step because it needs randomness, which stays out of ONNX graphs.
 */
import { jit, np } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import type { Key } from "../core/keys.js";
import { resetDeadCodes } from "../nn/vq.js";
import type { VQConfig, VQEmaState } from "../nn/vq.js";

/** The non-gradient state of an EMA codebook. */
export interface VQState {
  codebook_KD: np.Array;
  ema: VQEmaState;
  age_K: np.Array;
}

export interface DeadCodeResetter {
  /** After optimizer step `step` (0-based): reset on every `every`-th step; consumes state, z, key. */
  apply<S extends VQState>(state: S, z: np.Array, key: Key, step: number): S;
  dispose(): void;
}

export function deadCodeResetter(vq: VQConfig, every = 10): DeadCodeResetter {
  const reset = jit(((state: VQState, z: np.Array, key: Key) => {
    const r = resetDeadCodes(state.codebook_KD, state.age_K, z, key, vq, state.ema);
    return { codebook_KD: r.codebook_KD, ema: r.ema!, age_K: r.age_K };
  }) as never) as unknown as OwnedFunction<(s: VQState, z: np.Array, k: Key) => VQState>;
  return {
    apply(state, z, key, step) {
      if ((step + 1) % every === 0) return reset(state, z, key) as typeof state;
      z.dispose();
      key.dispose();
      return state;
    },
    dispose: () => reset.dispose(),
  };
}
