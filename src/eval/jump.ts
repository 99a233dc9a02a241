/**
 * Key-driven jumps (platformer): when a person presses the world's jump key, does the player
 * leave the ground, and does it come down again? The other rollout metrics drive the world with
 * the codes the LAM infers from the data's own continuation; this one drives it with the keys of
 * actions.json, as the player does, so it catches a world whose jump key does nothing or whose
 * player hangs in the air after a jump (codes that carry the vertical phase of a motion).
 *
 * From held-out moments where the player stands on the ground, the session plays the jump key for
 * `press` steps, then "no key" (actions.json's noop) for the rest of `steps`, and again with the
 * right arrow held after the jump (a running jump: `*_right`); the player's feet
 * are located in every generated frame (gravity.ts `locate`; the camera keeps the player's column,
 * so the start's column window stays valid).
 *
 * - rise: the fraction of rollouts in which the feet come at least one tile above the start
 *   within `press + RISE_WITHIN` steps.
 * - fall: of the rollouts that rose, the fraction in which the feet later come at least one tile
 *   below their highest point (the player falls back) within the steps.
 *
 * In the game both are 1: a launch from the ground rises 3.6 tiles in 13 steps and is back on the
 * ground 27 steps after the press (scratch measurement of platformer.ts's physics).
 */
import type { WorldState } from "../worlds/types.js";
import { locate, playerTarget } from "./gravity.js";
import type { Target } from "./gravity.js";
import { VIEW_H } from "../worlds/platformer-level.js";
import type { Roller, StartClip } from "./world-eval.js";

/** Steps after the press within which the feet must have risen a tile. */
export const RISE_WITHIN = 10;

export interface JumpOptions {
  /** Steps the jump key is held. */
  press: number;
  /** Steps in all (press included). */
  steps: number;
}

export const JUMP_DEFAULTS: Readonly<JumpOptions> = Object.freeze({ press: 4, steps: 32 });

/** The feet heights (pixels, top = 0; null = player not found) of one key-driven rollout. */
export interface JumpTrack {
  start: number | null;
  feet: (number | null)[];
}

export interface JumpResult {
  /** Fraction of scored rollouts that rose a tile (null: none scored). */
  rise: number | null;
  /** Fraction of the risen rollouts that came a tile down from their peak (null: none rose). */
  fall: number | null;
  rollouts: number;
  /** Rollouts left out: the player was not found in the start frame. */
  unseen: number;
  rose: number;
  fell: number;
  /** Mean highest rise over the risen rollouts, in tiles. */
  mean_peak_tiles: number | null;
  press: number;
  steps: number;
}

/** The key sequence of one rollout: `jump` for `press` steps, then `after`. */
export function jumpKeys<K>(jump: K, after: K, o: JumpOptions = JUMP_DEFAULTS): K[] {
  if (o.press < 1 || o.steps <= o.press) throw new Error(`jump.ts: need 1 ≤ press < steps, got press ${o.press}, steps ${o.steps}`);
  return Array.from({ length: o.steps }, (_, i) => (i < o.press ? jump : after));
}

/** Track the player's feet over a rollout's frames (H·W·3 bytes each) with the start's target. */
export function trackFeet(target: Target, start: Uint8Array, frames: Uint8Array[], H: number, W: number): JumpTrack {
  const y = (rgb: Uint8Array) => locate(rgb, H, W, target)?.y ?? null;
  return { start: y(start), feet: frames.map(y) };
}

/** Score tracks (y grows downwards; a tile is H / VIEW_H pixels). */
export function scoreJumps(tracks: JumpTrack[], H: number, o: JumpOptions = JUMP_DEFAULTS): JumpResult {
  const tile = H / VIEW_H;
  let rollouts = 0;
  let unseen = 0;
  let rose = 0;
  let fell = 0;
  let peakSum = 0;
  for (const t of tracks) {
    if (t.start === null) {
      unseen++;
      continue;
    }
    rollouts++;
    const within = t.feet.slice(0, o.press + RISE_WITHIN);
    const riseAt = within.findIndex((y) => y !== null && t.start! - y >= tile);
    if (riseAt < 0) continue;
    rose++;
    // The highest point from the rise on, and whether the feet later come a tile below it.
    let peak = Infinity;
    let down = false;
    for (let i = riseAt; i < t.feet.length; i++) {
      const y = t.feet[i];
      if (y === null) continue;
      if (y < peak) peak = y;
      else if (y - peak >= tile) {
        down = true;
        break;
      }
    }
    peakSum += (t.start - peak) / tile;
    if (down) fell++;
  }
  return {
    rise: rollouts ? rose / rollouts : null,
    fall: rose ? fell / rose : null,
    rollouts,
    unseen,
    rose,
    fell,
    mean_peak_tiles: rose ? peakSum / rose : null,
    press: o.press,
    steps: o.steps,
  };
}

/** The codes the test plays, from a world's key names (actions.json); null without a jump or a noop. */
export function jumpCodes(actionMap: Record<string, number> | null): { jump: number; noop: number; right: number | null } | null {
  const code = (names: string[]) => (actionMap ? names.map((k) => actionMap[k]).find((c) => c !== undefined) : undefined);
  const [jump, noop, right] = [code(["Space", "jump"]), code(["noop", ""]), code(["ArrowRight", "right"])];
  return jump === undefined || noop === undefined ? null : { jump, noop, right: right ?? null };
}

/** Roll the jump key then `after` from every clip (each a start on the ground, with its state) and score the tracks. */
export async function jumpRollouts(clips: StartClip[], roll: Roller, jump: number, after: number, H: number, W: number): Promise<JumpResult> {
  const keys = jumpKeys(jump, after);
  const tracks: JumpTrack[] = [];
  for (const clip of clips) {
    const { first, frames } = await roll(clip, keys);
    tracks.push(trackFeet(jumpTarget(clip.state!, H, W), first.rgb, frames.map((f) => f.rgb), H, W));
  }
  return scoreJumps(tracks, H);
}

/** Whether a platformer state is a jump start: the player on the ground. */
export function isJumpStart(state: WorldState): boolean {
  const p = (state as { player?: { onGround?: boolean } }).player;
  return !!p?.onGround;
}

/** The player target of a jump start, searching the jump pose's colours too (the sprite swaps them while the key is held). */
export function jumpTarget(state: WorldState, H: number, W: number): Target {
  return playerTarget({ ...state, action: 3 } as WorldState, H, W);
}
