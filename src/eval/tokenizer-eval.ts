/**
 * `eval tokenizer`: reconstruction quality of a trained tokenizer on a dataset it has not seen:
 * PSNR and SSIM of RGB, depth MAE (fraction of the depth range), the fraction of codes used on
 * that data, tokens per frame, and encode/decode time per frame.
 */
import { jit, np } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { detokenize, tokenize, tokensPerFrame } from "../models/tokenizer.js";
import type { TokenizerParams } from "../models/tokenizer.js";
import { writeClip } from "../data/loader.js";
import type { Dataset } from "../data/loader.js";
import { depthScale } from "../data/format.js";
import type { LoadedTokenizer } from "../world/tokenizer-io.js";
import { channelMae, mean, psnr, ssim } from "../data/image-metrics.js";
import { keep } from "../core/refs.js";

export interface TokenizerEvalOptions {
  /** Frames per clip (the tokenizer is causal in time; clips give it context). */
  frames: number;
  /** Clips per batch. */
  batch: number;
  /** Stop after this many clips. */
  maxClips: number;
  /** Called after each batch with (clips done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface TokenizerEvalResult {
  psnr: number;
  ssim: number;
  depth_mae: number | null;
  codebook_usage: number;
  tokens_per_frame: number;
  encode_ms: number;
  decode_ms: number;
  frames: number;
  clips: number;
  codes: number;
  source: string;
  step: number;
}

export async function evalTokenizer(t: LoadedTokenizer, ds: Dataset, opts: TokenizerEvalOptions): Promise<TokenizerEvalResult> {
  const cfg = t.config;
  const [H, W] = ds.manifest.size;
  if (H !== cfg.height || W !== cfg.width) throw new Error(`dataset ${ds.dir} is ${H}×${W}; the tokenizer expects ${cfg.height}×${cfg.width}`);
  const C = cfg.channels;
  if (C === 4 && ds.manifest.depth === "none") throw new Error(`dataset ${ds.dir} has no depth; this tokenizer is RGB-D`);
  const T = opts.frames;
  const depthInv = C === 4 ? 1 / depthScale(ds.manifest.depth) : 0;

  // Every clip: non-overlapping T-frame windows of every episode (all splits: the data is held out).
  const clips: { ep: number; start: number }[] = [];
  for (const e of ds.manifest.episodes) for (let s = 0; s + T <= e.frames; s += T) clips.push({ ep: e.id, start: s });
  const chosen = clips.filter((_, i) => i % Math.max(1, Math.floor(clips.length / opts.maxClips)) === 0).slice(0, opts.maxClips);
  if (chosen.length === 0) throw new Error(`dataset ${ds.dir} has no episode with ≥ ${T} frames`);

  const enc = jit(((p: TokenizerParams, c: np.Array, x: np.Array) => tokenize(p, c, x, cfg)) as never) as unknown as OwnedFunction<(p: TokenizerParams, c: np.Array, x: np.Array) => np.Array>;
  const dec = jit(((p: TokenizerParams, c: np.Array, s: np.Array) => detokenize(p, c, s, cfg)) as never) as unknown as OwnedFunction<(p: TokenizerParams, c: np.Array, s: np.Array) => np.Array>;

  const psnrs: number[] = [];
  const ssims: number[] = [];
  const maes: number[] = [];
  const used = new Set<number>();
  let encMs = 0;
  let decMs = 0;
  let frames = 0;
  let warm = false;
  const episodeCache = new Map<number, ReturnType<Dataset["readEpisode"]>>();
  for (let i = 0; i < chosen.length; i += opts.batch) {
    const group = chosen.slice(i, i + opts.batch);
    const B = group.length;
    const x = new Float32Array(B * T * H * W * C);
    group.forEach(({ ep, start }, b) => {
      if (!episodeCache.has(ep)) {
        episodeCache.clear();
        episodeCache.set(ep, ds.readEpisode(ep));
      }
      writeClip(episodeCache.get(ep)!, start, T, C, depthInv, x, b * T * H * W * C);
    });
    if (!warm) {
      // Compile both functions outside the timings.
      const s = enc(keep(t.params), t.codebook_KD.ref, np.array(x, { shape: [B, T, H, W, C] }));
      await (await dec(keep(t.params), t.codebook_KD.ref, s).blockUntilReady()).dispose();
      warm = true;
    }
    let t0 = performance.now();
    const tokens = enc(keep(t.params), t.codebook_KD.ref, np.array(x, { shape: [B, T, H, W, C] }));
    await tokens.blockUntilReady();
    encMs += performance.now() - t0;
    t0 = performance.now();
    const xhat = dec(keep(t.params), t.codebook_KD.ref, tokens.ref);
    const recon = (await xhat.data()) as Float32Array;
    decMs += performance.now() - t0;
    for (const v of (await tokens.data()) as Int32Array) used.add(v);
    const shape = { frames: B * T, height: H, width: W, channels: C };
    psnrs.push(...psnr(recon, x, shape));
    ssims.push(...ssim(recon, x, shape));
    if (C === 4) maes.push(...channelMae(recon, x, shape, 3));
    frames += B * T;
    opts.onProgress?.(Math.min(chosen.length, i + B), chosen.length);
  }
  enc.dispose();
  dec.dispose();
  return {
    psnr: mean(psnrs),
    ssim: mean(ssims),
    depth_mae: C === 4 ? mean(maes) : null,
    codebook_usage: used.size / cfg.codes,
    tokens_per_frame: tokensPerFrame(cfg),
    encode_ms: encMs / frames,
    decode_ms: decMs / frames,
    frames,
    clips: chosen.length,
    codes: cfg.codes,
    source: t.source,
    step: t.step,
  };
}

