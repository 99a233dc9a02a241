/**
 * The browser player's prompt model: world-files.ts reads prompt.safetensors the way prompt-io.ts
 * reads it from disk (same config, same frames from the same text and seed), refuses the files
 * prompt-io refuses with the file named, and prompt-words.ts checks typed prompts and offers
 * examples the model can read word for word.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, tree } from "../../src/core/index.js";
import { encodeSafetensors } from "../../src/core/safetensors.js";
import type { ParamTree } from "../../src/core/tree-names.js";
import { initPrompt, normalizeWords } from "../../src/models/prompt.js";
import { loadWorldFiles } from "../../src/player/world-files.js";
import type { WorldReader } from "../../src/player/world-files.js";
import { checkPrompt, examplePrompts, unknownPromptWords } from "../../src/player/prompt-words.js";
import { disposeWorld, loadWorld } from "../../src/world/dynamics-io.js";
import { loadPrompt, PROMPT_FILE, saveWorldPrompt } from "../../src/world/prompt-io.js";
import { WorldSession } from "../../src/world/session.js";
import { TEST_CAPTIONS, TEST_PROMPT, writeTestWorld } from "./test-world.js";

const root = mkdtempSync(join(tmpdir(), "wk-world-prompt-"));
const withPrompt = join(root, "with");
const without = join(root, "without");

const reader =
  (dir: string): WorldReader =>
  async (name) => {
    try {
      return new Uint8Array(readFileSync(join(dir, name)));
    } catch {
      return null;
    }
  };

/** A copy of the prompt-less world with `bytes` as its prompt.safetensors. */
function worldWithPromptFile(name: string, bytes: Uint8Array): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const f of ["tokenizer.safetensors", "dynamics.safetensors", "actions.json"]) copyFileSync(join(without, f), join(dir, f));
  writeFileSync(join(dir, PROMPT_FILE), bytes);
  return dir;
}

beforeAll(async () => {
  await initDevice();
  mkdirSync(withPrompt);
  mkdirSync(without);
  await writeTestWorld(withPrompt, { prompt: true });
  await writeTestWorld(without);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("prompt.safetensors in the browser player's loader", () => {
  it("loads it as prompt-io does, and a session started from text makes the same frame as the disk world's", async () => {
    const bundle = await loadWorldFiles(reader(withPrompt), withPrompt);
    const disk = await loadWorld(withPrompt);
    const p = bundle.world.prompt!;
    expect(p.source).toBe(`${withPrompt}/${PROMPT_FILE}`);
    expect(p.config).toEqual(disk.prompt!.config);
    expect(p.config.vocab).toEqual(TEST_PROMPT.vocab);
    expect(p.step).toBe(0);
    const run = async (w: typeof disk) => {
      const s = new WorldSession(w, { seed: 3, backend: "jax" });
      const first = await s.start({ prompt: TEST_CAPTIONS[0], seed: 11 });
      const out = [...first.tokens, ...(await s.step("right")).tokens];
      s.dispose();
      return out;
    };
    const fromPage = await run(bundle.world);
    expect(fromPage).toHaveLength(32);
    expect(fromPage).toEqual(await run(disk));
    disposeWorld(bundle.world);
    disposeWorld(disk);
  });

  it("is optional: a world without it loads with prompt null", async () => {
    const bundle = await loadWorldFiles(reader(without), without);
    expect(bundle.world.prompt).toBeNull();
    disposeWorld(bundle.world);
  });

  it("refuses what prompt-io refuses, naming the file: not a checkpoint, no vocabulary; and a model that does not fit the tokenizer", async () => {
    const params = initPrompt(makeKey(4), TEST_PROMPT);
    const save = async (name: string, config: unknown) => {
      const dir = join(root, `${name}-src`);
      mkdirSync(dir);
      await saveWorldPrompt(dir, { config: config as typeof TEST_PROMPT, params, source: "test", step: 0 });
      return worldWithPromptFile(name, new Uint8Array(readFileSync(join(dir, PROMPT_FILE))));
    };
    const foreign = worldWithPromptFile("foreign", encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array(2) } }, { format: "pt" }));
    await expect(loadWorldFiles(reader(foreign), foreign)).rejects.toThrow(`${foreign}/${PROMPT_FILE}: not a worldkit checkpoint (metadata format is "pt")`);

    const noVocab = await save("novocab", { ...TEST_PROMPT, vocab: ["<pad>", "<null>", "<unk>"] });
    const file = join(noVocab, PROMPT_FILE);
    await expect(loadWorldFiles(reader(noVocab), noVocab)).rejects.toThrow(`prompt: ${file} has no vocabulary (config "vocab")`);
    await expect(loadPrompt(file)).rejects.toThrow(`prompt: ${file} has no vocabulary (config "vocab")`);

    const noConfig = await save("noconfig", null);
    await expect(loadWorldFiles(reader(noConfig), noConfig)).rejects.toThrow(`prompt: ${noConfig}/${PROMPT_FILE} is not a prompt-model checkpoint`);

    const badKey = await save("badkey", { ...TEST_PROMPT, layerz: 2 });
    await expect(loadWorldFiles(reader(badKey), badKey)).rejects.toThrow(`config ${badKey}/${PROMPT_FILE}: unknown key "layerz"`);

    const misfit = await save("misfit", { ...TEST_PROMPT, tokensPerFrame: 64 });
    await expect(loadWorldFiles(reader(misfit), misfit)).rejects.toThrow(`${misfit}/${PROMPT_FILE}: makes 64 tokens of 32 codes; the world's tokenizer has 16 of 32`);
    tree.dispose(params as unknown as ParamTree);
  });
});

