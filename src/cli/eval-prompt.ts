/**
 * `worldkit eval prompt --world PATH --data DIR`: does the prompt model follow its prompts?
 * (src/eval/prompt-eval.ts). Kept apart from eval.ts, which dispatches here.
 */
import { initDevice } from "../core/device.js";
import { Progress } from "../core/progress.js";
import { openDataset } from "../data/loader.js";
import { evalPrompt } from "../eval/prompt-eval.js";
import { Imaginer } from "../world/imagine.js";
import { disposePrompt, loadPrompt } from "../world/prompt-io.js";
import { disposeTokenizer, loadTokenizer } from "../world/tokenizer-io.js";
import { checkFlags, intFlag, requireFlag, UsageError } from "./args.js";
import type { ParsedArgs } from "./args.js";

export const EVAL_PROMPT_USAGE = `  prompt --world PATH --data DIR [--prompt RUN] [--prompts 64] [--seeds 4] [--guidance 1,2,3]
      [--seed 0] [--json]
      imagine a frame for each of --prompts held-out captions of DIR (its captions.jsonl) and
      read theme and coin/enemy counts back with the platformer detector: theme_accuracy,
      count_accuracy (coin_accuracy, enemy_accuracy), diversity (distinct frames among
      --seeds seeds of one prompt) with seed_theme/count_accuracy, truth_* (the detector on
      DIR's own frames), and by_guidance for each scale of --guidance (the first is the headline).`;

export async function runEvalPrompt(args: ParsedArgs): Promise<number> {
  checkFlags(args, ["world", "data", "prompt", "prompts", "seeds", "guidance", "seed", "batch", "json"], "eval prompt");
  const json = !!args.flags.json;
  const world = requireFlag(args, "world", "eval prompt");
  const ds = openDataset(requireFlag(args, "data", "eval prompt"));
  const guidances = args.flags.guidance?.split(",").map((v) => {
    const g = Number(v);
    if (!Number.isFinite(g)) throw new UsageError(`--guidance must be numbers separated by commas, got "${args.flags.guidance}"`);
    return g;
  });
  await initDevice();
  const tokenizer = await loadTokenizer(world);
  const prompt = await loadPrompt(args.flags.prompt ?? world);
  const imaginer = new Imaginer(prompt, tokenizer);
  try {
    const prompts = intFlag(args, "prompts", 64);
    let bar: Progress | null = null;
    let last = 0;
    const r = await evalPrompt(imaginer, ds, {
      prompts,
      seeds: intFlag(args, "seeds", 4),
      guidances,
      batch: intFlag(args, "batch", 8),
      seed: intFlag(args, "seed", 0),
      onProgress: (done, total) => {
        bar ??= new Progress({ total, label: "eval prompt", unit: "frame", quiet: json });
        bar.tick(done - last);
        last = done;
      },
    });
    (bar as Progress | null)?.done();
    const out = { world, prompt_model: prompt.source, data: ds.dir, ...r };
    if (json) console.log(JSON.stringify(out));
    else {
      const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
      console.log(`prompt model ${prompt.source} on ${ds.dir}: ${r.prompts} held-out captions`);
      for (const g of r.by_guidance) console.log(`  guidance ${g.guidance}: theme ${pct(g.theme_accuracy)}   count ${pct(g.count_accuracy)} (coins ${pct(g.coin_accuracy)}, enemies ${pct(g.enemy_accuracy)})`);
      console.log(`  diversity ${pct(r.diversity)}   seed frames: theme ${pct(r.seed_theme_accuracy)} count ${pct(r.seed_count_accuracy)}`);
      console.log(`  detector on true frames: theme ${pct(r.truth_theme_accuracy)} count ${pct(r.truth_count_accuracy)}`);
    }
  } finally {
    imaginer.dispose();
    disposePrompt(prompt);
    disposeTokenizer(tokenizer);
  }
  return 0;
}
