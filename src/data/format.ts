/**
 * The on-disk dataset format (documented for people in docs/dataset-format.md): a folder with
 * `manifest.json` and shards `shard-00000.bin`, each holding several whole episodes.
 *
 * Shard layout (all integers little-endian):
 *   magic "WKSHARD\0" (8 bytes) · u32 version · u32 header length · u32 CRC-32 of the header
 *   header: UTF-8 JSON `ShardHeader` (episode table with offset, length and CRC-32 per section)
 *   data: the sections, back to back, offsets counted from the end of the header
 * An episode's sections: rgb u8 (T·H·W·3) · depth u16/u8 (T·H·W, absent for "none") ·
 * actions u8 (T, 255 = unknown) · states (JSON lines, one record per frame).
 *
 * Dimension keys: T frames · H,W pixels.
 */

import { hostRng } from "../core/keys.js";

export const DATASET_FORMAT = "worldkit-dataset";
export const DATASET_VERSION = 1;
export const SHARD_MAGIC = "WKSHARD\0";
export const SHARD_VERSION = 1;
/** magic (8) + version (4) + header length (4) + header CRC (4). */
export const SHARD_PRELUDE_BYTES = 20;
/** Stored action id for frames whose action is not known (imported video). */
export const UNKNOWN_ACTION = 255;

/** Optional file beside manifest.json: one `CaptionLine` per captioned frame (JSON lines). */
export const CAPTIONS_FILE = "captions.jsonl";

/** One line of captions.jsonl: the caption of frame `frame` of episode `episode` (its id). */
export interface CaptionLine {
  episode: number;
  frame: number;
  caption: string;
}

/** Parse captions.jsonl text; every error names the file and the line. */
export function parseCaptions(text: string, file: string): CaptionLine[] {
  const out: CaptionLine[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let v: Partial<CaptionLine>;
    try {
      v = JSON.parse(line) as Partial<CaptionLine>;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    if (!Number.isInteger(v.episode) || !Number.isInteger(v.frame) || typeof v.caption !== "string") {
      throw new Error(`${file}:${i + 1}: expected {"episode": int, "frame": int, "caption": string}, got ${line.slice(0, 120)}`);
    }
    out.push({ episode: v.episode!, frame: v.frame!, caption: v.caption });
  });
  return out;
}

export type DepthEncoding = "uint8" | "uint16" | "none";
export type Split = "train" | "val";

export interface EpisodeEntry {
  /** Unique within the dataset; also the key in the shard's episode table. */
  id: number;
  /** The seed the world ran with (generated data), or the source index (imported video). */
  seed: number;
  frames: number;
  /** Shard file name, relative to the dataset folder. */
  shard: string;
  split: Split;
  /** Where the frames came from, for imported video (the input path). */
  source?: string;
}

export interface SplitCounts {
  episodes: number;
  frames: number;
}

export interface DatasetCounts {
  episodes: number;
  frames: number;
  shards: number;
  train: SplitCounts;
  val: SplitCounts;
}

export interface Manifest {
  format: typeof DATASET_FORMAT;
  version: number;
  /** World name ("platformer", …) or "video" for imported footage. */
  env: string;
  seed: number;
  /** [H, W] of every frame. */
  size: [number, number];
  /** Colour channels stored per frame (always 3: RGB; depth is separate). */
  channels: 3;
  depth: DepthEncoding;
  /** Names of the true actions by id, or null when actions are unknown. */
  actions: string[] | null;
  episodes: EpisodeEntry[];
  counts: DatasetCounts;
  /** Tool and command that wrote the dataset; no timestamp, so reruns are byte-identical. */
  created_by: string;
}

/** [offset from the data start, byte length, CRC-32] of one section. */
export type SectionRef = [offset: number, length: number, crc32: number];

export const SECTION_NAMES = ["rgb", "depth", "actions", "states"] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

export interface ShardEpisodeRef {
  id: number;
  frames: number;
  sections: Record<SectionName, SectionRef>;
}

