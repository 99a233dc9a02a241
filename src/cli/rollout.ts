/**
 * `worldkit rollout`: drive a world with a list of actions and write what it dreams as a GIF,
 * RGB | depth side by side, scaled up nearest-neighbour.
 *
 *   worldkit rollout --world models/default --actions right*8,jump,right*4 --from data/val --out out.gif
 */
import { writeFile } from "node:fs/promises";
import { initDevice } from "../core/device.js";
import { depthScale } from "../data/format.js";
import { openDataset, writeClip } from "../data/loader.js";
import { encodeGif } from "../data/gif.js";
import { tileImage } from "../data/tiles.js";
import type { Tile } from "../data/tiles.js";
import { disposeWorld, loadWorld } from "../world/dynamics-io.js";
import { WorldSession } from "../world/session.js";
import type { StepResult } from "../world/session.js";
import { checkFlags, intFlag, parseArgs, requireFlag, UsageError } from "./args.js";
import { BACKEND_FLAGS, BACKEND_SWITCHES, BACKEND_USAGE, backendFlags, SAMPLING_FLAGS, SAMPLING_USAGE, samplingFlags } from "./backend-flags.js";
import type { Command } from "./command.js";
import { Progress } from "../core/progress.js";

const USAGE = `worldkit rollout --world PATH --actions A,B,... --out out.gif [options]

  --world PATH       world folder (models/default) or dynamics run folder
  --actions LIST     comma-separated action names (from actions.json) or codes; NAME*K repeats
  --from DATA        take the context frames from DATA's first val episode (else a grey frame)
  --episode ID       ... from this episode id instead
  --context N        context frames (default 2)
  --prompt TEXT      start from the first frame the world's prompt model dreams from TEXT
                     (prompt.safetensors; instead of --from)
  --seed N           sampling seed (default 0)
${SAMPLING_USAGE}
  --tokenizer RUN    tokenizer to use with a run folder that does not name one
  --scale K          pixel scale of the GIF (default 4)
  --fps F            frames per second (default 10)
  --json             print the per-step timings as JSON
${BACKEND_USAGE}`;

/** "right*3,jump" → ["right", "right", "right", "jump"]. */
export function parseActionList(list: string): string[] {
  const out: string[] = [];
  for (const item of list.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(.+)\*(\d+)$/.exec(item);
    if (m) for (let i = 0; i < Number(m[2]); i++) out.push(m[1]);
    else out.push(item);
  }
  if (!out.length) throw new UsageError("worldkit rollout: --actions is empty");
  return out;
}

/** One GIF frame: RGB and depth tiles of a session frame. */
function frameTiles(r: StepResult, H: number, W: number): Tile[] {
  const data = new Float32Array(H * W * 4);
  for (let i = 0; i < H * W; i++) {
    for (let k = 0; k < 3; k++) data[i * 4 + k] = r.rgb[i * 3 + k] / 255;
    data[i * 4 + 3] = r.depth ? r.depth[i] : 0;
  }
  const tile = (show: "rgb" | "depth"): Tile => ({ data, height: H, width: W, channels: 4, show });
  return r.depth ? [tile("rgb"), tile("depth")] : [tile("rgb")];
}

export const rollout: Command = {
  name: "rollout",
  summary: "drive a world with a list of actions and save the dream as a GIF (RGB | depth)",
  usage: USAGE,
  async run(argv) {
    const args = parseArgs(argv, ["json", ...BACKEND_SWITCHES]);
    checkFlags(args, ["world", "actions", "from", "episode", "context", "prompt", "seed", "tokenizer", "scale", "fps", "out", "json", ...BACKEND_FLAGS, ...SAMPLING_FLAGS], "rollout");
    const backend = backendFlags(args, "rollout");
    const worldPath = requireFlag(args, "world", "rollout");
    const actions = parseActionList(requireFlag(args, "actions", "rollout"));
    const out = requireFlag(args, "out", "rollout");
    const sampling = samplingFlags(args, "rollout");
    const prompt = args.flags.prompt;
    if (prompt !== undefined && args.flags.from) throw new UsageError("rollout: --prompt and --from both choose the start; give one");
    await initDevice();
    const world = await loadWorld(worldPath, { tokenizer: args.flags.tokenizer });
    const tc = world.tokenizer.config;
    const H = tc.height;
    const W = tc.width;
    const session = new WorldSession(world, {
      ...backend,
      ...sampling,
      seed: intFlag(args, "seed", 0),
    });
    for (const a of actions) session.actionCode(a); // fail before any work on an unknown name

    let count = intFlag(args, "context", 2);
    let frames: Float32Array;
    if (args.flags.from) {
      const ds = openDataset(args.flags.from);
      const id = args.flags.episode !== undefined ? intFlag(args, "episode", 0) : (ds.manifest.episodes.find((e) => e.split === "val") ?? ds.manifest.episodes[0]).id;
      const ep = ds.readEpisode(id);
      count = Math.min(count, ep.frames);
      frames = new Float32Array(count * H * W * tc.channels);
      writeClip(ep, 0, count, tc.channels, 1 / depthScale(ds.manifest.depth), frames, 0);
    } else {
      count = 1;
      frames = new Float32Array(H * W * tc.channels).fill(0.5);
    }
    const gifFrames: Uint8Array[] = [];
    let size = { width: 0, height: 0 };
    const scale = intFlag(args, "scale", 4);
    const add = (r: StepResult) => {
      const img = tileImage([frameTiles(r, H, W)], scale);
      size = { width: img.width, height: img.height };
      gifFrames.push(img.rgb_HWC);
    };
    add(await session.start(prompt !== undefined ? { prompt, seed: intFlag(args, "seed", 0) } : { frames, count }));
    const json = !!args.flags.json;
    const bar = new Progress({ total: actions.length, label: "rollout", unit: "frame", quiet: json });
    const ms: number[] = [];
    for (const a of actions) {
      const r = await session.step(a);
      ms.push(r.ms);
      add(r);
      bar.tick(1);
    }
    bar.done();
    const fps = intFlag(args, "fps", 10);
    await writeFile(out, encodeGif(gifFrames, size.width, size.height, { delayCs: Math.max(2, Math.round(100 / fps)) }));
    session.dispose();
    disposeWorld(world);
    const sorted = [...ms].sort((x, y) => x - y);
    const summary = { out, backend: backend.backend, int8: backend.int8, frames: gifFrames.length, step_ms_median: sorted[Math.floor(sorted.length / 2)], step_ms: ms.map((m) => Math.round(m * 100) / 100) };
    if (json) console.log(JSON.stringify(summary));
    else console.log(`wrote ${out}: ${gifFrames.length} frames (context + ${actions.length} steps), median step ${summary.step_ms_median.toFixed(1)} ms`);
    return 0;
  },
};
