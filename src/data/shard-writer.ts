/**
 * Writing datasets: `ShardWriter` packs whole episodes into one shard file (layout in format.ts),
 * and `DatasetWriter` rolls shards inside a temporary folder `OUT.tmp-<pid>` and renames it to
 * OUT only when everything, manifest included, is on disk. So an interrupted run leaves either
 * the complete dataset or no OUT at all; the leftover temporary folder of a dead process is
 * removed by the next run.
 *
 * Dimension keys: T frames · H,W pixels.
 */
import { closeSync, existsSync, openSync, readdirSync, renameSync, rmSync, writeFileSync, writeSync, mkdirSync } from "node:fs";
import { endianness } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { crc32 } from "./png.js";
import {
  countEpisodes,
  DATASET_FORMAT,
  DATASET_VERSION,
  depthBytesPerValue,
  depthScale,
  SHARD_MAGIC,
  SHARD_PRELUDE_BYTES,
  SHARD_VERSION,
  shardName,
  valEpisodeIndices,
  type DepthEncoding,
  type EpisodeEntry,
  type Manifest,
  type SectionName,
  type SectionRef,
  type ShardEpisodeRef,
  type ShardHeader,
} from "./format.js";

/** One episode as stored: RGB bytes, quantised depth, action ids, one state record per frame. */
export interface EpisodeData {
  frames: number;
  /** T·H·W·3 bytes. */
  rgb_THWC: Uint8Array;
  /** T·H·W values in the dataset's depth encoding; null when the dataset has depth "none". */
  depth_THW: Uint16Array | Uint8Array | null;
  /** T action ids; 255 = unknown. */
  actions_T: Uint8Array;
  /** T JSON-serialisable records (or null: stored as T empty objects). */
  states: readonly unknown[] | null;
}

/** Quantise depth in [0, 1] (clamped) into `out` at `offset`: round(d · 65535) or round(d · 255). */
export function quantizeDepthInto(depth: Float32Array, out: Uint16Array | Uint8Array, offset: number, encoding: DepthEncoding): void {
  const scale = depthScale(encoding);
  for (let i = 0; i < depth.length; i++) {
    const d = depth[i];
    out[offset + i] = Math.round((d > 1 ? 1 : d > 0 ? d : 0) * scale); // NaN → 0
  }
}

