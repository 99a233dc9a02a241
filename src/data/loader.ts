/**
 * The streaming clip loader: random clips of T frames from one split, in batches, for training.
 *
 * Order: each epoch shuffles the split's episodes (seeded by seed and epoch) and walks them
 * through a small window of "active" episodes; every clip comes from a random active episode at
 * a random start, and an episode leaves the window after floor(frames / T) clips. The whole
 * order is a pure function of (seed, epoch, manifest), computed from indices alone, so the
 * loader's position is two numbers (epoch, index) that can be saved and restored exactly.
 *
 * Memory: decoded episodes sit in an LRU bounded by `cacheBytes`; the window keeps reads local,
 * so each episode is read from disk about once per epoch. The dataset is never loaded whole.
 *
 * Dimension keys: B batch · T frames · H,W pixels · C channels (3 = RGB, 4 = RGB + depth last).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hostRng } from "../core/keys.js";
import { depthScale, UNKNOWN_ACTION, validateManifest, type EpisodeEntry, type Manifest, type Split } from "./format.js";
import { ShardReader, type DecodedEpisode } from "./shard-reader.js";
import { np } from "../core/jax.js";

/** byte → byte / 255, looked up rather than divided per pixel. */
const BYTE_TO_UNIT = Float32Array.from({ length: 256 }, (_, i) => i / 255);

export interface Dataset {
  dir: string;
  manifest: Manifest;
  /** The shard's reader (header only; cached). */
  shard(name: string): ShardReader;
  /** Read one episode by id (checked against its CRCs). */
  readEpisode(id: number, withStates?: boolean): DecodedEpisode;
}

/** Open a dataset folder: read and validate manifest.json. Shards are checked when first read. */
export function openDataset(dir: string): Dataset {
  const file = join(dir, "manifest.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`${file}: cannot read the dataset manifest (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is ${dir} a worldkit dataset?`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON (${(err as Error).message})`);
  }
  const manifest = validateManifest(raw, file);
  const byId = new Map(manifest.episodes.map((e) => [e.id, e]));
  const readers = new Map<string, ShardReader>();
  const shard = (name: string): ShardReader => {
    let r = readers.get(name);
    if (!r) {
      r = ShardReader.open(join(dir, name));
      const [H, W] = r.header.size;
      if (H !== manifest.size[0] || W !== manifest.size[1] || r.header.depth !== manifest.depth) {
        throw new Error(`${r.path}: shard holds ${H}×${W} depth "${r.header.depth}", manifest says ${manifest.size.join("×")} depth "${manifest.depth}"`);
      }
      readers.set(name, r);
    }
    return r;
  };
  const readEpisode = (id: number, withStates = false): DecodedEpisode => {
    const entry = byId.get(id);
    if (!entry) throw new Error(`${file}: no episode with id ${id}`);
    const ep = shard(entry.shard).readEpisode(id, withStates);
    if (ep.frames !== entry.frames) throw new Error(`${join(dir, entry.shard)}: episode ${id} has ${ep.frames} frames, manifest says ${entry.frames}`);
    return ep;
  };
  return { dir, manifest, shard, readEpisode };
}

export interface ClipLoaderOptions {
  split: Split;
  /** Clips per batch (B). */
  batch: number;
  /** Frames per clip (T); episodes shorter than T are skipped. */
  frames: number;
  /** Seeds the episode order and clip starts: same seed, same batches. */
  seed: number;
  /** "rgb" (C = 3) or "rgbd" (C = 4, depth last; needs a dataset with depth). Default "rgb". */
  channels?: "rgb" | "rgbd";
  /** Active episodes clips are drawn from at once (default 4): more mixing, more reads per epoch. */
  window?: number;
  /** Bound on decoded episode bytes kept in memory (default 256 MiB; one episode is always allowed). */
  cacheBytes?: number;
}

export interface ClipBatch {
  /** B·T·H·W·C values in [0, 1]. */
  x_BTHWC: Float32Array;
  /** B·T true action ids; -1 where unknown (imported video). */
  actions_BT: Int32Array;
  B: number;
  T: number;
  H: number;
  W: number;
  C: number;
  /** Episode id of each clip. */
  episodes: number[];
  /** First frame of each clip within its episode. */
  starts: number[];
}

