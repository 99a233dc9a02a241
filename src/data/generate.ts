/**
 * Run a procedural world with its behaviour policy into a dataset folder. Everything follows
 * from the seed: episode i's world and policy seeds are drawn in order from hostRng(seed), so
 * the same arguments give a byte-identical dataset.
 *
 * Per frame t we store the rendered frame, the state, and the action the policy then takes,
 * i.e. actions[t] moves the world from frame t to frame t+1 (the last one leads off the clip).
 *
 * Dimension keys: T frames · H,W pixels.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostRng } from "../core/keys.js";
import { CAPTIONED_WORLDS, captionOf } from "../worlds/captions.js";
import type { WorldFactory, WorldState } from "../worlds/types.js";
import { CAPTIONS_FILE, UNKNOWN_ACTION, type DepthEncoding, type Manifest } from "./format.js";
import { DatasetWriter, quantizeDepthInto } from "./shard-writer.js";

export interface GenerateOptions {
  world: WorldFactory;
  episodes: number;
  /** Frames per episode (T). */
  frames: number;
  /** [H, W] of the rendered frames. */
  size: [number, number];
  seed: number;
  out: string;
  /** Replace an existing OUT. */
  force?: boolean;
  /** How depth is stored (default "uint16": round(depth · 65535)). */
  depth?: DepthEncoding;
  /** Shard size target in bytes (default 32 MiB). */
  shardBytes?: number;
  /** One of the world's named `policies` instead of its default policy. */
  policy?: string;
  /** Recorded in the manifest (default "worldkit data generate"). */
  createdBy?: string;
  /**
   * Caption every `captionEvery`-th frame (0, K, 2K, …) into captions.jsonl (src/worlds/captions.ts;
   * worlds it cannot describe get none); 0 writes no captions. Default 10.
   */
  captionEvery?: number;
  /** Called after each episode with the frames it added, for a progress bar. */
  onFrames?: (frames: number) => void;
}

/** Generate the dataset; resolves to its manifest once OUT is complete on disk. */
export async function generateDataset(opts: GenerateOptions): Promise<Manifest> {
  const { world, episodes: N, frames: T, size, seed } = opts;
  const [H, W] = size;
  const depth = opts.depth ?? "uint16";
  if (!Number.isInteger(N) || N < 1) throw new Error(`generate: episodes must be a positive integer, got ${N}`);
  if (!Number.isInteger(T) || T < 1) throw new Error(`generate: frames must be a positive integer, got ${T}`);
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) throw new Error(`generate: size must be positive integers, got ${H}×${W}`);
  if (!Number.isInteger(seed)) throw new Error(`generate: seed must be an integer, got ${seed}`);
  if (world.info.actions.length > UNKNOWN_ACTION) throw new Error(`generate: ${world.info.name} has ${world.info.actions.length} actions; at most ${UNKNOWN_ACTION} fit in a byte`);

  let makePolicy = world.policy;
  if (opts.policy !== undefined) {
    const named = world.policies?.[opts.policy];
    if (!named) throw new Error(`generate: ${world.info.name} has no policy "${opts.policy}" (${world.policies ? `it has: ${Object.keys(world.policies).join(", ")}` : "it has only its default"})`);
    makePolicy = named;
  }
  const captionEvery = opts.captionEvery ?? 10;
  if (!Number.isInteger(captionEvery) || captionEvery < 0) throw new Error(`generate: captionEvery must be a non-negative integer, got ${captionEvery}`);
  const captionLines: string[] = [];
  const writer = new DatasetWriter({ out: opts.out, force: opts.force, size, depth, shardBytes: opts.shardBytes });
  try {
    const rand = hostRng(seed);
    const HW = H * W;
    for (let e = 0; e < N; e++) {
      const worldSeed = Math.floor(rand() * 2 ** 32);
      const policySeed = Math.floor(rand() * 2 ** 32);
      const w = world.create(worldSeed);
      const policy = makePolicy(policySeed);
      const rgb_THWC = new Uint8Array(T * HW * 3);
      const depth_THW = depth === "uint16" ? new Uint16Array(T * HW) : depth === "uint8" ? new Uint8Array(T * HW) : null;
      const actions_T = new Uint8Array(T);
      const states: WorldState[] = [];
      for (let t = 0; t < T; t++) {
        const frame = w.render(H, W);
        if (frame.rgb.length !== HW * 3 || frame.depth.length !== HW) {
          throw new Error(`generate: ${world.info.name}.render(${H}, ${W}) returned ${frame.rgb.length} RGB bytes and ${frame.depth.length} depth values, expected ${HW * 3} and ${HW}`);
        }
        rgb_THWC.set(frame.rgb, t * HW * 3);
        if (depth_THW) quantizeDepthInto(frame.depth, depth_THW, t * HW, depth);
        states.push(w.state());
        const action = policy.next(w);
        if (!Number.isInteger(action) || action < 0 || action >= world.info.actions.length) {
          throw new Error(`generate: ${world.info.name} policy returned action ${action}, expected 0..${world.info.actions.length - 1}`);
        }
        actions_T[t] = action;
        w.step(action);
      }
      writer.addEpisode({ frames: T, rgb_THWC, depth_THW, actions_T, states }, { seed: worldSeed });
      if (captionEvery > 0 && CAPTIONED_WORLDS.includes(world.info.name)) {
        for (let t = 0; t < T; t += captionEvery) captionLines.push(JSON.stringify({ episode: e, frame: t, caption: captionOf(states[t]) }));
      }
      opts.onFrames?.(T);
      // Let signals and progress output through between episodes.
      await new Promise((r) => setImmediate(r));
    }
    if (captionLines.length) writeFileSync(join(writer.tmp, CAPTIONS_FILE), captionLines.join("\n") + "\n");
    return writer.finish({
      env: world.info.name,
      seed,
      actions: [...world.info.actions],
      created_by: opts.createdBy ?? "worldkit data generate",
    });
  } catch (err) {
    writer.abort();
    throw err;
  }
}