/** Little-endian bytes of a typed array, without copying (shards are little-endian). */
function leBytes(a: Uint8Array | Uint16Array): Uint8Array {
  if (a.BYTES_PER_ELEMENT > 1 && endianness() !== "LE") throw new Error("shard-writer: big-endian hosts are not supported");
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export class ShardWriter {
  readonly #path: string;
  readonly #size: [number, number];
  readonly #depth: DepthEncoding;
  readonly #sections: Uint8Array[] = [];
  readonly #episodes: ShardEpisodeRef[] = [];
  #bytes = 0;

  constructor(path: string, size: [number, number], depth: DepthEncoding) {
    this.#path = path;
    this.#size = size;
    this.#depth = depth;
  }

  /** Bytes of episode data buffered so far. */
  get bytes(): number {
    return this.#bytes;
  }

  get episodeCount(): number {
    return this.#episodes.length;
  }

  /** Buffer one episode; it reaches the disk on `close()`. The arrays are kept, not copied. */
  add(id: number, ep: EpisodeData): void {
    const [H, W] = this.#size;
    const T = ep.frames;
    const where = `shard-writer: episode ${id}`;
    if (!Number.isInteger(T) || T < 1) throw new Error(`${where}: frames must be a positive integer, got ${T}`);
    if (ep.rgb_THWC.length !== T * H * W * 3) throw new Error(`${where}: rgb has ${ep.rgb_THWC.length} bytes, expected T·H·W·3 = ${T * H * W * 3}`);
    const depthValues = depthBytesPerValue(this.#depth) > 0 ? T * H * W : 0;
    if ((ep.depth_THW?.length ?? 0) !== depthValues) throw new Error(`${where}: depth has ${ep.depth_THW?.length ?? 0} values, expected ${depthValues} (depth "${this.#depth}")`);
    if (ep.depth_THW && ep.depth_THW.BYTES_PER_ELEMENT !== depthBytesPerValue(this.#depth)) throw new Error(`${where}: depth array type does not match "${this.#depth}"`);
    if (ep.actions_T.length !== T) throw new Error(`${where}: ${ep.actions_T.length} actions for ${T} frames`);
    if (ep.states && ep.states.length !== T) throw new Error(`${where}: ${ep.states.length} states for ${T} frames`);
    const statesText = Array.from({ length: T }, (_, t) => JSON.stringify(ep.states ? ep.states[t] : {}) + "\n").join("");
    const parts: Record<SectionName, Uint8Array> = {
      rgb: ep.rgb_THWC,
      depth: ep.depth_THW ? leBytes(ep.depth_THW) : new Uint8Array(0),
      actions: ep.actions_T,
      states: new TextEncoder().encode(statesText),
    };
    const sections = {} as Record<SectionName, SectionRef>;
    for (const name of ["rgb", "depth", "actions", "states"] as const) {
      const bytes = parts[name];
      sections[name] = [this.#bytes, bytes.length, crc32(bytes)];
      this.#sections.push(bytes);
      this.#bytes += bytes.length;
    }
    this.#episodes.push({ id, frames: T, sections });
  }

  /** Write prelude, header and all sections to the shard file. */
  close(): void {
    const header: ShardHeader = { size: this.#size, depth: this.#depth, dataBytes: this.#bytes, episodes: this.#episodes };
    const headerBytes = new TextEncoder().encode(JSON.stringify(header));
    const prelude = new Uint8Array(SHARD_PRELUDE_BYTES);
    const view = new DataView(prelude.buffer);
    for (let i = 0; i < SHARD_MAGIC.length; i++) prelude[i] = SHARD_MAGIC.charCodeAt(i);
    view.setUint32(8, SHARD_VERSION, true);
    view.setUint32(12, headerBytes.length, true);
    view.setUint32(16, crc32(headerBytes), true);
    const fd = openSync(this.#path, "w");
    try {
      for (const part of [prelude, headerBytes, ...this.#sections]) {
        let done = 0;
        while (done < part.length) done += writeSync(fd, part, done, part.length - done);
      }
    } finally {
      closeSync(fd);
    }
    this.#sections.length = 0;
  }
}

export interface DatasetWriterOptions {
  /** The dataset folder to create. */
  out: string;
  /** Replace an existing OUT (otherwise refuse). */
  force?: boolean;
  /** [H, W] of every frame. */
  size: [number, number];
  depth: DepthEncoding;
  /** Start a new shard once the current one holds this many bytes (default 32 MiB). */
  shardBytes?: number;
}

export interface DatasetFinish {
  env: string;
  seed: number;
  actions: string[] | null;
  created_by: string;
  /** Fraction of episodes for validation (default 0.1; at least 1 episode when there are ≥ 2). */
  valFraction?: number;
}

/** Is process `pid` alive? (signal 0 checks without sending anything.) */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove `OUT.tmp-<pid>` folders left by processes that died mid-write. */
function removeStaleTemps(out: string): void {
  const parent = dirname(out);
  if (!existsSync(parent)) return;
  const prefix = basename(out) + ".tmp-";
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

export class DatasetWriter {
  readonly out: string;
  readonly tmp: string;
  readonly #opts: DatasetWriterOptions;
  readonly #entries: Omit<EpisodeEntry, "split">[] = [];
  #shard: ShardWriter | null = null;
  #shardIndex = 0;
  #finished = false;

  constructor(opts: DatasetWriterOptions) {
    this.#opts = opts;
    this.out = resolve(opts.out);
    if (existsSync(this.out) && !opts.force) {
      throw new Error(`${opts.out} already exists; pass --force to replace it`);
    }
    removeStaleTemps(this.out);
    this.tmp = `${this.out}.tmp-${process.pid}`;
    rmSync(this.tmp, { recursive: true, force: true });
    mkdirSync(this.tmp, { recursive: true });
  }

  /** Append one episode (ids are assigned 0, 1, 2, … in order). */
  addEpisode(data: EpisodeData, meta: { seed: number; source?: string }): void {
    if (this.#finished) throw new Error("shard-writer: dataset already finished");
    const limit = this.#opts.shardBytes ?? 32 * 1024 * 1024;
    const episodeBytes = data.rgb_THWC.length + (data.depth_THW?.byteLength ?? 0) + data.frames;
    if (this.#shard && this.#shard.bytes > 0 && this.#shard.bytes + episodeBytes > limit) this.#closeShard();
    if (!this.#shard) {
      this.#shard = new ShardWriter(join(this.tmp, shardName(this.#shardIndex)), this.#opts.size, this.#opts.depth);
    }
    const id = this.#entries.length;
    this.#shard.add(id, data);
    this.#entries.push({ id, seed: meta.seed, frames: data.frames, shard: shardName(this.#shardIndex), ...(meta.source !== undefined ? { source: meta.source } : {}) });
  }

  #closeShard(): void {
    this.#shard?.close();
    this.#shard = null;
    this.#shardIndex++;
  }

  /** Close the last shard, write manifest.json and move the folder into place. */
  finish(meta: DatasetFinish): Manifest {
    if (this.#entries.length === 0) throw new Error(`shard-writer: no episodes to write to ${this.#opts.out}`);
    if (this.#shard) this.#closeShard();
    const val = valEpisodeIndices(this.#entries.length, meta.seed, meta.valFraction);
    const episodes: EpisodeEntry[] = this.#entries.map((e, i) => ({ ...e, split: val.has(i) ? "val" : "train" }));
    const manifest: Manifest = {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      env: meta.env,
      seed: meta.seed,
      size: this.#opts.size,
      channels: 3,
      depth: this.#opts.depth,
      actions: meta.actions,
      episodes,
      counts: countEpisodes(episodes, this.#shardIndex),
      created_by: meta.created_by,
    };
    writeFileSync(join(this.tmp, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
    if (existsSync(this.out)) {
      // --force: move the old dataset aside first, so a crash between the renames loses nothing.
      const old = `${this.out}.old-${process.pid}`;
      renameSync(this.out, old);
      renameSync(this.tmp, this.out);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(this.tmp, this.out);
    }
    this.#finished = true;
    return manifest;
  }

  /** Drop everything written so far (on error). */
  abort(): void {
    this.#shard = null;
    if (!this.#finished) rmSync(this.tmp, { recursive: true, force: true });
  }
}
