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
import { decodeStartFrames } from "../src/world/start-frames.js";
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
    const start = decodeStartFrames(readFileSync(join(out, "start.safetensors")), "start", TEST_TOKENIZER);
    expect(start.count).toBe(3);
    const w = await loadWorld(out);
    expect(w.dynamics.config.tokensPerFrame).toBe(16);
    expect(w.actionMap?.ArrowRight).toBe(2);
    disposeWorld(w);
  });
});
