/**
 * How well the prompt model follows its prompts: for held-out captions (a dataset's
 * captions.jsonl), imagine a frame per caption and read its theme and coin/enemy counts back
 * with the platformer detector (src/eval/prompt-detect.ts), against the facts the caption
 * states (src/worlds/captions.ts `captionFacts`).
 *
 *   theme_accuracy   fraction of frames whose detected theme is the caption's
 *   count_accuracy   fraction of (frame, object kind) with the detected count equal to the
 *                    caption's, over coins and enemies (coin_accuracy, enemy_accuracy apart)
 *   diversity        for a few prompts, distinct frames (token sequences) among `seeds` seeds,
 *                    as a fraction (1 = every seed gave another frame); seed_theme_accuracy and
 *                    seed_count_accuracy say whether those frames still match their prompt
 *   truth_*          the detector on the dataset's own frames of the same captions (its ceiling)
 */
import { captionFacts } from "../worlds/captions.js";
import type { Dataset } from "../data/loader.js";
import { readCaptions } from "../train/prompt-phase.js";
import type { Imaginer } from "../world/imagine.js";
import { detectPlatformer } from "./prompt-detect.js";
import type { Detection } from "./prompt-detect.js";

export interface PromptEvalOptions {
  /** Held-out captions to imagine (spread evenly over the dataset's captions). Default 64. */
  prompts?: number;
  /** Seeds per prompt for the diversity measure. Default 4. */
  seeds?: number;
  /** Prompts the diversity is measured on. Default 8. */
  diversityPrompts?: number;
  /** Guidance scales to measure; the first gives the headline numbers. Default: the model's. */
  guidances?: number[];
  /** Captions per sampling call. Default 8. */
  batch?: number;
  /** Base seed. Default 0. */
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PromptScores {
  guidance: number;
  theme_accuracy: number;
  count_accuracy: number;
  coin_accuracy: number;
  enemy_accuracy: number;
}

export interface PromptEvalResult extends PromptScores {
  prompts: number;
  diversity: number;
  seed_theme_accuracy: number;
  seed_count_accuracy: number;
  truth_theme_accuracy: number;
  truth_count_accuracy: number;
  by_guidance: PromptScores[];
  /** A few (prompt, detection) pairs to look at. */
  examples: { caption: string; detected: Detection }[];
}

interface Tally {
  theme: number;
  coins: number;
  enemies: number;
  n: number;
}

function tally(captions: string[], detections: Detection[]): Tally {
  const t: Tally = { theme: 0, coins: 0, enemies: 0, n: captions.length };
  captions.forEach((c, i) => {
    const f = captionFacts(c);
    const d = detections[i];
    if (d.theme === f.theme) t.theme++;
    if (d.coins === f.coins) t.coins++;
    if (d.enemies === f.enemies) t.enemies++;
  });
  return t;
}

function scores(guidance: number, t: Tally): PromptScores {
  return {
    guidance,
    theme_accuracy: t.theme / t.n,
    count_accuracy: (t.coins + t.enemies) / (2 * t.n),
    coin_accuracy: t.coins / t.n,
    enemy_accuracy: t.enemies / t.n,
  };
}

/** Evaluate on the captions of `ds` (held-out data); the imaginer's tokenizer must match its frame size. */
export async function evalPrompt(imaginer: Imaginer, ds: Dataset, opts: PromptEvalOptions = {}): Promise<PromptEvalResult> {
  const { height: H, width: W, channels: C } = imaginer.tokenizer.config;
  if (ds.manifest.size[0] !== H || ds.manifest.size[1] !== W) throw new Error(`eval prompt: ${ds.dir} has ${ds.manifest.size.join("×")} frames; the world makes ${H}×${W}`);
  if (ds.manifest.env !== "platformer") throw new Error(`eval prompt: the detector reads platformer frames; ${ds.dir} is "${ds.manifest.env}"`);
  const all = readCaptions(ds);
  const P = Math.min(opts.prompts ?? 64, all.length);
  const chosen = Array.from({ length: P }, (_, i) => all[Math.floor((i * all.length) / P)]);
  const captions = chosen.map((c) => c.caption);
  const batch = Math.max(1, opts.batch ?? 8);
  const seed = opts.seed ?? 0;
  const guidances = opts.guidances?.length ? opts.guidances : [imaginer.config.guidance];
  const S = Math.max(1, opts.seeds ?? 4);
  const D = Math.min(opts.diversityPrompts ?? 8, P);
  const total = guidances.length * P + D * S;
  let done = 0;

  /** Frames for `texts` (batched; the last batch padded with its first caption), detected. */
  const detectAll = async (texts: string[], guidance: number, seedOf: (i: number) => number): Promise<{ det: Detection[]; tokens: Int32Array[] }> => {
    const det: Detection[] = [];
    const tokens: Int32Array[] = [];
    const N = imaginer.config.tokensPerFrame;
    for (let s = 0; s < texts.length; s += batch) {
      const part = texts.slice(s, s + batch);
      const padded = [...part, ...Array<string>(batch - part.length).fill(part[0])];
      const r = await imaginer.imagine(padded, { guidance, seed: seedOf(s) });
      for (let b = 0; b < part.length; b++) {
        const px = r.pixels.subarray(b * H * W * C, (b + 1) * H * W * C);
        const rgb = new Uint8Array(H * W * 3);
        for (let i = 0; i < H * W; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = Math.round(px[i * C + k] * 255);
        det.push(detectPlatformer(rgb, H, W));
        tokens.push(r.tokens.slice(b * N, (b + 1) * N));
      }
      done += part.length;
      opts.onProgress?.(done, total);
    }
    return { det, tokens };
  };

  const byGuidance: PromptScores[] = [];
  let headline: Detection[] = [];
  for (const [gi, g] of guidances.entries()) {
    const { det } = await detectAll(captions, g, (s) => seed + s);
    byGuidance.push(scores(g, tally(captions, det)));
    if (gi === 0) headline = det;
  }

  // Diversity: S copies of a prompt in one call (each row draws its own noise: S samples).
  let distinct = 0;
  const seedCaps: string[] = [];
  const seedDets: Detection[] = [];
  for (let p = 0; p < D; p++) {
    const text = captions[Math.floor((p * P) / D)];
    const copies = Array<string>(S).fill(text);
    const { det, tokens } = await detectAll(copies, guidances[0], (s) => seed + 1000 + p * 97 + s);
    seedCaps.push(...copies);
    seedDets.push(...det);
    distinct += new Set(tokens.map((f) => f.join(","))).size / S;
  }
  const seedTally = tally(seedCaps, seedDets);

  // The detector on the dataset's own frames of the same captions: what a perfect model scores.
  const truth: Detection[] = chosen.map((c) => {
    const ep = ds.readEpisode(c.episode);
    return detectPlatformer(ep.rgb_THWC.subarray(c.frame * H * W * 3, (c.frame + 1) * H * W * 3), H, W);
  });
  const truthScores = scores(0, tally(captions, truth));

  return {
    prompts: P,
    ...byGuidance[0],
    diversity: D ? distinct / D : 0,
    seed_theme_accuracy: seedTally.n ? seedTally.theme / seedTally.n : 0,
    seed_count_accuracy: seedTally.n ? (seedTally.coins + seedTally.enemies) / (2 * seedTally.n) : 0,
    truth_theme_accuracy: truthScores.theme_accuracy,
    truth_count_accuracy: truthScores.count_accuracy,
    by_guidance: byGuidance,
    examples: captions.slice(0, 6).map((caption, i) => ({ caption, detected: headline[i] })),
  };
}