/** A loader's position; JSON-serialisable, for resumable training. */
export interface LoaderState {
  seed: number;
  split: Split;
  frames: number;
  epoch: number;
  /** Clips of this epoch already delivered. */
  index: number;
}

/** The clip order of one epoch, as [episode id, start] pairs. */
export function epochSchedule(episodes: readonly EpisodeEntry[], T: number, seed: number, epoch: number, window: number): Array<[number, number]> {
  const rand = hostRng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0);
  const order = [...episodes];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const active: Array<{ ep: EpisodeEntry; left: number }> = [];
  let next = 0;
  const admit = (): { ep: EpisodeEntry; left: number } | undefined => {
    const ep = order[next++];
    return ep ? { ep, left: Math.floor(ep.frames / T) } : undefined;
  };
  while (active.length < window && next < order.length) active.push(admit()!);
  const out: Array<[number, number]> = [];
  while (active.length > 0) {
    const slot = Math.floor(rand() * active.length);
    const a = active[slot];
    out.push([a.ep.id, Math.floor(rand() * (a.ep.frames - T + 1))]);
    if (--a.left === 0) {
      const repl = admit();
      if (repl) active[slot] = repl;
      else active.splice(slot, 1);
    }
  }
  return out;
}

export class ClipLoader implements AsyncIterable<ClipBatch> {
  readonly #ds: Dataset;
  readonly #opts: Required<ClipLoaderOptions>;
  readonly #episodes: EpisodeEntry[];
  readonly #cache = new Map<number, DecodedEpisode>();
  #cachedBytes = 0;
  #epoch = 0;
  #index = 0;
  #schedule: Array<[number, number]> | null = null;

  constructor(ds: Dataset, opts: ClipLoaderOptions) {
    const o: Required<ClipLoaderOptions> = { channels: "rgb", window: 4, cacheBytes: 256 * 1024 * 1024, ...opts };
    const where = `clipLoader(${ds.dir})`;
    if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error(`${where}: batch must be a positive integer, got ${o.batch}`);
    if (!Number.isInteger(o.frames) || o.frames < 1) throw new Error(`${where}: frames must be a positive integer, got ${o.frames}`);
    if (!Number.isInteger(o.window) || o.window < 1) throw new Error(`${where}: window must be a positive integer, got ${o.window}`);
    if (o.channels === "rgbd" && ds.manifest.depth === "none") throw new Error(`${where}: channels "rgbd" needs depth, but this dataset has depth "none"`);
    const inSplit = ds.manifest.episodes.filter((e) => e.split === o.split);
    this.#episodes = inSplit.filter((e) => e.frames >= o.frames);
    if (this.#episodes.length === 0) {
      const longest = Math.max(0, ...inSplit.map((e) => e.frames));
      throw new Error(`${where}: no "${o.split}" episode has ≥ ${o.frames} frames (${inSplit.length} episodes, longest ${longest})`);
    }
    this.#ds = ds;
    this.#opts = o;
  }

  /** Bytes of decoded episodes held in the LRU now. */
  get cachedBytes(): number {
    return this.#cachedBytes;
  }

  state(): LoaderState {
    return { seed: this.#opts.seed, split: this.#opts.split, frames: this.#opts.frames, epoch: this.#epoch, index: this.#index };
  }

  /** Continue from a saved position (seed, split and frames must match this loader's). */
  restore(state: LoaderState): void {
    const o = this.#opts;
    if (state.seed !== o.seed || state.split !== o.split || state.frames !== o.frames) {
      throw new Error(`clipLoader(${this.#ds.dir}): saved state is for seed ${state.seed} split "${state.split}" frames ${state.frames}, ` +
        `this loader has seed ${o.seed} split "${o.split}" frames ${o.frames}`);
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.index) || state.index < 0) {
      throw new Error(`clipLoader(${this.#ds.dir}): invalid saved position epoch ${state.epoch} index ${state.index}`);
    }
    this.#epoch = state.epoch;
    this.#index = state.index;
    this.#schedule = null;
  }

  #nextClip(): [number, number] {
    for (;;) {
      this.#schedule ??= epochSchedule(this.#episodes, this.#opts.frames, this.#opts.seed, this.#epoch, this.#opts.window);
      if (this.#index < this.#schedule.length) return this.#schedule[this.#index++];
      this.#epoch++;
      this.#index = 0;
      this.#schedule = null;
    }
  }