export interface ShardHeader {
  size: [number, number];
  depth: DepthEncoding;
  /** Total bytes after the header; the file is exactly prelude + header + dataBytes long. */
  dataBytes: number;
  episodes: ShardEpisodeRef[];
}

export function shardName(index: number): string {
  return `shard-${String(index).padStart(5, "0")}.bin`;
}

export function depthBytesPerValue(depth: DepthEncoding): number {
  return depth === "uint16" ? 2 : depth === "uint8" ? 1 : 0;
}

/** Largest stored depth value: depth d ∈ [0, 1] is stored as round(d · depthScale). */
export function depthScale(depth: DepthEncoding): number {
  return depth === "uint16" ? 65535 : depth === "uint8" ? 255 : 0;
}

/**
 * Episodes that go to the validation split: 10% of them (at least 1 when there are ≥ 2),
 * picked by a seeded shuffle so the split depends only on the seed and the episode count.
 */
export function valEpisodeIndices(count: number, seed: number, valFraction = 0.1): Set<number> {
  if (count < 2) return new Set();
  const nVal = Math.max(1, Math.round(count * valFraction));
  const order = Array.from({ length: count }, (_, i) => i);
  const rand = hostRng((seed ^ 0x5eed5a1) >>> 0);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return new Set(order.slice(0, nVal));
}

export function countEpisodes(episodes: readonly EpisodeEntry[], shards: number): DatasetCounts {
  const split = (s: Split): SplitCounts => {
    const eps = episodes.filter((e) => e.split === s);
    return { episodes: eps.length, frames: eps.reduce((a, e) => a + e.frames, 0) };
  };
  return {
    episodes: episodes.length,
    frames: episodes.reduce((a, e) => a + e.frames, 0),
    shards,
    train: split("train"),
    val: split("val"),
  };
}

/**
 * Check a parsed manifest.json and return it typed; every error names the file and the key.
 */
export function validateManifest(raw: unknown, file: string): Manifest {
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("not a JSON object");
  const m = raw as Record<string, unknown>;
  if (m.format !== DATASET_FORMAT) fail(`"format" must be "${DATASET_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== DATASET_VERSION) {
    fail(`"version" ${JSON.stringify(m.version)} is not supported (this worldkit reads version ${DATASET_VERSION})`);
  }
  if (typeof m.env !== "string") fail(`"env" must be a string`);
  if (!Number.isInteger(m.seed)) fail(`"seed" must be an integer`);
  const size = m.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v > 0)) {
    fail(`"size" must be [H, W] with positive integers, got ${JSON.stringify(size)}`);
  }
  if (m.channels !== 3) fail(`"channels" must be 3, got ${JSON.stringify(m.channels)}`);
  if (m.depth !== "uint8" && m.depth !== "uint16" && m.depth !== "none") {
    fail(`"depth" must be "uint8", "uint16" or "none", got ${JSON.stringify(m.depth)}`);
  }
  if (m.actions !== null && !(Array.isArray(m.actions) && m.actions.every((a) => typeof a === "string"))) {
    fail(`"actions" must be a list of names or null`);
  }
  if (!Array.isArray(m.episodes) || m.episodes.length === 0) fail(`"episodes" must be a non-empty list`);
  const ids = new Set<number>();
  (m.episodes as unknown[]).forEach((e, i) => {
    const ep = e as Record<string, unknown>;
    const where = `"episodes"[${i}]`;
    if (typeof ep !== "object" || ep === null) fail(`${where} must be an object`);
    if (!Number.isInteger(ep.id)) fail(`${where}.id must be an integer`);
    if (ids.has(ep.id as number)) fail(`${where}.id ${ep.id} is duplicated`);
    ids.add(ep.id as number);
    if (!Number.isInteger(ep.frames) || (ep.frames as number) < 1) fail(`${where}.frames must be a positive integer`);
    if (typeof ep.shard !== "string" || ep.shard.includes("/") || ep.shard.includes("\\")) {
      fail(`${where}.shard must be a file name in the dataset folder`);
    }
    if (ep.split !== "train" && ep.split !== "val") fail(`${where}.split must be "train" or "val"`);
  });
  return m as unknown as Manifest;
}
