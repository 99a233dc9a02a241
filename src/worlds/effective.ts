/**
 * The effective action of a recorded transition: the key that was held, reduced to what it did.
 *
 * A latent action model learns actions from their effect on the frames, so a key held without
 * effect is, to it, no action: a jump key held in the air (the platformer launches only from the
 * ground), a move into a wall, a paddle pushed against the arena's edge. Those merges are
 * expected (the LAM issue says so) and this is how `eval lam` measures them: besides the purity
 * against the keys, the purity against the effective actions, where each such key counts as the
 * action it amounted to (right+jump in the air → right; left into a wall → noop). Both are
 * reported; the keys' purity stays the headline number.
 *
 * Computed from the world's own state records before and after the step (the dataset's
 * states.jsonl), so it is exact, never a guess from pixels. Returns the same ids as the world's
 * action list.
 */
import type { WorldState } from "./types.js";

/** Horizontal direction and jump flag of each platformer action id (platformer.ts's order). */
const PLATFORMER_DIR = [0, -1, 1, 0, -1, 1];
const PLATFORMER_JUMP = [false, false, false, true, true, true];

/** Smallest movement that counts as moving (tiles or blocks); the worlds move ≥ 0.05 per step. */
const MOVED = 1e-6;

interface PlatformerPlayer {
  x: number;
  onGround: boolean;
}

function platformer(action: number, before: WorldState, after: WorldState): number {
  const p0 = before.player as PlatformerPlayer;
  const p1 = after.player as PlatformerPlayer;
  const dx = p1.x - p0.x;
  const wantDir = PLATFORMER_DIR[action];
  const dir = wantDir !== 0 && Math.sign(dx) === wantDir && Math.abs(dx) > MOVED ? wantDir : 0;
  const jump = PLATFORMER_JUMP[action] && p0.onGround;
  if (jump) return dir < 0 ? 4 : dir > 0 ? 5 : 3;
  return dir < 0 ? 1 : dir > 0 ? 2 : 0;
}

interface MazePose {
  x: number;
  y: number;
  heading: number;
}

function maze3d(action: number, before: WorldState, after: WorldState): number {
  const a = before.pose as MazePose;
  const b = after.pose as MazePose;
  if (action === 1 || action === 2) return Math.hypot(b.x - a.x, b.y - a.y) > MOVED ? action : 0;
  if (action === 3 || action === 4) return b.heading !== a.heading ? action : 0;
  return action;
}

function bounce(action: number, before: WorldState, after: WorldState): number {
  if (action === 1 || action === 2) return Math.abs((after.paddleX as number) - (before.paddleX as number)) > MOVED ? action : 0;
  return action; // push: its effect depends on balls in reach; kept as pressed
}

const RULES: Record<string, (action: number, before: WorldState, after: WorldState) => number> = { platformer, maze3d, bounce };

/** Whether `world` has an effective-action rule. */
export function hasEffectiveActions(world: string): boolean {
  return world in RULES;
}

/** The effective action of `action` taken at the state `before`, which led to `after`. */
export function effectiveAction(action: number, before: WorldState, after: WorldState): number {
  const rule = RULES[before.world as string];
  if (!rule) throw new Error(`effectiveAction: no rule for world "${String(before.world)}" (have ${Object.keys(RULES).join(", ")})`);
  return rule(action, before, after);
}