  #episode(id: number): DecodedEpisode {
    const hit = this.#cache.get(id);
    if (hit) {
      this.#cache.delete(id); // re-insert: Map order is the LRU order
      this.#cache.set(id, hit);
      return hit;
    }
    const ep = this.#ds.readEpisode(id);
    const bytes = ep.rgb_THWC.byteLength + (ep.depth_THW?.byteLength ?? 0) + ep.actions_T.byteLength;
    for (const [oldId, old] of this.#cache) {
      if (this.#cachedBytes + bytes <= this.#opts.cacheBytes) break;
      this.#cache.delete(oldId);
      this.#cachedBytes -= old.rgb_THWC.byteLength + (old.depth_THW?.byteLength ?? 0) + old.actions_T.byteLength;
    }
    this.#cache.set(id, ep);
    this.#cachedBytes += bytes;
    return ep;
  }

  /** The next batch of B clips. */
  async next(): Promise<ClipBatch> {
    const { batch: B, frames: T } = this.#opts;
    const [H, W] = this.#ds.manifest.size;
    const C = this.#opts.channels === "rgbd" ? 4 : 3;
    const HW = H * W;
    const x_BTHWC = new Float32Array(B * T * HW * C);
    const actions_BT = new Int32Array(B * T);
    const episodes: number[] = [];
    const starts: number[] = [];
    const depthInv = 1 / depthScale(this.#ds.manifest.depth);
    for (let b = 0; b < B; b++) {
      const [id, start] = this.#nextClip();
      const ep = this.#episode(id);
      episodes.push(id);
      starts.push(start);
      writeClip(ep, start, T, C, depthInv, x_BTHWC, b * T * HW * C);
      for (let t = 0; t < T; t++) {
        const a = ep.actions_T[start + t];
        actions_BT[b * T + t] = a === UNKNOWN_ACTION ? -1 : a;
      }
    }
    return { x_BTHWC, actions_BT, B, T, H, W, C, episodes, starts };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ClipBatch> {
    for (;;) yield await this.next();
  }
}

/**
 * Write frames [start, start+T) of an episode as floats in [0, 1] into `out` at `offset`
 * (T·H·W·C values; C = 3, or 4 with depth last scaled by `depthInv`).
 */
export function writeClip(ep: DecodedEpisode, start: number, T: number, C: number, depthInv: number, out: Float32Array, offset: number): void {
  const HW = ep.height * ep.width;
  for (let t = 0; t < T; t++) {
    const f = start + t;
    const dst = offset + t * HW * C;
    const rgb = ep.rgb_THWC.subarray(f * HW * 3, (f + 1) * HW * 3);
    for (let p = 0; p < HW; p++) {
      out[dst + p * C] = BYTE_TO_UNIT[rgb[p * 3]];
      out[dst + p * C + 1] = BYTE_TO_UNIT[rgb[p * 3 + 1]];
      out[dst + p * C + 2] = BYTE_TO_UNIT[rgb[p * 3 + 2]];
    }
    if (C === 4) {
      const depth = ep.depth_THW;
      if (!depth) throw new Error(`episode ${ep.id} has no depth, but 4 channels were asked for`);
      for (let p = 0; p < HW; p++) out[dst + p * 4 + 3] = depth[f * HW + p] * depthInv;
    }
  }
}

export function clipLoader(ds: Dataset, opts: ClipLoaderOptions): ClipLoader {
  return new ClipLoader(ds, opts);
}

/**
 * Whole episodes one at a time, in manifest order, for evaluation (only one is in memory at once
 * unless the caller keeps them). `split` undefined means every episode.
 */
export async function* iterateEpisodes(
  ds: Dataset,
  opts: { split?: Split; states?: boolean } = {},
): AsyncGenerator<{ entry: EpisodeEntry; episode: DecodedEpisode }> {
  for (const entry of ds.manifest.episodes) {
    if (opts.split && entry.split !== opts.split) continue;
    yield { entry, episode: ds.readEpisode(entry.id, opts.states ?? false) };
  }
}

/** A batch's frames as a jax-js array of shape (B, T, H, W, C). */
export function clipArray(b: ClipBatch): np.Array {
  return np.array(b.x_BTHWC, { shape: [b.B, b.T, b.H, b.W, b.C] });
}
