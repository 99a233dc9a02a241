/**
 * The dynamics model's training data, computed once: every episode's tokens (from the frozen
 * tokenizer) and the action that led into each frame (from the frozen LAM, or the dataset's true
 * actions), kept in the run folder. Running the tokenizer at every dynamics step would cost more
 * than the step itself; the frozen models are then inputs, so no gradient reaches them.
 *
 * Files: `token-cache.json` (what it was made from, and each episode's frame offset) and
 * `token-cache.bin` (int32: all tokens, F·N, then all actions-in, F; F = total frames). A cache
 * made from other models or data is rebuilt.
 *
 * Tokenizing: episodes are cut into chunks of `chunk` frames (the tokenizer's training clip
 * length), as the tokenizer is causal and was trained on short clips. The LAM labels windows of
 * `chunk` frames overlapping by one, so every transition gets a code.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jit, np, tree } from "../core/jax.js";
import type { OwnedFunction } from "../core/jax.js";
import { fnv1a } from "../core/hash.js";
import { namedLeaves } from "../core/tree-names.js";
import type { ParamTree } from "../core/tree-names.js";
import { depthScale, UNKNOWN_ACTION } from "../data/format.js";
import type { Split } from "../data/format.js";
import { writeClip } from "../data/loader.js";
import type { Dataset } from "../data/loader.js";
import type { DecodedEpisode } from "../data/shard-reader.js";
import { compileOrt } from "../onnx/compiled.js";
import type { CompiledFunction } from "../onnx/compiled.js";
import { halves, tokenize, tokensPerFrame } from "../models/tokenizer.js";
import { inferActions } from "../models/lam.js";
import type { LoadedTokenizer } from "../world/tokenizer-io.js";
import type { LoadedLam } from "../world/lam-io.js";

export const TOKEN_CACHE_JSON = "token-cache.json";
export const TOKEN_CACHE_BIN = "token-cache.bin";

export interface CachedEpisode {
  id: number;
  split: Split;
  frames: number;
  /** First frame's index into the cache. */
  offset: number;
}

export interface TokenCacheIndex {
  format: "worldkit-token-cache";
  version: 1;
  dataset: string;
  /**
   * The tokenizer it came from; `encoder` (the fingerprint of the encoder's weights and the
   * codebook) decides whether the cache still holds: a tokenizer whose decoder alone was trained
   * further (tokenizer.freezeEncoder) makes the same tokens.
   */
  tokenizer: { source: string; step: number; encoder: string };
  /** "true" (dataset actions) or the LAM it came from. */
  actions: "true" | { source: string; step: number };
  chunk: number;
  /** N tokens per frame, K codes, A actions (A itself = "no action"). */
  N: number;
  K: number;
  A: number;
  episodes: CachedEpisode[];
}

export interface TokenCache {
  index: TokenCacheIndex;
  /** F·N tokens. */
  tokens: Int32Array;
  /** F actions-in: the code that led into each frame (A for first frames and unknown ones). */
  actions: Int32Array;
}

export interface TokenCacheSources {
  tokenizer: LoadedTokenizer;
  /** The LAM, or null for the dataset's true actions. */
  lam: LoadedLam | null;
  chunk: number;
  /** Where the frozen tokenizer runs: "ort" (onnxruntime, several times faster) or "jax". */
  backend?: "ort" | "jax";
  /** onnxruntime threads (0 = all cores). */
  threads?: number;
  onProgress?: (episodesDone: number, total: number) => void;
}

type Encode = (p: ParamTree, cb: np.Array, x: np.Array) => Promise<Int32Array>;

/** The tokenizer's encoder as one call per clip batch: jit, or onnxruntime compiled per shape. */
function encoder(t: LoadedTokenizer, backend: "ort" | "jax", threads: number): { encode: Encode; dispose: () => Promise<void> } {
  const tc = t.config;
  const f = (p: ParamTree, cb: np.Array, x: np.Array) => tokenize(p as never, cb, x, tc);
  if (backend === "jax") {
    const fn = jit(f as never) as unknown as OwnedFunction<typeof f>;
    return {
      encode: async (p, cb, x) => (await fn(p, cb, x).data()) as Int32Array,
      dispose: async () => fn.dispose(),
    };
  }
  const compiled = new Map<string, Promise<CompiledFunction>>();
  return {
    async encode(p, cb, x) {
      const key = x.shape.join("x");
      let c = compiled.get(key);
      if (!c) {
        c = compileOrt(f as never, [p, cb, x] as never, { threads: threads || undefined });
        compiled.set(key, c);
      }
      const out = (await (await c).run(p as never, cb as never, x as never)) as unknown as np.Array;
      return (await out.data()) as Int32Array;
    },
    async dispose() {
      for (const c of compiled.values()) await (await c).dispose();
    },
  };
}

/** Chunks [start, length) covering T frames; `overlap` frames shared between neighbours. */
function chunks(T: number, size: number, overlap: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s + overlap < T || s === 0; s += size - overlap) out.push([s, Math.min(size, T - s)]);
  return out;
}

function frameArray(ep: DecodedEpisode, parts: [number, number][], C: number, depthInv: number): np.Array {
  const T = parts[0][1];
  const HW = ep.height * ep.width;
  const x = new Float32Array(parts.length * T * HW * C);
  parts.forEach(([s], b) => writeClip(ep, s, T, C, depthInv, x, b * T * HW * C));
  return np.array(x, { shape: [parts.length, T, ep.height, ep.width, C] });
}