describe("prompt words", () => {
  const vocab = TEST_PROMPT.vocab;

  it("finds unknown words after the model's normalisation (case, punctuation, digits)", () => {
    expect(unknownPromptWords(vocab, "A Night level, with 3 coins!")).toEqual([]);
    expect(unknownPromptWords(vocab, "a dragon level with dragon and tree coins")).toEqual(["dragon", "tree"]);
    expect(() => checkPrompt(vocab, "a NIGHT level with 3 coins")).not.toThrow();
  });

  it("names the unknown word, suggests a near one and lists the known words", () => {
    const known = vocab.slice(3).sort().join(", ");
    expect(() => checkPrompt(vocab, "a dragon level with tree coins")).toThrow(
      `unknown words "dragon", "tree" in the prompt (did you mean "tree" → "three"?). The prompt model knows ${vocab.length - 3} words: ${known}`,
    );
    expect(() => checkPrompt(vocab, "  ?! ")).toThrow(/^the prompt is empty; describe a first frame, e.g. "a day level with /);
  });

  it("offers examples in the captions' grammar, every word known, for the model's own world", () => {
    expect(examplePrompts(vocab, 3)).toEqual([
      "a day level with one coin on the right, one enemy in the middle and two platforms",
      "a night level with two coins in the middle, two enemies on the left and two platforms",
    ]);
    const maze = ["<pad>", "<null>", "<unk>", ...new Set(normalizeWords("a maze with a long corridor ahead and the red door green door in the distance"))];
    expect(examplePrompts(maze, 4)).toEqual(["a maze with a long corridor ahead and the red door in the distance"]);
    // The bundled default world's model: examples from several of its themes, all readable.
    const bytes = readFileSync("models/default/prompt.safetensors");
    const head = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString()) as { __metadata__: { config: string } };
    const defaultVocab = (JSON.parse(head.__metadata__.config) as { vocab: string[] }).vocab;
    const examples = examplePrompts(defaultVocab, 4);
    expect(examples).toHaveLength(4);
    expect(new Set(examples.map((e) => e.split(" ")[1])).size).toBe(4);
    for (const e of examples) expect(unknownPromptWords(defaultVocab, e)).toEqual([]);
  });
});
