/**
 * `worldkit imagine "a prompt" --world PATH --out frame.png`: one first frame from text, made by
 * the world's prompt model and decoded by its tokenizer.
 */
import { writeFileSync } from "node:fs";
import { initDevice } from "../core/device.js";
import { encodePng } from "../data/png.js";
import { Imaginer } from "../world/imagine.js";
import { disposePrompt, loadPrompt } from "../world/prompt-io.js";
import { disposeTokenizer, loadTokenizer } from "../world/tokenizer-io.js";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError } from "./args.js";
import type { Command } from "./command.js";

const USAGE = `worldkit imagine "a prompt" --world PATH --out frame.png [--seed 0] [--guidance G]
                [--steps N] [--temperature T] [--scale 1] [--prompt RUN] [--json]

Writes the frame the world's prompt model (PATH/prompt.safetensors, or --prompt RUN: a prompt
training run) imagines for the text, decoded by PATH's tokenizer. --guidance: classifier-free
guidance scale (1 = none; default the model's); --scale: enlarge the PNG by an integer factor.
Unknown words are ignored (read as <unk>). Captions look like "a night level with three coins
on the right, no enemies, one platform and a gap ahead".`;

/** RGB bytes (H·W·3) of decoded values (H·W·C in [0, 1]), enlarged `scale` times (nearest). */
export function toRgb(px: Float32Array, H: number, W: number, C: number, scale = 1): Uint8Array {
  const out = new Uint8Array(H * scale * W * scale * 3);
  for (let y = 0; y < H * scale; y++) {
    for (let x = 0; x < W * scale; x++) {
      const src = (Math.floor(y / scale) * W + Math.floor(x / scale)) * C;
      for (let k = 0; k < 3; k++) out[(y * W * scale + x) * 3 + k] = Math.round(Math.min(1, Math.max(0, px[src + k])) * 255);
    }
  }
  return out;
}

export const imagine: Command = {
  name: "imagine",
  summary: "make a world's first frame from a text prompt (PNG)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json"]);
    checkFlags(args, ["world", "out", "seed", "guidance", "steps", "temperature", "scale", "prompt", "json"], "imagine");
    const text = args.positionals.join(" ");
    if (!text.trim()) throw new UsageError(`worldkit imagine: give the prompt text\n\n${USAGE}`);
    const world = requireFlag(args, "world", "imagine");
    const out = requireFlag(args, "out", "imagine");
    const num = (name: string): number | undefined => {
      const v = args.flags[name];
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
      return n;
    };
    const scale = intFlag(args, "scale", 1);
    if (scale < 1) throw new UsageError(`--scale must be ≥ 1, got ${scale}`);
    await initDevice();
    const tokenizer = await loadTokenizer(world);
    const prompt = await loadPrompt(args.flags.prompt ?? world);
    const imaginer = new Imaginer(prompt, tokenizer);
    try {
      const t0 = performance.now();
      const seed = intFlag(args, "seed", 0);
      const r = await imaginer.imagine([text], { seed, guidance: num("guidance"), steps: num("steps"), temperature: num("temperature") });
      const ms = performance.now() - t0;
      const { height: H, width: W, channels: C } = tokenizer.config;
      writeFileSync(out, encodePng(toRgb(r.pixels, H, W, C, scale), W * scale, H * scale));
      const summary = { out, prompt: text, seed, guidance: num("guidance") ?? prompt.config.guidance, ms: Math.round(ms) };
      if (args.flags.json) console.log(JSON.stringify(summary));
      else console.log(`wrote ${out} (${W * scale}×${H * scale}) in ${(ms / 1000).toFixed(1)} s`);
    } finally {
      imaginer.dispose();
      disposePrompt(prompt);
      disposeTokenizer(tokenizer);
    }
    return 0;
  },
};