/** Group chunks by length, so each group is one batched call. */
function byLength(parts: [number, number][]): [number, number][][] {
  const groups = new Map<number, [number, number][]>();
  for (const p of parts) groups.set(p[1], [...(groups.get(p[1]) ?? []), p]);
  return [...groups.values()];
}

/** FNV-1a (32-bit, hex) over the bytes of the tokenizer's encoder half and its codebook: what its tokens depend on. */
export async function encoderFingerprint(t: LoadedTokenizer): Promise<string> {
  const { enc } = halves(t.params);
  const leaves = [...namedLeaves(enc as unknown as ParamTree).map(([, x]) => x), t.codebook_KD];
  return fnv1a(...(await Promise.all(leaves.map(async (x) => (await x.ref.data()) as Float32Array))));
}

/** Load the cache in `dir` if it was made from these sources (the same encoder, LAM, data and chunking), else build and write it. */
export async function tokenCache(dir: string, ds: Dataset, src: TokenCacheSources): Promise<TokenCache> {
  const t = src.tokenizer;
  const N = tokensPerFrame(t.config);
  const A = src.lam ? src.lam.config.codes : (ds.manifest.actions?.length ?? 0);
  if (!src.lam && A === 0) throw new Error(`token cache: ${ds.dir} has no true actions; pass a LAM (--lam RUN)`);
  const fingerprint = await encoderFingerprint(t);
  const want = {
    dataset: ds.dir,
    tokenizer: { source: t.source, step: t.step, encoder: fingerprint },
    actions: src.lam ? { source: src.lam.source, step: src.lam.step } : ("true" as const),
    chunk: src.chunk,
  };
  const jsonPath = join(dir, TOKEN_CACHE_JSON);
  const binPath = join(dir, TOKEN_CACHE_BIN);
  if (existsSync(jsonPath) && existsSync(binPath)) {
    const index = JSON.parse(readFileSync(jsonPath, "utf8")) as TokenCacheIndex;
    const same = JSON.stringify([index.dataset, index.tokenizer.encoder, index.actions, index.chunk]) === JSON.stringify([want.dataset, fingerprint, want.actions, want.chunk]);
    if (same) {
      const buf = readFileSync(binPath);
      const all = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
      const F = all.length / (index.N + 1);
      return { index, tokens: all.slice(0, F * index.N), actions: all.slice(F * index.N) };
    }
  }

  const tc = t.config;
  const [H, W] = ds.manifest.size;
  if (H !== tc.height || W !== tc.width) throw new Error(`token cache: ${ds.dir} has ${H}×${W} frames, tokenizer ${t.source} wants ${tc.height}×${tc.width}`);
  const depthInv = 1 / depthScale(ds.manifest.depth);
  const tok = encoder(t, src.backend ?? "ort", src.threads ?? 0);
  const lamFn = src.lam
    ? (jit(((p: ParamTree, cb: np.Array, x: np.Array) => inferActions(p as never, cb, x, src.lam!.config)) as never) as unknown as OwnedFunction<(p: ParamTree, cb: np.Array, x: np.Array) => np.Array>)
    : null;
  const episodes: CachedEpisode[] = [];
  let F = 0;
  for (const e of ds.manifest.episodes) {
    episodes.push({ id: e.id, split: e.split, frames: e.frames, offset: F });
    F += e.frames;
  }
  const tokens = new Int32Array(F * N);
  const actions = new Int32Array(F).fill(A);
  for (const [i, e] of episodes.entries()) {
    const ep = ds.readEpisode(e.id);
    for (const group of byLength(chunks(e.frames, src.chunk, 0))) {
      const x = frameArray(ep, group, tc.channels, depthInv);
      const out = await tok.encode(tree.ref(t.params as unknown as ParamTree), t.codebook_KD.ref, x);
      const T = group[0][1];
      group.forEach(([s], b) => tokens.set(out.subarray(b * T * N, (b + 1) * T * N), (e.offset + s) * N));
    }
    if (src.lam && lamFn) {
      const lam = src.lam;
      if (e.frames >= 2) {
        for (const group of byLength(chunks(e.frames, Math.max(2, src.chunk), 1).filter(([, n]) => n >= 2))) {
          const x = frameArray(ep, group, lam.config.channels, depthInv);
          const codes = (await lamFn(tree.ref(lam.params as unknown as ParamTree), lam.codebook_KD.ref, x).data()) as Int32Array;
          const U = group[0][1] - 1;
          group.forEach(([s], b) => {
            for (let u = 0; u < U; u++) actions[e.offset + s + u + 1] = codes[b * U + u];
          });
        }
      }
    } else {
      for (let f = 1; f < e.frames; f++) {
        const a = ep.actions_T[f - 1];
        actions[e.offset + f] = a === UNKNOWN_ACTION ? A : a;
      }
    }
    src.onProgress?.(i + 1, episodes.length);
  }
  await tok.dispose();
  lamFn?.dispose();
  const index: TokenCacheIndex = { format: "worldkit-token-cache", version: 1, ...want, N, K: tc.codes, A, episodes };
  const all = new Int32Array(F * (N + 1));
  all.set(tokens, 0);
  all.set(actions, F * N);
  await writeFile(binPath, new Uint8Array(all.buffer));
  await writeFile(jsonPath, JSON.stringify(index, null, 1));
  return { index, tokens, actions };
}
