import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../src/core/index.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { getWorld } from "../src/worlds/index.js";
import { disposeWorld, loadWorld } from "../src/world/dynamics-io.js";
import { packWorld, WORLD_FORMAT } from "../src/world/pack.js";
import { decodeStartFrames, fingerprint } from "../src/world/start-frames.js";
import { WorldSession } from "../src/world/session.js";
import type { FramesInput } from "../src/world/session.js";
import { tokenize } from "../src/models/tokenizer.js";
import { keep } from "../src/core/refs.js";
import { np } from "../src/core/jax.js";
import { TEST_TOKENIZER, writeTestWorld } from "./player/test-world.js";

const dir = mkdtempSync(join(tmpdir(), "wk-pack-"));
beforeAll(async () => {
  await initDevice();
  mkdirSync(join(dir, "src-world"));
  await writeTestWorld(join(dir, "src-world"));
  await generateDataset({ world: getWorld("platformer"), episodes: 2, frames: 6, size: [16, 16], seed: 3, out: join(dir, "data") });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("pack", () => {
  it("writes a self-describing world folder that loads with one call", async () => {
    const out = join(dir, "packed");
    const cfg = await packWorld({ dynamics: join(dir, "src-world"), actions: join(dir, "src-world", "actions.json"), startData: openDataset(join(dir, "data")), startFrames: 3, out });
    expect(cfg.format).toBe(WORLD_FORMAT);
    for (const f of ["config.json", "tokenizer.safetensors", "dynamics.safetensors", "actions.json", "start.safetensors"]) expect(existsSync(join(out, f))).toBe(true);
    const onDisk = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
    expect(onDisk.size).toEqual([16, 16]);
    expect(onDisk.tokenizer.codes).toBe(TEST_TOKENIZER.codes);
    const startBytes = readFileSync(join(out, "start.safetensors"));
    const start = decodeStartFrames(startBytes, "start", TEST_TOKENIZER, fingerprint(readFileSync(join(out, "tokenizer.safetensors"))));
    expect(start.count).toBe(3);
    const w = await loadWorld(out);
    expect(w.dynamics.config.tokensPerFrame).toBe(16);
    expect(w.actionMap?.ArrowRight).toBe(2);
    // The stored tokens are the tokenizer's tokens of the stored frames.
    const c = w.tokenizer.config;
    const want = (await tokenize(keep(w.tokenizer.params), w.tokenizer.codebook_KD.ref, np.array(start.frames, { shape: [1, 3, c.height, c.width, c.channels] }), c).data()) as Int32Array;
    expect(Array.from(start.tokens!)).toEqual(Array.from(want));
    // Another tokenizer file (one byte changed): the tokens are not offered.
    const other = readFileSync(join(out, "tokenizer.safetensors"));
    other[other.length - 1] ^= 1;
    expect(decodeStartFrames(startBytes, "start", TEST_TOKENIZER, fingerprint(other)).tokens).toBeUndefined();
    expect(decodeStartFrames(startBytes, "start", TEST_TOKENIZER).tokens).toBeUndefined();
    // A session started from the tokens plays exactly as one that encodes the frames.
    const play = async (input: FramesInput) => {
      const s = new WorldSession(w, { seed: 4 });
      const first = await s.start(input);
      const next = await s.step(1);
      s.dispose();
      return [Array.from(first.tokens), Array.from(next.tokens), Array.from(next.rgb)];
    };
    expect(await play(start)).toEqual(await play({ frames: start.frames, count: start.count }));
    const bad = new WorldSession(w, { seed: 4 });
    await expect(bad.start({ ...start, tokens: start.tokens!.slice(1) })).rejects.toThrow(/47 tokens for 3 frames of 16/);
    bad.dispose();
    disposeWorld(w);
  });
});
