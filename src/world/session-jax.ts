/**
 * The WorldSession's passes on jax-js (any device it runs on: wasm, WebGPU; the browser
 * player's backend). Each pass is jitted once per cache length (jit caches per input shapes);
 * caches are jax-js arrays. The MaskGIT iteration is sampling.ts's, as on onnxruntime. The first frame has no cache, and jit takes trees of arrays, not
 * null, so it runs eagerly.
 *
 * Dimension keys: B batch · N tokens per frame · K codebook size.
 */
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { keep } from "../core/refs.js";
import type { KVCache } from "../nn/attention.js";
import { boolArray, dynamicsStep } from "../models/dynamics.js";
import type { DynamicsParams } from "../models/dynamics.js";
import { decodeFrameStep, decoderHalf } from "./frame-decoder.js";
import type { DecoderParams } from "./frame-decoder.js";
import { choiceScales, sessionIteration } from "./sampling.js";
import type { FrameStepper, StepperParts } from "./session.js";

export interface JaxStepperOptions {
  /** MaskGIT schedule: tokens still hidden after each pass. */
  schedule: number[];
  temperature: number;
  /** MaskGIT choice temperature (sampling.ts `choiceScales`; 0 = off). */
  choiceTemperature: number;
  decoderWindow: number;
  /** Compile the passes with jit. */
  jit: boolean;
}

type Decode = (p: DecoderParams, codebook_KD: np.Array, tokens_BN: np.Array, caches: KVCache[] | null) => { x_BHWC: np.Array; caches: KVCache[] };
type Iteration = (logits_BNK: np.Array, tokens_BN: np.Array, mask_BN: np.Array, u_BN: np.Array | null, c_BN: np.Array | null) => { tokens_BN: np.Array; mask_BN: np.Array };
type Pass = (p: DynamicsParams, tokens: np.Array, action: np.Array, mask: np.Array, caches: KVCache[] | null) => { logits_BNK: np.Array; caches: KVCache[] };

export class JaxStepper implements FrameStepper {
  private dynCaches: KVCache[] | null = null;
  private decCaches: KVCache[] | null = null;
  private readonly pass: Pass;
  private readonly decodeStep: Decode;
  private readonly iterations = new Map<string, Iteration>();
  private readonly disposers: (() => void)[] = [];
  /** The choice noise's scale per pass (fixed by the options). */
  private readonly choiceScale: number[];

  /** Borrows `parts` (the session owns them and disposes them after this stepper). */
  constructor(
    private readonly parts: StepperParts,
    private readonly opts: JaxStepperOptions,
  ) {
    const d = parts.dynamicsConfig;
    this.choiceScale = choiceScales(opts.choiceTemperature, opts.schedule.length);
    const tc = parts.tokenizerConfig;
    const pass: Pass = (p, tokens, action, mask, caches) => dynamicsStep(p, tokens, action, mask, caches, d);
    const decode: Decode = (p, codebook, tokens, caches) => decodeFrameStep(p, codebook, tokens, caches, tc, opts.decoderWindow);
    if (opts.jit) {
      const jp = jit(pass as never) as unknown as OwnedFunction<Pass>;
      const jd = jit(decode as never) as unknown as OwnedFunction<Decode>;
      this.disposers.push(() => jp.dispose(), () => jd.dispose());
      this.pass = (p, t, a, m, c) => (c ? jp(p, t, a, m, c) : pass(p, t, a, m, c));
      this.decodeStep = (p, cb, t, c) => (c ? jd(p, cb, t, c) : decode(p, cb, t, c));
    } else {
      this.pass = pass;
      this.decodeStep = decode;
    }
  }

  cacheFrames(): { dynamics: number; decoder: number } {
    return { dynamics: this.dynCaches?.[0].k.shape[2] ?? 0, decoder: this.decCaches?.[0].k.shape[2] ?? 0 };
  }

  clear(): void {
    if (this.dynCaches) tree.dispose(this.dynCaches as never);
    if (this.decCaches) tree.dispose(this.decCaches as never);
    this.dynCaches = null;
    this.decCaches = null;
  }

