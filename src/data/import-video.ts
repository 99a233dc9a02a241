/**
 * Import footage as a dataset through the system's ffmpeg: each video (or folder of PNG/JPG
 * frames) is decoded to raw RGB at the target size and frame rate (`-f rawvideo -pix_fmt rgb24`
 * on ffmpeg's stdout) and stored without actions (255 = unknown) and without depth.
 * Long inputs are cut into episodes of at most `maxEpisodeFrames`, so one episode always fits
 * the loader's cache. Written atomically like `generate` (see shard-writer.ts).
 *
 * Dimension keys: T frames · H,W pixels.
 */
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { CAPTIONS_FILE, UNKNOWN_ACTION, type Manifest } from "./format.js";
import { DatasetWriter } from "./shard-writer.js";

export type FitMode = "crop" | "letterbox";

export interface ImportOptions {
  /** Video files and/or folders of PNG/JPG frames (one image per frame, in name order). */
  inputs: string[];
  /** [H, W] of the stored frames. */
  size: [number, number];
  /** Frames per second to sample videos at (and the nominal rate of frame folders). */
  fps: number;
  /** "crop": fill and cut the overflow (default); "letterbox": fit inside and pad black. */
  fit?: FitMode;
  out: string;
  force?: boolean;
  /** Seeds the train/val split (default 0). */
  seed?: number;
  /** Longest episode; longer inputs are cut into several (default 1000 frames). */
  maxEpisodeFrames?: number;
  /** The ffmpeg executable (default "ffmpeg" on PATH). */
  ffmpeg?: string;
  shardBytes?: number;
  createdBy?: string;
  /** Called with the frames added by each stored episode, for a progress bar. */
  onFrames?: (frames: number) => void;
}

const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg"];

/** Fail clearly when ffmpeg is not installed. */
export function checkFfmpeg(ffmpeg = "ffmpeg"): void {
  const r = spawnSync(ffmpeg, ["-version"], { stdio: "ignore" });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new Error(code === "ENOENT" ? "ffmpeg not found: apt-get install ffmpeg" : `cannot run ${ffmpeg}: ${r.error.message}`);
  }
}

/** The ffmpeg filter that samples, scales and crops/pads to H×W. */
export function videoFilter(size: [number, number], fps: number | null, fit: FitMode): string {
  const [H, W] = size;
  const parts = fps === null ? [] : [`fps=${fps}`];
  if (fit === "crop") parts.push(`scale=${W}:${H}:force_original_aspect_ratio=increase`, `crop=${W}:${H}`);
  else parts.push(`scale=${W}:${H}:force_original_aspect_ratio=decrease`, `pad=${W}:${H}:(ow-iw)/2:(oh-ih)/2`);
  return parts.join(",");
}

/** ffmpeg input arguments for a video file or a folder of frames. */
function inputArgs(input: string, fps: number): { args: string[]; isFolder: boolean } {
  let st;
  try {
    st = statSync(input);
  } catch {
    throw new Error(`${input}: no such file or folder`);
  }
  if (!st.isDirectory()) return { args: ["-i", input], isFolder: false };
  const images = readdirSync(input).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase()));
  if (images.length === 0) throw new Error(`${input}: folder has no PNG/JPG frames`);
  const exts = new Set(images.map((n) => extname(n)));
  if (exts.size > 1) throw new Error(`${input}: folder mixes frame types (${[...exts].join(", ")}); use one image format`);
  // glob(3) pattern: escape the folder's own metacharacters so only "*" matches.
  const pattern = join(input.replace(/[\\*?[\]{}]/g, "\\$&"), "*" + [...exts][0]);
  return { args: ["-framerate", String(fps), "-pattern_type", "glob", "-i", pattern], isFolder: true };
}

/**
 * Decode one input to raw RGB frames of H·W·3 bytes, calling `onFrame` for each in order.
 * Rejects with the input's name and ffmpeg's own reason when it cannot be read.
 */
