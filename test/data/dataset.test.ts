import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { data } from "../../src/cli/data.js";
import { SHARD_PRELUDE_BYTES, valEpisodeIndices } from "../../src/data/format.js";
import { generateDataset } from "../../src/data/generate.js";
import { clipLoader, openDataset } from "../../src/data/loader.js";
import { ShardReader } from "../../src/data/shard-reader.js";
import { fakeWorld } from "./fake-world.js";

let root: string;
const gen = (out: string, seed: number, extra: { episodes?: number; force?: boolean; shardBytes?: number } = {}) =>
  generateDataset({ world: fakeWorld, episodes: extra.episodes ?? 6, frames: 12, size: [16, 20], seed, out, force: extra.force, shardBytes: extra.shardBytes ?? 40_000 });

/** sha256 of every file in a folder, by name. */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = createHash("sha256").update(readFileSync(join(dir, name))).digest("hex");
  return out;
}

beforeAll(async () => {
  await initDevice();
  root = mkdtempSync(join(tmpdir(), "wk-dataset-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("dataset format", () => {
  it("same seed gives a byte-identical dataset, a different seed a different one", async () => {
    await gen(join(root, "a"), 5);
    await gen(join(root, "b"), 5);
    await gen(join(root, "c"), 6);
    const a = hashes(join(root, "a"));
    expect(Object.keys(a)).toEqual(["manifest.json", "shard-00000.bin", "shard-00001.bin", "shard-00002.bin"]);
    expect(hashes(join(root, "b"))).toEqual(a);
    const c = hashes(join(root, "c"));
    for (const name of Object.keys(a)) expect(c[name]).not.toBe(a[name]);
  });

  it("stores what the world rendered: RGB, depth as round(d·65535), actions, states", async () => {
    const ds = openDataset(join(root, "a"));
    const m = ds.manifest;
    expect(m).toMatchObject({ format: "worldkit-dataset", version: 1, env: "fake", seed: 5, size: [16, 20], channels: 3, depth: "uint16", actions: ["noop", "left", "right"] });
    expect(m.counts).toEqual({ episodes: 6, frames: 72, shards: 3, train: { episodes: 5, frames: 60 }, val: { episodes: 1, frames: 12 } });
    const entry = m.episodes[3];
    const ep = ds.readEpisode(entry.id, true);
    const frame0 = fakeWorld.create(entry.seed).render(16, 20);
    expect(ep.rgb_THWC.subarray(0, 16 * 20 * 3)).toEqual(frame0.rgb);
    expect(Array.from(ep.depth_THW!.subarray(0, 16 * 20))).toEqual(Array.from(frame0.depth, (d) => Math.round(d * 65535)));
    // Replaying the stored actions reproduces every stored frame and state.
    const w = fakeWorld.create(entry.seed);
    for (let t = 0; t < ep.frames; t++) {
      expect(ep.states![t]).toEqual(w.state());
      expect(ep.rgb_THWC.subarray(t * 960, (t + 1) * 960)).toEqual(w.render(16, 20).rgb);
      expect(ep.actions_T[t]).toBeLessThan(3);
      w.step(ep.actions_T[t]);
    }
  });

  it("splits by episode: 10% val, at least 1 when there are ≥ 2, deterministic from the seed", () => {
    expect(valEpisodeIndices(1, 0).size).toBe(0);
    expect(valEpisodeIndices(2, 0).size).toBe(1);
    expect(valEpisodeIndices(30, 0).size).toBe(3);
    expect([...valEpisodeIndices(30, 4)]).toEqual([...valEpisodeIndices(30, 4)]);
    expect([...valEpisodeIndices(30, 4)]).not.toEqual([...valEpisodeIndices(30, 5)]);
  });

  it("refuses to overwrite an existing dataset unless forced", async () => {
    const out = join(root, "a");
    await expect(gen(out, 9)).rejects.toThrow(/a already exists; pass --force/);
    expect(openDataset(out).manifest.seed).toBe(5);
    await gen(out, 9, { force: true });
    expect(openDataset(out).manifest.seed).toBe(9);
    expect(readdirSync(root).filter((n) => n.includes(".tmp-") || n.includes(".old-"))).toEqual([]);
  });

  it("a corrupt byte in a shard gives an error naming the file and episode", async () => {
    const out = join(root, "corrupt");
    await gen(out, 5);
    const file = join(out, "shard-00001.bin");
    const bytes = readFileSync(file);
    const reader = ShardReader.open(file);
    const ep = reader.header.episodes[0];
    const dataStart = bytes.length - reader.header.dataBytes;
    bytes[dataStart + ep.sections.rgb[0] + 100] ^= 0x40;
    writeFileSync(file, bytes);
    const ds = openDataset(out);
    expect(() => ds.readEpisode(ep.id)).toThrow(new RegExp(`shard-00001\\.bin: corrupt shard: episode ${ep.id} section "rgb"`));
    // The loader surfaces the same error when it reaches that episode.
    const loader = clipLoader(ds, { split: ds.manifest.episodes.find((e) => e.id === ep.id)!.split, batch: 6, frames: 4, seed: 0 });
    await expect(async () => { for (let i = 0; i < 10; i++) await loader.next(); }).rejects.toThrow(/shard-00001\.bin: corrupt shard/);
    // A flipped header byte is caught when the shard is opened.
    bytes[SHARD_PRELUDE_BYTES + 5] ^= 0x01;
    writeFileSync(file, bytes);
    expect(() => ShardReader.open(file)).toThrow(/shard-00001\.bin: corrupt shard header/);
  });

  it("a truncated shard gives an error naming the file", async () => {
    const out = join(root, "trunc");
    await gen(out, 5);
    const file = join(out, "shard-00002.bin");
    truncateSync(file, readFileSync(file).length - 10);
    const ds = openDataset(out);
    const id = ds.manifest.episodes.find((e) => e.shard === "shard-00002.bin")!.id;
    expect(() => ds.readEpisode(id)).toThrow(/shard-00002\.bin: truncated shard/);
    truncateSync(file, 10);
    expect(() => ShardReader.open(file)).toThrow(/shard-00002\.bin: truncated shard/);
  });

  it("an interrupted generate leaves no OUT, and the next run cleans up and completes", async () => {
    const out = join(root, "killed");
    const child = spawn(process.execPath, ["--import", "tsx", "test/data/generate-child.ts", out], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("episode 20")) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("exit", () => reject(new Error(`child exited before it was killed: ${stderr}`)));
    });
    await new Promise((r) => child.on("exit", r));
    expect(existsSync(out)).toBe(false);
    const tmp = `${out}.tmp-${child.pid}`;
    expect(readdirSync(tmp).length).toBeGreaterThanOrEqual(19); // shards so far, no manifest
    expect(existsSync(join(tmp, "manifest.json"))).toBe(false);
    await gen(out, 1);
    expect(existsSync(tmp)).toBe(false);
    const ds = openDataset(out);
    for (const e of ds.manifest.episodes) expect(ds.readEpisode(e.id).frames).toBe(12);
  }, 60_000);

  it("`data generate` runs a real world from the command line, and refuses an unknown one", async () => {
    const out = join(root, "cli");
    const lines: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(" "));
    try {
      expect(await data.run(["generate", "--env", "bounce", "--episodes", "3", "--frames", "5", "--size", "16x24", "--seed", "4", "--out", out, "--json"])).toBe(0);
    } finally {
      console.log = orig;
    }
    expect(JSON.parse(lines[0])).toMatchObject({ env: "bounce", size: [16, 24], episodes: 3, frames: 15, train: { episodes: 2 }, val: { episodes: 1 } });
    expect(openDataset(out).readEpisode(0).rgb_THWC.length).toBe(5 * 16 * 24 * 3);
    await expect(data.run(["generate", "--env", "nowhere", "--out", join(root, "x")])).rejects.toThrow(/unknown world "nowhere"/);
    await expect(data.run(["generate", "--env", "bounce", "--out", out])).rejects.toThrow(/already exists; pass --force/);
  });
});
