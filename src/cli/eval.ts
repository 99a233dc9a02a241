/**
 * `worldkit eval <what>`: numbers about a trained model on data it has not seen.
 *
 *   worldkit eval tokenizer --model RUN_OR_WORLD --data DIR [--json]
 */
import { initDevice } from "../core/device.js";
import { tree } from "../core/jax.js";
import type { ParamTree } from "../core/tree-names.js";
import { openDataset } from "../data/loader.js";
import { evalTokenizer } from "../eval/tokenizer-eval.js";
import { loadTokenizer } from "../world/tokenizer-io.js";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError } from "./args.js";
import type { Command } from "./command.js";
import { Progress } from "./progress.js";

const USAGE = `worldkit eval <what> [options]

  tokenizer --model RUN_OR_WORLD --data DIR [--frames 4] [--clips 256] [--batch 8] [--json]
      reconstruction on DIR: psnr, ssim, depth_mae (fraction of the depth range),
      codebook_usage (fraction of codes used on that data), tokens_per_frame,
      encode_ms and decode_ms per frame. RUN_OR_WORLD is a run folder (latest checkpoint),
      a world folder (models/default) or a checkpoint file.`;

export const evalCommand: Command = {
  name: "eval",
  summary: "measure a trained model on held-out data (tokenizer)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json"]);
    const what = args.positionals[0];
    if (what !== "tokenizer") throw new UsageError(`worldkit eval: say what to evaluate (tokenizer)\n\n${USAGE}`);
    checkFlags(args, ["model", "data", "frames", "clips", "batch", "json"], "eval tokenizer");
    const json = !!args.flags.json;
    await initDevice();
    const t = await loadTokenizer(requireFlag(args, "model", "eval tokenizer"));
    const ds = openDataset(requireFlag(args, "data", "eval tokenizer"));
    const clips = intFlag(args, "clips", 256);
    const bar = new Progress({ total: clips, label: "eval tokenizer", unit: "clip", quiet: json });
    let last = 0;
    const result = await evalTokenizer(t, ds, {
      frames: intFlag(args, "frames", 4),
      batch: intFlag(args, "batch", 8),
      maxClips: clips,
      onProgress: (done) => {
        bar.tick(done - last);
        last = done;
      },
    });
    bar.done();
    tree.dispose(t.params as unknown as ParamTree);
    t.codebook_KD.dispose();
    if (json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(
        `tokenizer ${result.source} (step ${result.step}) on ${ds.dir}: ${result.frames} frames\n` +
          `  psnr ${result.psnr.toFixed(2)} dB   ssim ${result.ssim.toFixed(4)}   depth_mae ${result.depth_mae === null ? "n/a" : (100 * result.depth_mae).toFixed(2) + "%"}\n` +
          `  codebook_usage ${(100 * result.codebook_usage).toFixed(1)}% of ${result.codes}   tokens_per_frame ${result.tokens_per_frame}\n` +
          `  encode ${result.encode_ms.toFixed(2)} ms/frame   decode ${result.decode_ms.toFixed(2)} ms/frame`,
      );
    }
    return 0;
  },
};
