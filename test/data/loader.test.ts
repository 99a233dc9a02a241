import { mkdtempSync, rmSync, writeFileSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { generateDataset } from "../../src/data/generate.js";
import { clipLoader, epochSchedule, iterateEpisodes, openDataset, type ClipBatch, type Dataset } from "../../src/data/loader.js";
import { fakeWorld } from "./fake-world.js";

let root: string;
let ds: Dataset;
const H = 8;
const W = 10;
const EPISODE_BYTES = 30 * H * W * (3 + 2) + 30; // rgb + u16 depth + actions

beforeAll(async () => {
  await initDevice();
  root = mkdtempSync(join(tmpdir(), "wk-loader-"));
  // 20 episodes of 30 frames, ~4 per shard; 2 go to val.
  await generateDataset({ world: fakeWorld, episodes: 20, frames: 30, size: [H, W], seed: 11, out: join(root, "ds"), shardBytes: 4 * EPISODE_BYTES });
  ds = openDataset(join(root, "ds"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function take(loader: { next(): Promise<ClipBatch> }, n: number): Promise<ClipBatch[]> {
  const out: ClipBatch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

describe("clip loader", () => {
  it("yields clips whose values are the stored frames in [0, 1], depth last", async () => {
    const [b] = await take(clipLoader(ds, { split: "train", batch: 3, frames: 5, seed: 1, channels: "rgbd" }), 1);
    expect([b.B, b.T, b.H, b.W, b.C]).toEqual([3, 5, H, W, 4]);
    expect(b.x_BTHWC.length).toBe(3 * 5 * H * W * 4);
    for (let i = 0; i < 3; i++) {
      const ep = ds.readEpisode(b.episodes[i]);
      const start = b.starts[i];
      expect(start + 5).toBeLessThanOrEqual(30);
      for (const [t, p] of [[0, 0], [4, H * W - 1], [2, 37]]) {
        const f = start + t;
        const at = ((i * 5 + t) * H * W + p) * 4;
        expect(b.x_BTHWC[at]).toBe(Math.fround(ep.rgb_THWC[(f * H * W + p) * 3] / 255));
        expect(b.x_BTHWC[at + 2]).toBe(Math.fround(ep.rgb_THWC[(f * H * W + p) * 3 + 2] / 255));
        expect(b.x_BTHWC[at + 3]).toBeCloseTo(ep.depth_THW![f * H * W + p] / 65535, 6);
      }
      expect(Array.from(b.actions_BT.subarray(i * 5, i * 5 + 5))).toEqual(Array.from(ep.actions_T.subarray(start, start + 5)));
    }
    const rgb = (await clipLoader(ds, { split: "train", batch: 2, frames: 4, seed: 1 }).next());
    expect(rgb.C).toBe(3);
    expect(rgb.x_BTHWC.length).toBe(2 * 4 * H * W * 3);
  });

  it("same seed gives the same batches, a different seed different ones", async () => {
    const opts = { split: "train" as const, batch: 4, frames: 6, seed: 3 };
    const a = await take(clipLoader(ds, opts), 8);
    const b = await take(clipLoader(openDataset(join(root, "ds")), opts), 8);
    const c = await take(clipLoader(ds, { ...opts, seed: 4 }), 8);
    expect(b.map((x) => [x.episodes, x.starts])).toEqual(a.map((x) => [x.episodes, x.starts]));
    expect(b[7].x_BTHWC).toEqual(a[7].x_BTHWC);
    expect(c.map((x) => [x.episodes, x.starts])).not.toEqual(a.map((x) => [x.episodes, x.starts]));
  });

  it("keeps splits apart and covers every episode of its split each epoch", async () => {
    const val = new Set(ds.manifest.episodes.filter((e) => e.split === "val").map((e) => e.id));
    const train = new Set(ds.manifest.episodes.filter((e) => e.split === "train").map((e) => e.id));
    expect([val.size, train.size]).toEqual([2, 18]);
    const schedule = epochSchedule(ds.manifest.episodes.filter((e) => e.split === "train"), 6, 3, 0, 4);
    expect(schedule.length).toBe(18 * 5); // floor(30 / 6) clips per episode
    expect(new Set(schedule.map(([id]) => id))).toEqual(train);
    const seen = new Set<number>();
    for (const b of await take(clipLoader(ds, { split: "train", batch: 8, frames: 6, seed: 0 }), 30)) b.episodes.forEach((id) => seen.add(id));
    expect([...seen].filter((id) => val.has(id))).toEqual([]);
    expect(seen).toEqual(train);
    const valSeen = new Set((await take(clipLoader(ds, { split: "val", batch: 4, frames: 6, seed: 0 }), 5)).flatMap((b) => b.episodes));
    expect(valSeen).toEqual(val);
  });

  it("restores a saved position exactly, across epoch boundaries", async () => {
    const opts = { split: "train" as const, batch: 7, frames: 10, seed: 9 };
    const a = clipLoader(ds, opts);
    await take(a, 6); // 42 clips of 54 per epoch
    const saved = JSON.parse(JSON.stringify(a.state()));
    expect(saved).toEqual({ seed: 9, split: "train", frames: 10, epoch: 0, index: 42 });
    const rest = await take(a, 5); // crosses into epoch 1
    expect(a.state().epoch).toBe(1);
    const b = clipLoader(ds, opts);
    b.restore(saved);
    const again = await take(b, 5);
    expect(again.map((x) => [x.episodes, x.starts])).toEqual(rest.map((x) => [x.episodes, x.starts]));
    expect(again[4].x_BTHWC).toEqual(rest[4].x_BTHWC);
    expect(() => b.restore({ ...saved, seed: 10 })).toThrow(/saved state is for seed 10/);
  });

  it("bounds memory: never caches more than cacheBytes of decoded episodes", async () => {
    const cacheBytes = 3 * EPISODE_BYTES;
    const loader = clipLoader(ds, { split: "train", batch: 5, frames: 4, seed: 2, window: 3, cacheBytes });
    let peak = 0;
    const seen = new Set<number>();
    for (let i = 0; i < 60; i++) {
      (await loader.next()).episodes.forEach((id) => seen.add(id));
      peak = Math.max(peak, loader.cachedBytes);
    }
    expect(seen.size).toBe(18); // it went through far more data than it kept
    expect(peak).toBe(3 * EPISODE_BYTES);
    const tiny = clipLoader(ds, { split: "train", batch: 5, frames: 4, seed: 2, cacheBytes: 1 });
    await take(tiny, 3);
    expect(tiny.cachedBytes).toBe(EPISODE_BYTES); // one episode at a time, whatever the bound
  });

  it("iterates whole episodes in order for evaluation", async () => {
    const got: number[] = [];
    for await (const { entry, episode } of iterateEpisodes(ds, { split: "val", states: true })) {
      expect(episode.frames).toBe(30);
      expect(episode.states!.length).toBe(30);
      got.push(entry.id);
    }
    expect(got).toEqual(ds.manifest.episodes.filter((e) => e.split === "val").map((e) => e.id));
  });

  it("rejects bad requests and bad manifests with clear errors", () => {
    expect(() => clipLoader(ds, { split: "train", batch: 2, frames: 31, seed: 0 })).toThrow(/no "train" episode has ≥ 31 frames \(18 episodes, longest 30\)/);
    expect(() => clipLoader(ds, { split: "train", batch: 0, frames: 3, seed: 0 })).toThrow(/batch must be a positive integer/);
    expect(() => openDataset(join(root, "nope"))).toThrow(/nope\/manifest\.json: cannot read the dataset manifest/);
    const dir = join(root, "ds");
    const file = join(dir, "manifest.json");
    const good = readFileSync(file, "utf8");
    try {
      writeFileSync(file, good.replace('"version": 1', '"version": 7'));
      expect(() => openDataset(dir)).toThrow(/manifest\.json: "version" 7 is not supported/);
      writeFileSync(file, good.replace('"depth": "uint16"', '"depth": "float"'));
      expect(() => openDataset(dir)).toThrow(/manifest\.json: "depth" must be/);
      writeFileSync(file, good);
      renameSync(join(dir, "shard-00001.bin"), join(dir, "moved.bin"));
      const id = ds.manifest.episodes.find((e) => e.shard === "shard-00001.bin")!.id;
      expect(() => openDataset(dir).readEpisode(id)).toThrow(/shard-00001\.bin: cannot open shard/);
    } finally {
      writeFileSync(file, good);
      try { renameSync(join(dir, "moved.bin"), join(dir, "shard-00001.bin")); } catch { /* not moved */ }
    }
  });
});
