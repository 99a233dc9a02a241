/**
 * Reading shards (layout in format.ts). `ShardReader.open` checks the magic, version, header
 * CRC and file length once; each episode read checks the CRC-32 of every section it touches.
 * A corrupt or truncated shard fails with an error naming the file (and the episode).
 *
 * The reader holds only the small header; each read opens the file, reads one episode's byte
 * range and closes it, so any number of shards can be "open" without holding descriptors.
 *
 * Dimension keys: T frames · H,W pixels.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { crc32 } from "./png.js";
import {
  depthBytesPerValue,
  SECTION_NAMES,
  SHARD_MAGIC,
  SHARD_PRELUDE_BYTES,
  SHARD_VERSION,
  type SectionName,
  type ShardEpisodeRef,
  type ShardHeader,
} from "./format.js";

/** One episode as read back. */
export interface DecodedEpisode {
  id: number;
  frames: number;
  height: number;
  width: number;
  /** T·H·W·3 bytes. */
  rgb_THWC: Uint8Array;
  /** T·H·W stored depth values (see the dataset's depth encoding), or null for depth "none". */
  depth_THW: Uint16Array | Uint8Array | null;
  /** T action ids; 255 = unknown. */
  actions_T: Uint8Array;
  /** T state records, when asked for. */
  states: unknown[] | null;
}

function readExactly(fd: number, bytes: Uint8Array, position: number): number {
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

export class ShardReader {
  readonly path: string;
  readonly header: ShardHeader;
  readonly #dataStart: number;
  readonly #byId = new Map<number, ShardEpisodeRef>();

  private constructor(path: string, header: ShardHeader, dataStart: number) {
    this.path = path;
    this.header = header;
    this.#dataStart = dataStart;
    for (const ep of header.episodes) this.#byId.set(ep.id, ep);
  }

  /** Read and check a shard's prelude and header. */
  static open(path: string): ShardReader {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      throw new Error(`${path}: cannot open shard (${(err as Error).message})`);
    }
    try {
      const fileBytes = fstatSync(fd).size;
      const prelude = new Uint8Array(SHARD_PRELUDE_BYTES);
      if (readExactly(fd, prelude, 0) < SHARD_PRELUDE_BYTES) {
        throw new Error(`${path}: truncated shard (${fileBytes} bytes, shorter than the ${SHARD_PRELUDE_BYTES}-byte prelude)`);
      }
      const magic = String.fromCharCode(...prelude.subarray(0, 8));
      if (magic !== SHARD_MAGIC) throw new Error(`${path}: not a worldkit shard (bad magic ${JSON.stringify(magic)})`);
      const view = new DataView(prelude.buffer);
      const version = view.getUint32(8, true);
      if (version !== SHARD_VERSION) throw new Error(`${path}: shard version ${version} is not supported (expected ${SHARD_VERSION})`);
      const headerLength = view.getUint32(12, true);
      const headerBytes = new Uint8Array(headerLength);
      if (readExactly(fd, headerBytes, SHARD_PRELUDE_BYTES) < headerLength) {
        throw new Error(`${path}: truncated shard (${fileBytes} bytes, the header alone needs ${SHARD_PRELUDE_BYTES + headerLength})`);
      }
      if (crc32(headerBytes) !== view.getUint32(16, true)) throw new Error(`${path}: corrupt shard header (CRC-32 mismatch)`);
      const header = JSON.parse(new TextDecoder().decode(headerBytes)) as ShardHeader;
      const dataStart = SHARD_PRELUDE_BYTES + headerLength;
      const expected = dataStart + header.dataBytes;
      if (fileBytes < expected) throw new Error(`${path}: truncated shard (${fileBytes} bytes, expected ${expected})`);
      if (fileBytes > expected) throw new Error(`${path}: shard has ${fileBytes - expected} unexpected trailing bytes (expected ${expected} bytes)`);
      return new ShardReader(path, header, dataStart);
    } finally {
      closeSync(fd);
    }
  }

  episodeIds(): number[] {
    return this.header.episodes.map((e) => e.id);
  }

  #ref(id: number): ShardEpisodeRef {
    const ref = this.#byId.get(id);
    if (!ref) throw new Error(`${this.path}: episode ${id} is not in this shard (it holds ${this.episodeIds().join(", ")})`);
    return ref;
  }

  /** Read the named sections of one episode, each checked against its CRC-32. */
  readSections(id: number, names: readonly SectionName[]): Record<SectionName, Uint8Array | undefined> {
    const ref = this.#ref(id);
    const out: Record<SectionName, Uint8Array | undefined> = { rgb: undefined, depth: undefined, actions: undefined, states: undefined };
    const fd = openSync(this.path, "r");
    try {
      for (const name of names) {
        const [offset, length, crc] = ref.sections[name];
        const bytes = new Uint8Array(length);
        if (readExactly(fd, bytes, this.#dataStart + offset) < length) {
          throw new Error(`${this.path}: truncated shard: episode ${id} section "${name}" is cut short`);
        }
        if (crc32(bytes) !== crc) throw new Error(`${this.path}: corrupt shard: episode ${id} section "${name}" fails its CRC-32 check`);
        out[name] = bytes;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  /** Read one whole episode (states only when `withStates`, since they are rarely needed for training). */
  readEpisode(id: number, withStates = false): DecodedEpisode {
    const ref = this.#ref(id);
    const [H, W] = this.header.size;
    const names = SECTION_NAMES.filter((n) => n !== "states" || withStates);
    const s = this.readSections(id, names);
    const T = ref.frames;
    const where = `${this.path}: episode ${id}`;
    if (s.rgb!.length !== T * H * W * 3) throw new Error(`${where}: rgb has ${s.rgb!.length} bytes, expected ${T * H * W * 3}`);
    if (s.actions!.length !== T) throw new Error(`${where}: ${s.actions!.length} actions for ${T} frames`);
    const bpv = depthBytesPerValue(this.header.depth);
    if (s.depth!.length !== T * H * W * bpv) throw new Error(`${where}: depth has ${s.depth!.length} bytes, expected ${T * H * W * bpv}`);
    let depth_THW: Uint16Array | Uint8Array | null = null;
    if (bpv === 2) {
      if (endianness() !== "LE") throw new Error("shard-reader: big-endian hosts are not supported");
      // `bytes` is a fresh, aligned allocation, so it can be viewed as u16 directly.
      depth_THW = new Uint16Array(s.depth!.buffer, s.depth!.byteOffset, T * H * W);
    } else if (bpv === 1) {
      depth_THW = s.depth!;
    }
    let states: unknown[] | null = null;
    if (withStates) {
      const lines = new TextDecoder().decode(s.states!).split("\n").filter((l) => l.length > 0);
      if (lines.length !== T) throw new Error(`${where}: ${lines.length} state records for ${T} frames`);
      states = lines.map((l) => JSON.parse(l) as unknown);
    }
    return { id, frames: T, height: H, width: W, rgb_THWC: s.rgb!, depth_THW, actions_T: s.actions!, states };
  }
}
