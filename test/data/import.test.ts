import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { data } from "../../src/cli/data.js";
import { importVideos } from "../../src/data/import-video.js";
import { clipLoader, openDataset } from "../../src/data/loader.js";
import { encodePng } from "../../src/data/png.js";
import { captureLog } from "../helpers/capture-log.js";

const hasFfmpeg = !spawnSync("ffmpeg", ["-version"], { stdio: "ignore" }).error;
let root: string;
let mp4: string;

beforeAll(async () => {
  await initDevice();
  root = mkdtempSync(join(tmpdir(), "wk-import-"));
  mp4 = join(root, "x.mp4");
  if (hasFfmpeg) {
    execFileSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=128x96:rate=20", "-t", "2", "-pix_fmt", "yuv420p", mp4]);
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("video import", () => {
  it("says how to install ffmpeg when it is missing", async () => {
    const out = join(root, "none");
    await expect(importVideos({ inputs: [mp4], size: [64, 64], fps: 10, out, ffmpeg: "/nonexistent/ffmpeg" }))
      .rejects.toThrow("ffmpeg not found: apt-get install ffmpeg");
    expect(existsSync(out)).toBe(false);
  });

  describe.skipIf(!hasFfmpeg)("with ffmpeg (apt-get install ffmpeg)", () => {
    it("imports an mp4: 2 s at --fps 10 is 20 frames of 64×64, no actions, no depth", async () => {
      const out = join(root, "mp4");
      const summary = JSON.parse(await captureLog(() => data.run(["import", mp4, "--size", "64", "--fps", "10", "--out", out, "--json"])));
      expect(summary).toMatchObject({ env: "video", size: [64, 64], depth: "none", episodes: 1, frames: 20 });
      const ds = openDataset(out);
      expect(ds.manifest.actions).toBeNull();
      expect(ds.manifest.episodes[0]).toMatchObject({ frames: 20, source: mp4, split: "train" });
      const ep = ds.readEpisode(0, true);
      expect(ep.depth_THW).toBeNull();
      expect(ep.actions_T).toEqual(new Uint8Array(20).fill(255));
      expect(ep.states![19]).toEqual({ source: mp4, frame: 19 });
      const batch = await clipLoader(ds, { split: "train", batch: 1, frames: 20, seed: 0 }).next();
      expect(Array.from(batch.actions_BT)).toEqual(new Array(20).fill(-1));
      expect(() => clipLoader(ds, { split: "train", batch: 1, frames: 4, seed: 0, channels: "rgbd" })).toThrow(/depth "none"/);
      // testsrc changes over time: the frames are not all the same.
      expect(ep.rgb_THWC.subarray(0, 12288)).not.toEqual(ep.rgb_THWC.subarray(19 * 12288, 20 * 12288));
    });

    it("--fit letterbox pads the 4:3 video with black bars, crop fills the frame", async () => {
      await importVideos({ inputs: [mp4], size: [64, 64], fps: 10, fit: "letterbox", out: join(root, "lb") });
      const lb = openDataset(join(root, "lb")).readEpisode(0).rgb_THWC;
      const crop = openDataset(join(root, "mp4")).readEpisode(0).rgb_THWC;
      const rowMax = (rgb: Uint8Array, y: number) => Math.max(...rgb.subarray(y * 64 * 3, (y + 1) * 64 * 3));
      // 128×96 → 64×48, padded by 8 rows above and below.
      expect(rowMax(lb, 0)).toBeLessThan(20);
      expect(rowMax(lb, 7)).toBeLessThan(20);
      expect(rowMax(lb, 32)).toBeGreaterThan(100);
      expect(rowMax(crop, 0)).toBeGreaterThan(100);
    });

    it("imports a folder of PNG frames (one image per frame), and several inputs as episodes", async () => {
      const dir = join(root, "frames");
      mkdirSync(dir);
      const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [200, 200, 0], [10, 20, 30], [90, 0, 90], [255, 255, 255]];
      colours.forEach((c, i) => {
        const rgb = new Uint8Array(32 * 48 * 3);
        for (let p = 0; p < 32 * 48; p++) rgb.set(c, p * 3);
        writeFileSync(join(dir, `f${String(i).padStart(3, "0")}.png`), encodePng(rgb, 48, 32, 3));
      });
      const m = await importVideos({ inputs: [dir, mp4], size: [16, 16], fps: 10, out: join(root, "png"), maxEpisodeFrames: 15 });
      // The folder: 7 frames; the video: 20 frames cut into 15 + 5.
      expect(m.episodes.map((e) => [e.frames, e.source])).toEqual([[7, dir], [15, mp4], [5, mp4]]);
      const ep = openDataset(join(root, "png")).readEpisode(0);
      colours.forEach((c, t) => {
        const px = Array.from(ep.rgb_THWC.subarray((t * 256 + 100) * 3, (t * 256 + 100) * 3 + 3));
        px.forEach((v, i) => expect(Math.abs(v - c[i])).toBeLessThanOrEqual(2));
      });
    });

    it("a file that is not a video gives an error naming it and ffmpeg's reason", async () => {
      const bad = join(root, "notes.mp4");
      writeFileSync(bad, "this is not a video\n");
      const out = join(root, "bad");
      await expect(importVideos({ inputs: [mp4, bad], size: [64, 64], fps: 10, out }))
        .rejects.toThrow(new RegExp(`${bad.replace(/[.]/g, "\\.")}: ffmpeg cannot read it as video \\(.*Invalid data`));
      expect(existsSync(out)).toBe(false);
      await expect(importVideos({ inputs: [join(root, "missing.mp4")], size: [64, 64], fps: 10, out })).rejects.toThrow(/missing\.mp4: no such file or folder/);
    });
  });
});
