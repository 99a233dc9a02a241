import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { initDevice, makeKey, tree } from "../src/core/index.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { parseCaptions } from "../src/data/format.js";
import { main } from "../src/cli/main.js";
import { PROMPT_DEFAULTS, buildVocab, initPrompt } from "../src/models/prompt.js";
import type { PromptConfig } from "../src/models/prompt.js";
import { detectPlatformer } from "../src/eval/prompt-detect.js";
import { captionFacts } from "../src/worlds/captions.js";
import { getWorld } from "../src/worlds/index.js";
import { disposeWorld, loadWorld } from "../src/world/dynamics-io.js";
import { PROMPT_FILE, saveWorldPrompt } from "../src/world/prompt-io.js";
import { WorldSession } from "../src/world/session.js";
import { writeTestWorld } from "./player/test-world.js";
import { captureLog } from "./helpers/capture-log.js";

const dir = mkdtempSync(join(tmpdir(), "wk-prompt-cli-"));
const world = join(dir, "world");
const data = join(dir, "data");
const CFG: PromptConfig = { ...PROMPT_DEFAULTS, tokensPerFrame: 16, codes: 32, maxWords: 24, dim: 32, heads: 2, textLayers: 1, layers: 1, mlpRatio: 2, sampleSteps: 2 };

beforeAll(async () => {
  await initDevice();
  mkdirSync(world);
  await writeTestWorld(world);
  await generateDataset({ world: getWorld("platformer"), episodes: 2, frames: 20, size: [16, 16], seed: 5, out: data });
  const captions = parseCaptions(readFileSync(join(data, "captions.jsonl"), "utf8"), "captions.jsonl").map((c) => c.caption);
  const config = { ...CFG, vocab: buildVocab(captions) };
  const params = initPrompt(makeKey(5), config);
  await saveWorldPrompt(world, { config, params, source: "test", step: 0 });
  tree.dispose(params as unknown as ParamTree);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("detector", () => {
  it("reads theme and counts back from true 64×64 frames", async () => {
    const out = join(dir, "plat64");
    await generateDataset({ world: getWorld("platformer"), episodes: 6, frames: 100, size: [64, 64], seed: 9001, out });
    const ds = openDataset(out);
    const lines = parseCaptions(readFileSync(join(out, "captions.jsonl"), "utf8"), "captions.jsonl");
    let theme = 0;
    let counts = 0;
    for (const c of lines) {
      const ep = ds.readEpisode(c.episode);
      const d = detectPlatformer(ep.rgb_THWC.subarray(c.frame * 64 * 64 * 3, (c.frame + 1) * 64 * 64 * 3), 64, 64);
      const f = captionFacts(c.caption);
      theme += d.theme === f.theme ? 1 : 0;
      counts += (d.coins === f.coins ? 0.5 : 0) + (d.enemies === f.enemies ? 0.5 : 0);
    }
    expect(lines.length).toBe(60);
    expect(theme / lines.length).toBe(1);
    expect(counts / lines.length).toBeGreaterThanOrEqual(0.95);
  });
});

describe("imagine, eval prompt, start({ prompt })", () => {
  it("imagine writes a PNG of the world's frame size", async () => {
    const png = join(dir, "frame.png");
    const log = await captureLog(() => main(["imagine", "a night level with two coins", "--world", world, "--out", png, "--seed", "3", "--json"]));
    const r = JSON.parse(log.trim().split("\n").pop()!);
    expect(r.out).toBe(png);
    const bytes = readFileSync(png);
    expect(Array.from(bytes.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]); // "PNG"
    expect(bytes.readUInt32BE(16)).toBe(16); // width
  }, 60_000);

  it("eval prompt reports the accuracies as JSON", async () => {
    const log = await captureLog(() => main(["eval", "prompt", "--world", world, "--data", data, "--prompts", "3", "--seeds", "2", "--guidance", "2,1", "--batch", "2", "--json"]));
    const r = JSON.parse(log.trim().split("\n").pop()!);
    expect(r.prompts).toBe(3);
    for (const k of ["theme_accuracy", "count_accuracy", "diversity", "truth_theme_accuracy"]) expect(r[k]).toBeGreaterThanOrEqual(0);
    expect(r.by_guidance.map((g: { guidance: number }) => g.guidance)).toEqual([2, 1]);
  }, 60_000);

  it("rollout --prompt starts the GIF from the dreamed frame; --prompt with --from is refused", async () => {
    const gif = join(dir, "prompt.gif");
    const log = await captureLog(() => main(["rollout", "--world", world, "--prompt", "a night level with two coins", "--actions", "right*3", "--out", gif, "--json", "--backend", "jax"]));
    const r = JSON.parse(log.trim().split("\n").pop()!);
    expect(r.frames).toBe(4); // the dreamed start + 3 steps
    expect(readFileSync(gif).subarray(0, 6).toString()).toBe("GIF89a");
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["rollout", "--world", world, "--prompt", "a day level", "--from", data, "--actions", "right", "--out", gif])).not.toBe(0);
    expect(err.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/--prompt and --from/);
    err.mockRestore();
  }, 60_000);

  it("a session starts from a prompt and steps on", async () => {
    expect(existsSync(join(world, PROMPT_FILE))).toBe(true);
    const w = await loadWorld(world);
    expect(w.prompt?.config.vocab.length).toBeGreaterThan(3);
    const s = new WorldSession(w, { backend: "jax", seed: 1 });
    disposeWorld(w);
    const first = await s.start({ prompt: "a day level with one coin and unheard-of words" });
    expect(first.rgb.length).toBe(16 * 16 * 3);
    const again = await s.start({ prompt: "a day level with one coin and unheard-of words" });
    expect(Array.from(again.tokens)).toEqual(Array.from(first.tokens));
    for (let i = 0; i < 3; i++) expect((await s.step("right")).tokens.length).toBe(16);
    s.dispose();
  }, 60_000);
});