export async function decodeFrames(
  input: string,
  opts: { size: [number, number]; fps: number; fit: FitMode; ffmpeg?: string },
  onFrame: (rgb_HWC: Uint8Array) => void,
): Promise<number> {
  const [H, W] = opts.size;
  const frameBytes = H * W * 3;
  const { args, isFolder } = inputArgs(input, opts.fps);
  const ffArgs = ["-hide_banner", "-loglevel", "error", "-nostdin", ...args, "-an", "-sn",
    "-vf", videoFilter(opts.size, isFolder ? null : opts.fps, opts.fit), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"];
  const proc = spawn(opts.ffmpeg ?? "ffmpeg", ffArgs, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (s: string) => {
    if (stderr.length < 8192) stderr += s;
  });
  const exited = new Promise<number>((resolve, reject) => {
    proc.on("error", (err) => reject(new Error((err as NodeJS.ErrnoException).code === "ENOENT" ? "ffmpeg not found: apt-get install ffmpeg" : `${input}: cannot run ffmpeg: ${err.message}`)));
    proc.on("close", (code) => resolve(code ?? 1));
  });
  exited.catch(() => undefined); // handled where awaited below; this only keeps Node from calling it unhandled
  let frames = 0;
  let pending = new Uint8Array(frameBytes);
  let filled = 0;
  try {
    for await (const chunk of proc.stdout as AsyncIterable<Buffer>) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - at);
        pending.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === frameBytes) {
          onFrame(pending);
          frames++;
          pending = new Uint8Array(frameBytes);
          filled = 0;
        }
      }
    }
  } catch (err) {
    proc.kill();
    await exited.catch(() => undefined);
    throw err;
  }
  const code = await exited;
  const reason = stderr.trim().split("\n").slice(-3).join(" | ");
  if (code !== 0) throw new Error(`${input}: ffmpeg cannot read it as video (${reason || `exit code ${code}`})`);
  if (frames === 0) throw new Error(`${input}: no video frames decoded${reason ? ` (${reason})` : ""}`);
  return frames;
}

/** Import every input into one dataset; resolves to its manifest once OUT is complete. */
export async function importVideos(opts: ImportOptions): Promise<Manifest> {
  const [H, W] = opts.size;
  const fit = opts.fit ?? "crop";
  const maxT = opts.maxEpisodeFrames ?? 1000;
  if (opts.inputs.length === 0) throw new Error("import: no inputs given");
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) throw new Error(`import: size must be positive integers, got ${H}×${W}`);
  if (!(opts.fps > 0)) throw new Error(`import: fps must be positive, got ${opts.fps}`);
  if (fit !== "crop" && fit !== "letterbox") throw new Error(`import: fit must be "crop" or "letterbox", got "${String(fit)}"`);
  checkFfmpeg(opts.ffmpeg);

  const frameBytes = H * W * 3;
  const writer = new DatasetWriter({ out: opts.out, force: opts.force, size: opts.size, depth: "none", shardBytes: opts.shardBytes });
  try {
    for (const [index, input] of opts.inputs.entries()) {
      let frames: Uint8Array[] = [];
      let first = 0;
      const flush = (): void => {
        if (frames.length === 0) return;
        const T = frames.length;
        const rgb_THWC = new Uint8Array(T * frameBytes);
        frames.forEach((f, t) => rgb_THWC.set(f, t * frameBytes));
        const states = frames.map((_, t) => ({ source: input, frame: first + t }));
        writer.addEpisode({ frames: T, rgb_THWC, depth_THW: null, actions_T: new Uint8Array(T).fill(UNKNOWN_ACTION), states }, { seed: index, source: input });
        opts.onFrames?.(T);
        first += T;
        frames = [];
      };
      await decodeFrames(input, { size: opts.size, fps: opts.fps, fit, ffmpeg: opts.ffmpeg }, (rgb) => {
        frames.push(rgb);
        if (frames.length === maxT) flush();
      });
      flush();
    }
    // Captions that came with the footage (captions.jsonl inside a frame folder or beside a
    // video; the first input that has one) travel with it; their episode/frame numbers must
    // already be those of this dataset.
    const captions = opts.inputs
      .map((i) => join(existsSync(i) && statSync(i).isDirectory() ? i : dirname(i), CAPTIONS_FILE))
      .find((f) => existsSync(f));
    if (captions) copyFileSync(captions, join(writer.tmp, CAPTIONS_FILE));
    return writer.finish({ env: "video", seed: opts.seed ?? 0, actions: null, created_by: opts.createdBy ?? "worldkit data import" });
  } catch (err) {
    writer.abort();
    throw err;
  }
}
