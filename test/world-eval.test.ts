import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { initDevice, makeKey, tree } from "../src/core/index.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { generateDataset } from "../src/data/generate.js";
import { openDataset } from "../src/data/loader.js";
import { stderr } from "../src/data/image-metrics.js";
import { DYNAMICS_DEFAULTS, initDynamics } from "../src/models/dynamics.js";
import { LAM_DEFAULTS, initLam } from "../src/models/lam.js";
import { TOKENIZER_DEFAULTS, initTokenizer } from "../src/models/tokenizer.js";
import { disposeWorld, saveWorldDynamics } from "../src/world/dynamics-io.js";
import type { LoadedWorld } from "../src/world/dynamics-io.js";
import { saveWorldLam } from "../src/world/lam-io.js";
import type { LoadedLam } from "../src/world/lam-io.js";
import { saveWorldTokenizer } from "../src/world/tokenizer-io.js";
import { getWorld } from "../src/worlds/index.js";
import { PLATFORMER } from "../src/worlds/platformer.js";
import type { WorldState } from "../src/worlds/types.js";
import { fallingTargets, gravitySheet, judgeCase, locate, playerTarget, scoreGravity, subpixelShift, verticalShift } from "../src/eval/gravity.js";
import type { GravityCase } from "../src/eval/gravity.js";
import { isJumpStart, jumpKeys, jumpTarget, scoreJumps, trackFeet } from "../src/eval/jump.js";
import type { JumpTrack } from "../src/eval/jump.js";
import { costAt } from "../src/eval/timing.js";
import { TRUE_MAZE_MOVES, centreDepth, isWallStart, loopLeg, mazeMoves, revisitPsnr, truthRoller, wallPenetration } from "../src/eval/maze-eval.js";
import { quantile } from "../src/eval/timing.js";
import { evalWorld } from "../src/eval/world-eval.js";
import type { Roller, StartClip } from "../src/eval/world-eval.js";
import { main } from "../src/cli/main.js";

const S = 16;
const tokCfg = { ...TOKENIZER_DEFAULTS, height: S, width: S, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 32, codeDim: 8 };
const dynCfg = { ...DYNAMICS_DEFAULTS, tokensPerFrame: 16, codes: 32, actions: 4, dim: 32, heads: 2, layers: 2, mlpRatio: 2, timeWindow: 3, sampleSteps: 2 };
const lamCfg = { ...LAM_DEFAULTS, height: S, width: S, channels: 4, patch: 4, dim: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, mlpRatio: 2, codes: 4, codeDim: 8 };
const dir = mkdtempSync(join(tmpdir(), "wk-world-eval-"));
let world: LoadedWorld;
let lam: LoadedLam;

