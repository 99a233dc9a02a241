import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, hostRng } from "../../src/core/index.js";
import { data } from "../../src/cli/data.js";
import { generateDataset } from "../../src/data/generate.js";
import { encodeGif } from "../../src/data/gif.js";
import { openDataset } from "../../src/data/loader.js";
import { depthColour, previewGif, previewGrid, previewPng } from "../../src/data/preview.js";
import { fakeWorld } from "./fake-world.js";
import { decodeGif } from "./gif-decode.js";
import { captureLog } from "../helpers/capture-log.js";

let root: string;
beforeAll(async () => {
  await initDevice();
  root = mkdtempSync(join(tmpdir(), "wk-preview-"));
  await generateDataset({ world: fakeWorld, episodes: 3, frames: 15, size: [16, 16], seed: 2, out: join(root, "ds") });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("gif encoder", () => {
  it("round-trips frames with few colours exactly, with the right blocks", () => {
    const colours = [[0, 0, 0], [255, 0, 0], [12, 200, 99], [255, 255, 255], [7, 7, 200]];
    const frames = [0, 1, 2].map((f) => {
      const rgb = new Uint8Array(20 * 10 * 3);
      for (let p = 0; p < 200; p++) rgb.set(colours[(p * (f + 1) + (p >> 3)) % colours.length], p * 3);
      return rgb;
    });
    const bytes = encodeGif(frames, 20, 10, { delayCs: 7 });
    expect(String.fromCharCode(...bytes.subarray(0, 6))).toBe("GIF89a");
    expect(bytes[bytes.length - 1]).toBe(0x3b);
    const gif = decodeGif(bytes);
    expect([gif.width, gif.height, gif.loop, gif.palette.length]).toEqual([20, 10, 0, 8 * 3]);
    expect(gif.delaysCs).toEqual([7, 7, 7]);
    expect(gif.frames).toEqual(frames);
  });

  it("quantises many colours to 256 and survives LZW table resets", () => {
    const rand = hostRng(1);
    const frame = Uint8Array.from({ length: 96 * 80 * 3 }, () => Math.floor(rand() * 256));
    const gif = decodeGif(encodeGif([frame, frame.slice().reverse()], 96, 80));
    expect(gif.frames.length).toBe(2);
    expect(gif.palette.length).toBe(256 * 3);
    let err = 0;
    for (let i = 0; i < frame.length; i++) err += Math.abs(gif.frames[0][i] - frame[i]);
    expect(err / frame.length).toBeLessThan(20); // uniform noise: ~6 levels per channel → mean error ≈ 16
  });
});

describe("previews", () => {
  it("draws a grid of RGB | depth tiles scaled nearest-neighbour", () => {
    const ds = openDataset(join(root, "ds"));
    const g = previewGrid(ds, { episodes: 2, frames: 3, scale: 2 });
    // 3 cells of (32 + 1 + 32) px with 4 px gaps; 2 rows of 32 px.
    expect([g.width, g.height]).toEqual([3 * 65 + 4 * 4, 2 * 32 + 3 * 4]);
    const ep = ds.readEpisode(ds.manifest.episodes[1].id);
    const px = (x: number, y: number) => Array.from(g.rgb_HWC.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3));
    // Row 1, last column shows the episode's last frame; pixel (5, 3) of it at 2× scale.
    const t = 14;
    const x0 = 4 + 2 * (65 + 4);
    const y0 = 4 + 32 + 4;
    const src = (t * 256 + 3 * 16 + 5) * 3;
    expect(px(x0 + 10, y0 + 6)).toEqual(Array.from(ep.rgb_THWC.subarray(src, src + 3)));
    expect(px(x0 + 11, y0 + 7)).toEqual(px(x0 + 10, y0 + 6));
    expect(px(x0 + 33 + 10, y0 + 6)).toEqual(depthColour(ep.depth_THW![t * 256 + 3 * 16 + 5] / 65535));
    const png = previewPng(ds, { episodes: 2, frames: 3, scale: 2 });
    expect(Array.from(png.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]);
    expect(new DataView(png.buffer, png.byteOffset).getUint32(16)).toBe(g.width);
  });

  it("animates an episode as a GIF with one frame per dataset frame", () => {
    const gif = decodeGif(previewGif(openDataset(join(root, "ds")), { scale: 3 }));
    expect([gif.width, gif.height, gif.frames.length]).toEqual([16 * 3 * 2 + 1, 48, 15]);
  });

  it("`data preview --gif` and `data info --json` work from the command line", async () => {
    const out = join(root, "p.png");
    const log = await captureLog(() => data.run(["preview", join(root, "ds"), "--out", out, "--gif", "--frames", "2"]));
    expect(log).toContain(`wrote ${join(root, "p.gif")}`);
    expect(decodeGif(readFileSync(join(root, "p.gif"))).frames.length).toBe(15);
    const info = JSON.parse(await captureLog(() => data.run(["info", join(root, "ds"), "--json"])));
    expect(info).toMatchObject({ env: "fake", size: [16, 16], depth: "uint16", episodes: 3, frames: 45, shards: 1, train: { episodes: 2 }, val: { episodes: 1 } });
    const hist = info.action_histogram as Record<string, number>;
    expect(Object.values(hist).reduce((a, b) => a + b, 0)).toBe(45);
    expect(Object.keys(hist).every((k) => ["noop", "left", "right"].includes(k))).toBe(true);
    const text = await captureLog(() => data.run(["info", join(root, "ds")]));
    expect(text).toMatch(/fake dataset .* 3 \(15–15 frames each\), 45 frames/s);
  });
});