  /** The pass whose cache rows are kept: the frame with its final tokens, nothing hidden. */
  async commit(tokens: Int32Array, code: number): Promise<void> {
    const N = this.parts.dynamicsConfig.tokensPerFrame;
    const r = this.pass(
      this.dynRef(),
      np.array(tokens, { shape: [1, N], dtype: np.int32 }),
      np.array([code], { shape: [1], dtype: np.int32 }),
      boolArray(new Uint8Array(N), [1, N]),
      this.dynCaches,
    );
    r.logits_BNK.dispose();
    this.dynCaches = r.caches;
  }

  /** MaskGIT passes against a reference to the caches (what they append is discarded). */
  async sample(code: number, uniforms: Float32Array | null): Promise<Int32Array> {
    const d = this.parts.dynamicsConfig;
    const N = d.tokensPerFrame;
    let tokens = np.zeros([1, N], { dtype: np.int32 });
    let mask = boolArray(new Uint8Array(N).fill(1), [1, N]);
    const passes = this.opts.schedule.length;
    const choosy = !!uniforms && uniforms.length === 2 * passes * N;
    for (const [i, hiddenAfter] of this.opts.schedule.entries()) {
      const caches = this.dynCaches ? (tree.ref(this.dynCaches as never) as KVCache[]) : null;
      const r = this.pass(this.dynRef(), tokens.ref, np.array([code], { shape: [1], dtype: np.int32 }), mask.ref, caches);
      tree.dispose(r.caches as never);
      const u = uniforms ? np.array(uniforms.slice(i * N, (i + 1) * N), { shape: [1, N] }) : null;
      const c = choosy ? np.array(uniforms!.slice((passes + i) * N, (passes + i + 1) * N), { shape: [1, N] }) : null;
      ({ tokens_BN: tokens, mask_BN: mask } = this.iteration(hiddenAfter, choosy ? this.choiceScale[i] : 0)(r.logits_BNK, tokens, mask, u, c));
    }
    mask.dispose();
    const tk = (await tokens.data()) as Int32Array;
    await this.commit(tk, code);
    return tk;
  }

  async decode(tokens: Int32Array): Promise<Float32Array> {
    const p = this.parts;
    const r = this.decodeStep(
      keep(decoderHalf(p.tokenizer)),
      p.codebook_KD.ref,
      np.array(tokens, { shape: [1, tokens.length], dtype: np.int32 }),
      this.decCaches,
    );
    this.decCaches = r.caches;
    return (await r.x_BHWC.data()) as Float32Array;
  }

  dispose(): void {
    this.clear();
    for (const f of this.disposers) f();
  }

  /** The iteration that leaves `hiddenAfter` tokens hidden, with choice noise of `scale` (jitted once per pair). */
  private iteration(hiddenAfter: number, scale: number): Iteration {
    const name = `${hiddenAfter}:${scale}`;
    let f = this.iterations.get(name);
    if (!f) {
      const temperature = this.opts.temperature;
      const g: Iteration = (l, t, m, u, c) => sessionIteration(l, t, m, u, temperature, hiddenAfter, c ? { u_BN: c, scale } : null);
      if (this.opts.jit) {
        // jit takes arrays, not null: absent uniforms are not arguments.
        type Sampled = (l: np.Array, t: np.Array, m: np.Array, u: np.Array) => ReturnType<Iteration>;
        type Greedy = (l: np.Array, t: np.Array, m: np.Array) => ReturnType<Iteration>;
        const jc = jit(g as never) as unknown as OwnedFunction<Iteration>;
        const jg = jit(((l: np.Array, t: np.Array, m: np.Array, u: np.Array) => g(l, t, m, u, null)) as never) as unknown as OwnedFunction<Sampled>;
        const jg0 = jit(((l: np.Array, t: np.Array, m: np.Array) => g(l, t, m, null, null)) as never) as unknown as OwnedFunction<Greedy>;
        this.disposers.push(() => jc.dispose(), () => jg.dispose(), () => jg0.dispose());
        f = (l, t, m, u, c) => (u && c ? jc(l, t, m, u, c) : u ? jg(l, t, m, u) : jg0(l, t, m));
      } else f = g;
      this.iterations.set(name, f);
    }
    return f;
  }

  private dynRef(): DynamicsParams {
    return keep(this.parts.dynamics);
  }
}