beforeAll(async () => {
  await initDevice();
  const t = initTokenizer(makeKey(1), tokCfg);
  tree.dispose({ ema: t.state.ema, age_K: t.state.age_K } as unknown as ParamTree);
  world = {
    tokenizer: { config: tokCfg, params: t.params, codebook_KD: t.state.codebook_KD, source: "test", step: 0 },
    dynamics: { config: dynCfg, params: initDynamics(makeKey(2), dynCfg), source: "test", step: 0, tokenizerPath: null },
    actionMap: null,
    source: "test",
  };
  const l = initLam(makeKey(3), lamCfg);
  const { codebook_KD, ...rest } = l.state as unknown as Record<string, ParamTree>;
  tree.dispose(rest as unknown as ParamTree);
  lam = { config: lamCfg, params: l.params, codebook_KD: codebook_KD as never, source: "test", step: 0 };
  mkdirSync(join(dir, "world"));
  await saveWorldTokenizer(join(dir, "world"), world.tokenizer);
  await saveWorldDynamics(join(dir, "world"), world.dynamics);
  await saveWorldLam(join(dir, "world"), lam);
  await generateDataset({ world: getWorld("platformer"), episodes: 2, frames: 40, size: [S, S], seed: 4, out: join(dir, "plat") });
  await generateDataset({ world: getWorld("maze3d"), episodes: 2, frames: 30, size: [S, S], seed: 6, out: join(dir, "maze16") });
  await generateDataset({ world: getWorld("maze3d"), episodes: 3, frames: 60, size: [32, 32], seed: 4, out: join(dir, "maze") });
});
afterAll(() => {
  disposeWorld(world);
  tree.dispose(lam.params as unknown as ParamTree);
  lam.codebook_KD.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** 64×64 platformer frames with their states, over seeds and a policy (jumps included). */
function platformerFrames(seeds: number, steps: number): { rgb: Uint8Array; state: WorldState; next: Uint8Array }[] {
  const out: { rgb: Uint8Array; state: WorldState; next: Uint8Array }[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const w = PLATFORMER.create(seed);
    const p = PLATFORMER.policy(seed + 50);
    let rgb = w.render(64, 64).rgb;
    for (let t = 0; t < steps; t++) {
      const state = w.state();
      w.step(p.next(w));
      const next = w.render(64, 64).rgb;
      out.push({ rgb, state, next });
      rgb = next;
    }
  }
  return out;
}

describe("jump key metric", () => {
  it("the game itself driven by the jump key rises and comes down every time; a frozen or hanging player does not", () => {
    const H = 64;
    const keys = jumpKeys("jump", "noop");
    const tracks: JumpTrack[] = [];
    const frozen: JumpTrack[] = [];
    const hanging: JumpTrack[] = [];
    for (let seed = 0; seed < 8; seed++) {
      const w = PLATFORMER.create(seed);
      const p = PLATFORMER.policy(seed + 50);
      // Walk until the player stands on the ground, then play the keys.
      for (let t = 0; t < 40 || !isJumpStart(w.state()); t++) w.step(p.next(w));
      const target = jumpTarget(w.state(), H, H);
      const start = w.render(H, H).rgb;
      const frames = keys.map((k) => {
        w.step(k === "jump" ? 3 : 0);
        return w.render(H, H).rgb;
      });
      tracks.push(trackFeet(target, start, frames, H, H));
      frozen.push(trackFeet(target, start, frames.map(() => start), H, H));
      // Rises with the game, then stays at its highest frame.
      const top = frames.reduce((best, f, i) => ((tracks[seed].feet[i] ?? Infinity) < (tracks[seed].feet[best] ?? Infinity) ? i : best), 0);
      hanging.push(trackFeet(target, start, frames.map((f, i) => (i <= top ? f : frames[top])), H, H));
    }
    const game = scoreJumps(tracks, H);
    expect(game).toMatchObject({ rise: 1, fall: 1, rollouts: 8, unseen: 0, rose: 8, fell: 8, press: 4, steps: 32 });
    // The game's jump is 3.6 tiles high (platformer.ts physics).
    expect(game.mean_peak_tiles!).toBeGreaterThan(3);
    expect(game.mean_peak_tiles!).toBeLessThan(4.2);
    expect(scoreJumps(frozen, H)).toMatchObject({ rise: 0, fall: null, rose: 0 });
    expect(scoreJumps(hanging, H)).toMatchObject({ rise: 1, fall: 0, rose: 8, fell: 0 });
    expect(scoreJumps([{ start: null, feet: [] }], H)).toMatchObject({ rise: null, unseen: 1 });
    expect(() => jumpKeys("Space", "noop", { press: 4, steps: 4 })).toThrow(/press < steps/);
  });
});

describe("gravity detector", () => {
  it("finds the platformer player in true 64×64 frames: feet within 2 px of the state's y (≥ 99% of frames)", () => {
    const frames = platformerFrames(6, 120);
    let found = 0;
    let airborne = 0;
    let off = 0;
    for (const f of frames) {
      const p = (f.state as { player: { y: number; onGround: boolean } }).player;
      const at = locate(f.rgb, 64, 64, playerTarget(f.state, 64, 64));
      if (p.y < 1.3 || p.y > 12) continue; // the top edge is above the view, or the player below it
      expect(at, `player at y=${p.y}`).not.toBeNull();
      // A coin touching the top of the jump pose (same yellow as its body in some themes) can
      // join the sprite's rows: a known, rare miss.
      if (Math.abs(at!.y - (p.y * 64) / 12) > 2) off++;
      found++;
      if (!p.onGround) airborne++;
    }
    expect(found).toBeGreaterThan(600);
    expect(airborne).toBeGreaterThan(50);
    expect(off).toBeLessThanOrEqual(Math.floor(found / 100));
  });

  it("verticalShift follows the true fall in true frames, and a sprite that lost its top rows has not moved", () => {
    const frames = platformerFrames(6, 120);
    let n = 0;
    let close = 0;
    let truncated = 0;
    const cutSoft: number[] = [];
    for (const f of frames) {
      for (const target of fallingTargets("platformer", f.state, 64, 64)) {
        const at = locate(f.rgb, 64, 64, target);
        const dy = verticalShift(f.rgb, f.next, 64, 64, target);
        if (!at || dy === null) continue;
        n++;
        // On true frames the top edge is exact to ±0.5 px (the test above): the shift agrees with it.
        const next = locate(f.next, 64, 64, target);
        if (next && Math.abs(dy - (next.y - at.y)) <= 1) close++;
        // Paint the sprite's top two rows over with the pixel colour above them: the top edge
        // moves down, the shape-matching shift stays 0.
        const cut = f.rgb.slice();
        const [x0, x1] = target.columns!;
        const top = Math.round(at.y - (1.2 / 12) * 64);
        for (let y = top; y < top + 2; y++) for (let x = Math.max(0, x0); x < Math.min(64, x1); x++) for (let c = 0; c < 3; c++) cut[(y * 64 + x) * 3 + c] = f.rgb[((top - 1) * 64 + x) * 3 + c];
        const moved = locate(cut, 64, 64, target);
        if (moved && moved.y - at.y >= 1 && verticalShift(f.rgb, cut, 64, 64, target) === 0) truncated++;
        if (moved && moved.y - at.y >= 1) cutSoft.push(subpixelShift(f.rgb, cut, 64, 64, target) ?? NaN);
      }
    }
    expect(n).toBeGreaterThan(20);
    expect(close / n).toBeGreaterThan(0.95);
    expect(truncated / n).toBeGreaterThan(0.9);
    // subpixelShift (the samples' measure) too: a sprite that lost its top rows reads as not moved.
    expect(cutSoft.length).toBeGreaterThan(20);
    expect(cutSoft.filter((v) => Math.abs(v) <= 0.25).length / cutSoft.length).toBeGreaterThan(0.9);
    expect(verticalShift(frames[0].rgb, new Uint8Array(64 * 64 * 3), 64, 64, playerTarget(frames[0].state, 64, 64))).toBeNull();
  });

  it("subpixelShift: a true visible fall reads lower, a frame against itself exactly 0, the sprite moved by whole pixels that many", () => {
    const frames = platformerFrames(6, 120);
    let [n, lower] = [0, 0];
    const moved: number[][] = [];
    for (const f of frames) {
      for (const target of fallingTargets("platformer", f.state, 64, 64)) {
        const whole = verticalShift(f.rgb, f.next, 64, 64, target);
        if (whole === null || whole < 1) continue;
        n++;
        if (subpixelShift(f.rgb, f.next, 64, 64, target)! > 0.25) lower++;
        expect(subpixelShift(f.rgb, f.rgb, 64, 64, target)).toBe(0);
        // The sprite's columns cut out and pasted d rows lower (the rest of the frame kept).
        const [x0, x1] = target.columns!;
        const at = locate(f.rgb, 64, 64, target)!;
        const top = Math.max(0, Math.round(at.y - (1.2 / 12) * 64) - 1);
        const paste = (d: number) => {
          const out = f.rgb.slice();
          for (let y = top; y < top + 9; y++) for (let x = Math.max(0, x0); x < Math.min(64, x1); x++) for (let c = 0; c < 3; c++) out[((y + d) * 64 + x) * 3 + c] = f.rgb[(y * 64 + x) * 3 + c];
          return out;
        };
        if (top + 9 + 2 < 64 && top >= 2) moved.push([-2, -1, 1, 2].map((d) => subpixelShift(f.rgb, paste(d), 64, 64, target) ?? NaN));
      }
    }
    expect(n).toBeGreaterThan(20);
    expect(lower / n).toBeGreaterThan(0.97);
    expect(moved.length).toBeGreaterThan(10);
    const near = moved.filter((m) => m.every((v, i) => Math.abs(v - [-2, -1, 1, 2][i]) <= 0.5)).length;
    expect(near / moved.length).toBeGreaterThan(0.9);
    expect(subpixelShift(frames[0].rgb, new Uint8Array(64 * 64 * 3), 64, 64, playerTarget(frames[0].state, 64, 64))).toBeNull();
  });

  it("scores the true next frames of falling moments as mostly lower; a copy of the start as never", () => {
    const frames = platformerFrames(6, 120);
    const truth: GravityCase[] = [];
    const frozen: GravityCase[] = [];
    for (const f of frames) {
      for (const target of fallingTargets("platformer", f.state, 64, 64)) {
        truth.push({ target, start: f.rgb, samples: [f.next] });
        frozen.push({ target, start: f.rgb, samples: [f.rgb, f.rgb] });
      }
    }
    expect(truth.length).toBeGreaterThan(20);
    const t = scoreGravity(truth, 64, 64);
    expect(t.cases).toBeGreaterThan(20);
    expect(t.fraction!).toBeGreaterThan(0.8);
    expect(t.higher).toBe(0);
    const z = scoreGravity(frozen.map((c, i) => ({ ...c, at: { episode: 3, frame: i } })), 64, 64);
    expect(z.fraction).toBe(0);
    expect(z.same).toBe(2 * z.cases);
    // Every frozen case fails and is listed with where it came from.
    expect(z.failing.length).toBe(z.cases);
    expect(z.failing[1]).toEqual({ episode: 3, frame: 1, lower: 0, higher: 0, same: 2 });
    // With the data's own frames given, moments without a visible fall are left out, and the
    // true next frames then pass every remaining case (a perfect model scores 1).
    const withTruth = truth.map((c) => ({ ...c, truth: { start: c.start, next: c.samples[0] } }));
    const v = scoreGravity(withTruth, 64, 64);
    expect(v.invisible).toBeGreaterThan(0);
    expect(v.invisible + v.cases + v.missing).toBe(truth.length);
    expect(v.fraction).toBe(1);
    expect(v.failing).toEqual([]);
    expect(v.cases).toBe(truth.length - v.invisible - v.missing);
    // The contact sheet: one row per scored case (at most 24), failing first: 3 + samples tiles
    // of 64×64 at scale 2 with 2 px gaps.
    const mixed = withTruth.slice(0, 30).map((c, i) => (i % 2 ? { ...c, samples: [c.start, c.start] } : c));
    const scored = mixed.filter((c) => judgeCase(c, 64, 64).status === "scored");
    const png = gravitySheet(mixed, 64, 64)!;
    expect(Array.from(png.slice(1, 4))).toEqual([80, 78, 71]); // "PNG"
    const view = new DataView(png.buffer, png.byteOffset);
    const rows = Math.min(24, scored.length);
    const cols = 3 + Math.max(...scored.map((c) => c.samples.length));
    expect(view.getUint32(16)).toBe(cols * 128 + (cols + 1) * 2); // IHDR width
    expect(view.getUint32(20)).toBe(rows * 128 + (rows + 1) * 2); // IHDR height
    expect(gravitySheet(frozen.slice(0, 0), 64, 64)).toBeNull();
  });
});

describe("maze tests", () => {
  async function mazeClips(): Promise<StartClip[]> {
    const ds = openDataset(join(dir, "maze"));
    const clips: StartClip[] = [];
    for (const e of ds.manifest.episodes) {
      const ep = ds.readEpisode(e.id, true);
      for (let m = 4; m < e.frames; m += 5) clips.push({ episode: e.id, seed: e.seed, first: m - 3, count: 4, context: new Float32Array(0), contextActions: [], state: ep.states![m] as WorldState });
    }
    return clips;
  }

  it("the true renderer never penetrates a wall and revisits its own view exactly", async () => {
    const clips = await mazeClips();
    const wallStarts = clips.filter((c) => isWallStart(c.state!));
    expect(wallStarts.length).toBeGreaterThan(2);
    const w = await wallPenetration(clips, truthRoller(32, 32), TRUE_MAZE_MOVES, 32, 32);
    expect(w.starts).toBe(wallStarts.length);
    expect(w.steps).toBe(32 * wallStarts.length);
    expect(w.fraction).toBe(0);
    expect(clips.some((c) => loopLeg(c.seed, c.state!) !== null)).toBe(true);
    expect(await revisitPsnr(clips, truthRoller(32, 32), TRUE_MAZE_MOVES, 32, 32)).toBe(100);
  });

  it("counts a vanished wall as penetration, and a wrong turn as a poor revisit", async () => {
    const clips = await mazeClips();
    const truth = truthRoller(32, 32);
    const vanished: Roller = async (clip, actions) => {
      const r = await truth(clip, actions);
      return { first: r.first, frames: r.frames.map((f) => ({ rgb: f.rgb, depth: new Float32Array(32 * 32).fill(1) })) };
    };
    const w = await wallPenetration(clips, vanished, TRUE_MAZE_MOVES, 32, 32);
    expect(w.fraction!).toBeGreaterThan(0.9);
    // A camera that never moves keeps the wall where it was: behind the truth, not through the wall.
    const stalled: Roller = async (clip, actions) => {
      const r = await truth(clip, actions);
      return { first: r.first, frames: r.frames.map(() => r.first) };
    };
    const s = await wallPenetration(clips, stalled, TRUE_MAZE_MOVES, 32, 32);
    expect(s.fraction).toBe(0);
    expect(s.depthExcess!).toBeGreaterThan(0.3);
    expect(s.finalDepth!).toBeGreaterThan(s.finalDepthTrue! + 0.5);
    // The wall gone for one frame and back: that step counts (at most one per start; none where the true view opened up there too).
    const bounced: Roller = async (clip, actions) => {
      const r = await truth(clip, actions);
      return { first: r.first, frames: r.frames.map((f, i) => (i === 5 ? { rgb: f.rgb, depth: new Float32Array(32 * 32).fill(1) } : f)) };
    };
    const b = await wallPenetration(clips, bounced, TRUE_MAZE_MOVES, 32, 32);
    expect(b.fraction!).toBeLessThanOrEqual(1 / 32);
    expect(b.fraction!).toBeGreaterThan(0.9 / 32);
    const wrong = { ...TRUE_MAZE_MOVES, turnLeft: 0 }; // "noop" instead of turning: ends facing away
    expect((await revisitPsnr(clips, truth, wrong, 32, 32))!).toBeLessThan(30);
    expect(centreDepth(new Float32Array(16).fill(0.5), 4, 4)).toBe(4);
  });

  it("resolves forward/turn codes from actions.json, true actions, or the LAM's majority", () => {
    const names = ["noop", "forward", "back", "turn-left", "turn-right"];
    expect(mazeMoves({ actionMap: { forward: 2, "turn-left": 0 }, trueActions: false, actionNames: names, confusion: null })).toEqual({ forward: 2, turnLeft: 0, source: "actions.json" });
    expect(mazeMoves({ actionMap: null, trueActions: true, actionNames: names, confusion: null })).toEqual({ forward: 1, turnLeft: 3, source: "true-actions" });
    const confusion = [[5, 0, 0], [0, 1, 9], [3, 0, 0], [0, 7, 1], [4, 0, 0]];
    expect(mazeMoves({ actionMap: null, trueActions: false, actionNames: names, confusion })).toEqual({ forward: 2, turnLeft: 1, source: "lam-majority" });
    expect(mazeMoves({ actionMap: null, trueActions: false, actionNames: null, confusion: null })).toBeNull();
  });
});

describe("eval world", () => {
  it("stderr is the sample standard deviation over √n", () => {
    // mean 5, squared deviations 9+1+1+9 = 20, sample variance 20/3, over n = 4.
    expect(stderr([2, 4, 6, 8])).toBeCloseTo(Math.sqrt(20 / 3 / 4), 12);
    expect(stderr([3, 3, 3])).toBe(0);
    expect(stderr([1])).toBeNaN();
  });

  it("quantile is nearest-rank", () => {
    expect(quantile([5, 1, 4, 2, 3], 0.5)).toBe(3);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99)).toBe(99);
  });

  it("on an untrained world with the LAM's actions: shapes and ranges of every platformer metric", async () => {
    const stages: string[] = [];
    const ds = openDataset(join(dir, "plat"));
    const r = await evalWorld(world, ds, { lam, quick: true, timing: { steps: 200, ratioStep: 400 }, onProgress: (s) => stages.push(s) });
    expect(r.actions).toBe("lam");
    // One 32-step rollout fits in each held-out 40-frame episode (val split, else all).
    const val = ds.manifest.episodes.filter((e) => e.split === "val").length;
    expect(r.starts).toBe(val || 2);
    expect(r.episodes).toBe(val || ds.manifest.episodes.length);
    expect(r.psnr_t).toHaveLength(16);
    expect(r.ssim_t).toHaveLength(16);
    for (const v of r.psnr_t) expect(v).toBeGreaterThan(0), expect(v).toBeLessThanOrEqual(100);
    for (const v of r.ssim_t) expect(v).toBeGreaterThanOrEqual(-1), expect(v).toBeLessThanOrEqual(1);
    expect(r.psnr_t4).toBe(r.psnr_t[3]);
    expect(r.delta_psnr_t4).toBeCloseTo(r.psnr_t4 - r.psnr_t4_random, 10);
    if (r.starts >= 2) expect(r.psnr_t4_stderr).toBeGreaterThanOrEqual(0), expect(r.delta_psnr_t4_stderr).toBeGreaterThanOrEqual(0);
    else expect(r.psnr_t4_stderr).toBeNaN(); // one start: no spread to measure
    expect(Object.keys(r.drift)).toEqual(["16", "32", "64"]);
    expect(r.drift["16"]).toBe(r.psnr_t[15]);
    expect(r.drift["32"]).toBeGreaterThan(0); // 40-frame episodes: 1 + 4 + 32 fit
    expect(r.drift["64"]).toBeNull();
    expect(stages.filter((s) => s.startsWith("gravity")).length).toBeGreaterThan(0);
    expect(r.gravity_detail!.cases + r.gravity_detail!.missing + r.gravity_detail!.invisible).toBeGreaterThan(0);
    expect(r.gravity === null || (r.gravity >= 0 && r.gravity <= 1)).toBe(true);
    expect(r.gravity_tokenizer_bound === null || (r.gravity_tokenizer_bound >= 0 && r.gravity_tokenizer_bound <= 1)).toBe(true);
    expect("gravity_tokenizer_bound" in r).toBe(true);
    // Jump key metric: measured when the world's actions.json binds Space and noop, else a note.
    if (r.jump_detail) expect(r.jump_detail.rollouts + r.jump_detail.unseen).toBeGreaterThan(0);
    else expect(r.notes.some((n) => n.startsWith("jump:"))).toBe(true);
    expect(r.jump_rise === null || (r.jump_rise >= 0 && r.jump_rise <= 1)).toBe(true);
    expect(r.revisit_psnr).toBeNull();
    expect(r.wall_penetration).toBeNull();
    expect(r.step_ms_median!).toBeGreaterThan(0);
    expect(r.step_ms_p99!).toBeGreaterThanOrEqual(r.step_ms_median!);
    expect(Number.isFinite(r.step_ms_ratio_10k)).toBe(true);
    expect(r.timing!.steps).toBe(200);
    expect(r.timing!.ratio_step).toBe(400);
    // Default backend ort: the int8 session rolls the same starts; its drop is a finite dB number.
    expect(r.backend).toBe("ort");
    expect(Number.isFinite(r.int8_psnr_drop)).toBe(true);
    expect(Math.abs(r.int8_psnr_drop!)).toBeLessThan(20);
    expect(r.int8_step_ms_median!).toBeGreaterThan(0);
    expect(stages).toContain("int8");
  }, 60_000);

  it("maze3d: revisit and wall penetration of the model, with moves from the LAM's actions.json (the world has none)", async () => {
    // A dynamics run folder has no actions.json; `eval lam` writes one beside the LAM's checkpoints.
    const lamDir = join(dir, "lam-run");
    mkdirSync(lamDir, { recursive: true });
    const labels: Record<number, [string, string | null]> = { 1: ["forward", "ArrowUp"], 3: ["turn-left", "ArrowLeft"] };
    const actions = Array.from({ length: lam.config.codes }, (_, code) => ({ code, label: labels[code]?.[0] ?? "noop", key: labels[code]?.[1] ?? null, share: 0, distinct: true }));
    writeFileSync(join(lamDir, "actions.json"), JSON.stringify({ format: "worldkit-actions", version: 1, codes: lam.config.codes, method: "true-actions", source: { model: "m", data: "d" }, actions }));
    const w = { ...world, actionMap: null };
    const r = await evalWorld(w, openDataset(join(dir, "maze16")), { lam: { ...lam, source: join(lamDir, "ckpt-000001.safetensors") }, quick: true, timing: false, backend: "jax" });
    expect(r.int8_psnr_drop).toBeNull();
    expect(r.notes.some((n) => n.startsWith("int8"))).toBe(true);
    expect(r.maze_moves).toEqual({ forward: 1, turnLeft: 3, source: "actions.json" });
    expect(r.revisit_psnr!).toBeGreaterThan(0);
    expect(r.revisit_psnr!).toBeLessThan(100);
    expect(r.wall_detail!.steps).toBe(32 * r.wall_detail!.starts);
    expect(r.wall_penetration!).toBeGreaterThanOrEqual(0);
    expect(r.wall_penetration!).toBeLessThanOrEqual(1);
    expect(r.gravity).toBeNull();
    expect(r.step_ms_median).toBeNull();
  }, 60_000);

  it("platformer: the jump keys come from the LAM's actions.json when the world has none (a dynamics run folder)", async () => {
    const lamDir = join(dir, "lam-run-plat");
    mkdirSync(lamDir, { recursive: true });
    const labels: Record<number, [string, string]> = { 0: ["noop", ""], 1: ["jump", "Space"] };
    const actions = Array.from({ length: lam.config.codes }, (_, code) => ({ code, label: labels[code]?.[0] ?? "right", key: labels[code]?.[1] ?? null, share: 0, distinct: true }));
    writeFileSync(join(lamDir, "actions.json"), JSON.stringify({ format: "worldkit-actions", version: 1, codes: lam.config.codes, method: "true-actions", source: { model: "m", data: "d" }, actions }));
    const w = { ...world, actionMap: null };
    const ds = openDataset(join(dir, "plat"));
    const r = await evalWorld(w, ds, { lam: { ...lam, source: join(lamDir, "ckpt-000001.safetensors") }, quick: true, timing: false, backend: "jax" });
    expect(r.jump_detail).not.toBeNull();
    expect(r.jump_detail!.rollouts + r.jump_detail!.unseen).toBeGreaterThan(0);
    expect(r.jump_right_detail).toBeNull(); // no code is bound to ArrowRight
    const none = await evalWorld(w, ds, { lam, quick: true, timing: false, backend: "jax" });
    expect(none.jump_detail).toBeNull();
    expect(none.notes.some((n) => n.startsWith("jump:"))).toBe(true);
  }, 120_000);

  it("`worldkit eval lam` on a world folder leaves the world's actions.json (its key binding) alone unless --actions is given", async () => {
    const file = join(dir, "world", "actions.json");
    const mine = JSON.stringify({ format: "worldkit-actions", version: 1, codes: lamCfg.codes, method: "true-actions", source: { model: "m", data: "d" }, actions: [] });
    writeFileSync(file, mine);
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["eval", "lam", "--model", join(dir, "world"), "--data", join(dir, "plat"), "--clips", "8", "--json"])).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(mine);
    const out = join(dir, "calibrated.json");
    expect(await main(["eval", "lam", "--model", join(dir, "world"), "--data", join(dir, "plat"), "--clips", "8", "--json", "--actions", out])).toBe(0);
    log.mockRestore();
    err.mockRestore();
    expect((JSON.parse(readFileSync(out, "utf8")) as { actions: unknown[] }).actions).toHaveLength(lamCfg.codes);
    rmSync(file);
  }, 60_000);

  it("`worldkit eval world --json` prints the numbers; true actions need a matching dataset", async () => {
    const sheet = join(dir, "gravity.png");
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const code = await main(["eval", "world", "--world", join(dir, "world"), "--data", join(dir, "plat"), "--json", "--quick", "--skip-timing", "--starts", "1", "--split", "all", "--gravity-samples", "3", "--gravity-sheet", sheet]);
    const out = log.mock.calls.map((c) => String(c[0])).find((l) => l.startsWith("{"));
    log.mockRestore();
    expect(code).toBe(0);
    const r = JSON.parse(out!);
    expect(r.psnr_t).toHaveLength(16);
    expect(r.starts).toBe(1);
    expect(r.episodes).toBe(openDataset(join(dir, "plat")).manifest.episodes.length); // --split all
    expect(r.step_ms_ratio_10k).toBeNull();
    expect(existsSync(sheet) || r.notes.some((n: string) => n.startsWith("--gravity-sheet"))).toBe(true);
    // Every scored gravity case drew --gravity-samples next frames.
    const g = r.gravity_detail;
    expect(g.lower + g.higher + g.same).toBe(3 * g.cases);
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["eval", "world", "--world", join(dir, "world"), "--data", join(dir, "plat"), "--gravity-samples", "0"])).not.toBe(0);
    expect(err.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/--gravity-samples must be ≥ 1/);
    expect(await main(["eval", "world", "--world", join(dir, "world"), "--data", join(dir, "plat"), "--split", "test"])).not.toBe(0);
    expect(err.mock.calls.map((c) => String(c[0])).join("\n")).toMatch(/--split must be val, all or train/);
    err.mockRestore();
    await expect(evalWorld(world, openDataset(join(dir, "plat")), { lam: null, timing: false })).rejects.toThrow(/6 true actions, not the model's 4; pass --lam/);
  }, 60_000);
});

describe("timing: the cost at a step", () => {
  it("is the median of the 100 steps ending there (the first 100 at step 10): ten slow steps do not move it, a slower stretch does", () => {
    const ms = Array.from({ length: 1000 }, (_, i) => 10 + (i % 3));
    expect(costAt(ms, 10)).toBe(11);
    const blip = [...ms];
    for (let i = 990; i < 1000; i++) blip[i] = 50;
    expect(costAt(blip, 1000)).toBe(costAt(ms, 1000));
    const slower = ms.map((v, i) => (i >= 900 ? v + 5 : v));
    expect(costAt(slower, 1000)).toBe(16);
  });
});
