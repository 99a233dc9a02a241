/**
 * The gravity test of `eval world`: at held-out moments where an object is unsupported and not
 * moving up (the platformer's player in the air with vy ≥ 0; a bounce ball well above the floor,
 * the paddle and the push zone, with vy ≥ 0), does the model put more probability mass on the
 * object being lower in the next frame than higher?
 *
 * Method: sample the next frame S times (S sessions with different seeds, so S independent draws
 * of the model's distribution), measure how far the object moved down from the model's own
 * decoding of the last context frame (so a bias of the tokenizer cancels) to each sample
 * (`moveDown`), and count samples where it is lower (dy > DEAD_ZONE px) and higher (dy <
 * −DEAD_ZONE). For the platformer player dy is the whole-pixel shift that best overlays the
 * sprite's pixels (`verticalShift`; since session 13 to a fraction of a pixel, `subpixelShift`,
 * as whole pixels read 7 of 104 true falls through the tokenizer as no fall). Until session 8 it was the difference of the sprite's top
 * edges, which a generated sprite missing its one-pixel cap or its upper half moves down by
 * 2–4 px: such samples counted as "lower" (looked at: models/default scored 0.857 that way and
 * 0.778 with the shift, its tokenizer bound 0.882 and 0.898). A case passes when lower > higher; the
 * score is the fraction of cases that pass among those where the object was found at the start
 * and in at least one sample. Rising objects are left out: for them "higher" is the right answer.
 * So are moments whose own next frame in the data shows no fall of ≥ 1 px (`truth`): near the top
 * of a jump a platformer player falls 0.2–0.9 px per frame, which a 64×64 frame mostly does not
 * show, so there "same" is right and no model could pass.
 *
 * Locating is by colour, which the worlds keep distinctive (src/worlds/palette.ts): the player's
 * body colour of the frame's theme (or its detail colour: the jump pose swaps them), searched in the columns where the camera keeps the player
 * (state: player.x − cameraX tiles from the left edge); a ball by its own colour. A ball's y is
 * the centroid of its pixels. The player's is its feet (the state's y): the top edge of the body
 * colour (the sprite's cap is row 0) plus PLAYER_H. Measured on rendered 64×64 frames of 14 seeds
 * (2,098 frames): the top edge is off by −0.47..+0.40 px, the centroid (moved by the sprite's
 * row weights) by −1.9..+0.35 px, as nearest-neighbour sampling squeezes the 11 sprite rows
 * unevenly into 6.4 pixels. The top edge is the first row with ≥ 2 matching pixels, so one stray
 * pixel of a generated frame does not move it, of the largest group of matching rows, so scenery
 * of the same colour elsewhere in the columns does not either; a coin touching the sprite can
 * still join its group (under 1% of true frames).
 *
 * Dimension keys: H,W pixels.
 */
import { ARENA, PADDLE_Y } from "../worlds/bounce.js";
import { BALL_COLORS, PLATFORMER_THEMES } from "../worlds/palette.js";
import { DEATH_Y, PLAYER_H, PLAYER_W, VIEW_H } from "../worlds/platformer-level.js";
import { BOUNCE_GRAVITY } from "../worlds/bounce.js";
import { PLATFORMER_ACTIONS, PLATFORMER_GRAVITY } from "../worlds/platformer.js";
import type { WorldState } from "../worlds/types.js";
import { tilePng } from "../data/tiles.js";
import type { Tile } from "../data/tiles.js";

/** Largest L1 distance (0..765) from the reference colour for a pixel to count as the object's. */
export const COLOUR_TOLERANCE = 80;
/** Largest run of empty rows inside one object (the player sprite's skin rows are ~2 px at 64×64). */
const MAX_ROW_GAP = 3;
/** Fewest matching pixels that count as "found". */
const MIN_PIXELS = 3;
/** |dy| below this (pixels) is neither lower nor higher. */
export const DEAD_ZONE = 0.25;
/** Bounce: push kicks balls below this height (ARENA · 0.55, bounce.ts); cases stay above it. */
const PUSH_Y = ARENA * 0.55;

export interface Located {
  /** Centroid x and y in pixels (for the player, y is the feet). */
  x: number;
  y: number;
  pixels: number;
}

/** An object to follow: its colour, where to search, and how to turn the centroid into its y. */
export interface Target {
  /** Human name ("player", "ball red"). */
  name: string;
  color: number;
  /** Other colours that also count (the platformer player's body in its jump pose). */
  altColors?: number[];
  /** Column range [x0, x1) to search, pixels (whole frame when absent). */
  columns?: [number, number];
  /** Which y to locate: the pixels' centroid, or the top edge (first row with ≥ 2 pixels). */
  anchor: "centroid" | "top";
  /** Added to the located y, as a fraction of the frame height. */
  yOffset: number;
}

function unpack(c: number): [number, number, number] {
  return [(c >> 16) & 255, (c >> 8) & 255, c & 255];
}

/** Each pixel's L1 distance (0..765) to the nearest of the target's colours, within its columns (Infinity elsewhere): H·W. */
function colourDistance(rgb: Uint8Array, H: number, W: number, t: Target): Float32Array {
  const refs = [t.color, ...(t.altColors ?? [])].map(unpack);
  const [x0, x1] = t.columns ?? [0, W];
  const d = new Float32Array(H * W).fill(Infinity);
  for (let y = 0; y < H; y++) {
    for (let x = Math.max(0, x0); x < Math.min(W, x1); x++) {
      const o = (y * W + x) * 3;
      for (const [r, g, b] of refs) d[y * W + x] = Math.min(d[y * W + x], Math.abs(rgb[o] - r) + Math.abs(rgb[o + 1] - g) + Math.abs(rgb[o + 2] - b));
    }
  }
  return d;
}

/** 1 where a pixel of an H·W·3 byte frame has the target's colour within its columns, else 0 (H·W). */
function colourMask(rgb: Uint8Array, H: number, W: number, t: Target): Uint8Array {
  return maskOf(colourDistance(rgb, H, W, t));
}

/** 1 where a colour distance is within COLOUR_TOLERANCE, else 0. */
function maskOf(dist: Float32Array): Uint8Array {
  return Uint8Array.from(dist, (d) => (d <= COLOUR_TOLERANCE ? 1 : 0));
}

/** The object of `t.color` in an H·W·3 byte frame (its largest group of rows); null when too few pixels match. */
export function locate(rgb: Uint8Array, H: number, W: number, t: Target): Located | null {
  return locateInMask(colourMask(rgb, H, W, t), H, W, t);
}

function locateInMask(m: Uint8Array, H: number, W: number, t: Target): (Located & { rows: [number, number] }) | null {
  const rowN = new Array<number>(H).fill(0);
  const rowX = new Array<number>(H).fill(0);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!m[y * W + x]) continue;
      rowN[y]++;
      rowX[y] += x + 0.5;
    }
  }
  // The object is the largest group of matching rows (gaps ≤ MAX_ROW_GAP, as the sprite's skin
  // rows separate its body rows): scenery of the same colour elsewhere in the columns (a theme
  // whose rocks share the player's detail colour) forms groups of its own and is ignored.
  let best: [number, number] = [0, -1];
  let bestN = 0;
  for (let y = 0; y < H; ) {
    if (rowN[y] === 0) {
      y++;
      continue;
    }
    let end = y;
    let count = 0;
    for (let k = y; k < H && k - end <= MAX_ROW_GAP; k++) {
      if (rowN[k] === 0) continue;
      end = k;
      count += rowN[k];
    }
    if (count > bestN) [best, bestN] = [[y, end], count];
    y = end + 1;
  }
  let sx = 0;
  let sy = 0;
  let n = 0;
  let top = -1;
  for (let y = best[0]; y <= best[1]; y++) {
    sx += rowX[y];
    sy += (y + 0.5) * rowN[y];
    n += rowN[y];
    if (top < 0 && rowN[y] >= 2) top = y;
  }
  if (n < MIN_PIXELS || (t.anchor === "top" && top < 0)) return null;
  const y = t.anchor === "top" ? top : sy / n;
  return { x: sx / n, y: y + t.yOffset * H, pixels: n, rows: best };
}

/** Largest vertical shift (pixels) `verticalShift` tries. */
const MAX_SHIFT = 10;

/**
 * How many pixels the object moved down from frame a to frame b (negative: up), by matching its
 * shape rather than one edge: each frame's object (its largest group of matching rows, as in
 * `locate`) as a mask of matching pixels, and the whole-pixel shift of a's mask that overlaps
 * b's the most (ties: the smallest shift). A generated frame that loses a row of the sprite
 * (the player's cap is one pixel high at 64×64) moves its top edge by the sprite's gaps, up to
 * 4 px; the overlap of everything else still finds the shift. Null when either frame lacks it.
 */
export function verticalShift(a: Uint8Array, b: Uint8Array, H: number, W: number, t: Target): number | null {
  const masks = [a, b].map((f) => {
    const m = colourMask(f, H, W, t);
    const at = locateInMask(m, H, W, t);
    if (!at) return null;
    m.fill(0, 0, at.rows[0] * W);
    m.fill(0, (at.rows[1] + 1) * W);
    return m;
  });
  const [ma, mb] = masks;
  if (!ma || !mb) return null;
  const overlap = (d: number) => {
    let n = 0;
    for (let y = Math.max(0, -d); y < Math.min(H, H - d); y++) for (let x = 0; x < W; x++) n += ma[y * W + x] & mb[(y + d) * W + x];
    return n;
  };
  let best = overlap(0);
  let shift = 0;
  for (let d = 1; d <= MAX_SHIFT; d++) {
    const [down, up] = [overlap(d), overlap(-d)];
    if (Math.max(down, up) <= best) continue;
    best = Math.max(down, up);
    shift = down === up ? 0 : down > up ? d : -d; // a tie between down and up says neither
  }
  return best > 0 ? shift : null;
}

/** L1 colour distance (0..765) at which `subpixelShift`'s colour likeness falls to 0. */
export const SOFT_TOLERANCE = 2 * COLOUR_TOLERANCE;
/** Rows above and below the object's group that `subpixelShift` keeps (a sample's sprite may have grown or shrunk). */
const SOFT_PAD = 2;

/** 1 − colourDistance / SOFT_TOLERANCE, floored at 0 (0 outside the target's columns): H·W. */
function colourLikeness(dist: Float32Array): Float32Array {
  return dist.map((d) => Math.max(0, 1 - d / SOFT_TOLERANCE));
}

/**
 * How many pixels the object moved down from frame a to frame b (negative: up), to a fraction of
 * a pixel: the gravity test's measure of a sampled frame (`moveDown`). Each frame's object is its
 * largest group of rows (as in `locate`), widened by SOFT_PAD rows; inside it every pixel weighs
 * its colour likeness (1 at the colour, 0 at SOFT_TOLERANCE). The shift is the whole-pixel lag of
 * the largest correlation of the two weight maps (ties: the smallest), refined by a parabola
 * through its neighbours (±0.5 px). Null when either frame lacks the object.
 *
 * Why not `verticalShift`: at 64×64 a 1-px fall changes the sprite's shape (its 11 rows are
 * sampled unevenly into ~6 pixels), and binary masks then often overlap as well at 0 as at 1,
 * which reads as no fall. Measured in session 13 on 111 held-out moments with a visible fall
 * (32 starts): of the tokenizer's reconstructions of the true next frame, `verticalShift` read
 * 97 as lower, 7 as not lower (in each of which the start and the next frame sat at the true
 * frames' places by `verticalShift` itself) and 7 as not found; this reads 104 as lower and the
 * same 7 as not found. The true frames read lower in all 111 by both; a frame against itself
 * reads exactly 0.
 */
export function subpixelShift(a: Uint8Array, b: Uint8Array, H: number, W: number, t: Target): number | null {
  const maps = [a, b].map((f) => {
    const dist = colourDistance(f, H, W, t);
    const rows = locateInMask(maskOf(dist), H, W, t)?.rows;
    if (!rows) return null;
    const m = colourLikeness(dist);
    m.fill(0, 0, Math.max(0, rows[0] - SOFT_PAD) * W);
    m.fill(0, Math.min(H, rows[1] + 1 + SOFT_PAD) * W);
    return m;
  });
  const [ma, mb] = maps;
  if (!ma || !mb) return null;
  const corr = (d: number) => {
    let n = 0;
    for (let y = Math.max(0, -d); y < Math.min(H, H - d); y++) for (let x = 0; x < W; x++) n += ma[y * W + x] * mb[(y + d) * W + x];
    return n;
  };
  const c = new Map<number, number>();
  for (let d = -MAX_SHIFT - 1; d <= MAX_SHIFT + 1; d++) c.set(d, corr(d));
  let best = 0;
  for (let d = 1; d <= MAX_SHIFT; d++) for (const s of [d, -d]) if (c.get(s)! > c.get(best)! * (1 + 1e-6) + 1e-9) best = s;
  if (c.get(best)! <= 0) return null;
  const [l, m0, r] = [c.get(best - 1)!, c.get(best)!, c.get(best + 1)!];
  const curve = l - 2 * m0 + r;
  return best + (curve < 0 ? Math.max(-0.5, Math.min(0.5, (l - r) / (2 * curve))) : 0);
}

interface PlatformerState {
  theme: string;
  cameraX: number;
  /** The action that led into this frame (its jump flag decides the sprite's pose). */
  action: number;
  player: { x: number; y: number; vy: number; onGround: boolean };
}

/** The player as a target in an H×W platformer frame of this state (square or wider views). */
export function playerTarget(state: WorldState, H: number, W: number): Target {
  const s = state as unknown as PlatformerState;
  const theme = PLATFORMER_THEMES.find((t) => t.name === s.theme);
  if (!theme) throw new Error(`gravity.ts: platformer state names theme "${s.theme}", not one of ${PLATFORMER_THEMES.map((t) => t.name).join(", ")}`);
  const px = H / VIEW_H; // pixels per tile
  // The camera keeps the player at a fixed column: (x − cameraX) tiles from a square view's left.
  const left = ((s.player.x - s.cameraX - VIEW_H / 2) * px + W / 2) - (PLAYER_W / 2) * px;
  // While jump is held the sprite swaps body and detail colours (platformer-render.ts); the
  // detail colour is only searched then, as some themes have it in the scenery too.
  const jumpHeld = PLATFORMER_ACTIONS[s.action]?.includes("jump") ?? false;
  return { name: "player", color: theme.player, ...(jumpHeld ? { altColors: [theme.playerDetail] } : {}), columns: [Math.floor(left - px), Math.ceil(left + (PLAYER_W + 1) * px)], anchor: "top", yOffset: PLAYER_H / VIEW_H };
}

interface BounceState {
  balls: { x: number; y: number; vy: number; r: number; color: string }[];
}

/** Ball `color` as a target (bounce stretches the ARENA square over the whole frame). */
export function ballTarget(color: string): Target {
  const c = BALL_COLORS.find((b) => b.name === color);
  if (!c) throw new Error(`gravity.ts: bounce state names ball colour "${color}", not one of ${BALL_COLORS.map((b) => b.name).join(", ")}`);
  return { name: `ball ${color}`, color: c.color, anchor: "centroid", yOffset: 0 };
}

/**
 * The unsupported, not-rising objects of a state record (see the module comment); [] for other
 * worlds or supported objects. Each will be lower in the true next frame unless something hits it.
 */
export function fallingTargets(env: string, state: WorldState, H: number, W: number): Target[] {
  if (env === "platformer") {
    const p = (state as unknown as PlatformerState).player;
    if (!p || p.onGround || p.vy < 0) return [];
    // Falling into a gap respawns the player elsewhere: not a gravity case.
    if (p.y + p.vy + PLATFORMER_GRAVITY > DEATH_Y - 0.5 || p.y > VIEW_H) return [];
    return [playerTarget(state, H, W)];
  }
  if (env === "bounce") {
    const balls = (state as unknown as BounceState).balls ?? [];
    return balls.filter((b) => b.vy + BOUNCE_GRAVITY >= 0 && b.y + b.r + 1 < Math.min(PUSH_Y, PADDLE_Y)).map((b) => ballTarget(b.color));
  }
  return [];
}

export interface GravityCase {
  target: Target;
  /** The model's decoding of the last context frame. */
  start: Uint8Array;
  /** S sampled next frames. */
  samples: Uint8Array[];
  /**
   * The data's own frames at that moment and the next, when known: a case counts only when the
   * object visibly falls in them (≥ VISIBLE_FALL px). Near the top of a jump a fall is a
   * fraction of a pixel per frame, which 64×64 frames do not show, so there "lower" is not the
   * right answer even for a perfect model.
   */
  truth?: { start: Uint8Array; next: Uint8Array };
  /** Where the case comes from (episode id, index of the last context frame), to find it again. */
  at?: { episode: number; frame: number };
}

/** Smallest fall (pixels) in the data's next frame for a case to count. */
export const VISIBLE_FALL = 1;

export interface GravityResult {
  /** Fraction of cases where lower > higher; null without a usable case. */
  fraction: number | null;
  /** Cases scored, and those left out because the object was not found. */
  cases: number;
  missing: number;
  /** Cases left out because the data's own next frame shows no visible fall (see GravityCase.truth). */
  invisible: number;
  /** Samples over all scored cases: lower, higher, neither (within the dead zone or not found). */
  lower: number;
  higher: number;
  same: number;
  /** The scored cases that failed (lower ≤ higher), with their sample counts and where they come from. */
  failing: { episode: number | null; frame: number | null; lower: number; higher: number; same: number }[];
}

/** One case's verdict: left out (no visible fall in the data, or the object not found), or its sample counts. */
export type CaseVerdict = { status: "invisible" | "missing" } | { status: "scored"; lower: number; higher: number; same: number; pass: boolean };

/**
 * How far the target moved down from frame a to frame b, pixels (null: not found in one of
 * them): the shape-matching shift for the platformer player (`verticalShift`; its top edge
 * alone is fragile in generated frames), the difference of centroids for a ball.
 */
export function moveDown(a: Uint8Array, b: Uint8Array, H: number, W: number, t: Target): number | null {
  if (t.anchor === "top") return subpixelShift(a, b, H, W, t);
  const [la, lb] = [locate(a, H, W, t), locate(b, H, W, t)];
  return la && lb ? lb.y - la.y : null;
}

export function judgeCase(c: GravityCase, H: number, W: number): CaseVerdict {
  if (c.truth) {
    // Which moments count is decided as before session 13 (whole pixels), so the case set is unchanged.
    const dy = c.target.anchor === "top" ? verticalShift(c.truth.start, c.truth.next, H, W, c.target) : moveDown(c.truth.start, c.truth.next, H, W, c.target);
    if (dy === null || dy < VISIBLE_FALL) return { status: "invisible" };
  }
  const next = c.samples.map((s) => moveDown(c.start, s, H, W, c.target));
  if (next.every((n) => n === null)) return { status: "missing" };
  let lower = 0;
  let higher = 0;
  let same = 0;
  for (const dy of next) {
    if (dy !== null && dy > DEAD_ZONE) lower++;
    else if (dy !== null && dy < -DEAD_ZONE) higher++;
    else same++;
  }
  return { status: "scored", lower, higher, same, pass: lower > higher };
}

/** Score gravity cases (frames H×W). */
export function scoreGravity(cases: GravityCase[], H: number, W: number): GravityResult {
  const r: GravityResult = { fraction: null, cases: 0, missing: 0, invisible: 0, lower: 0, higher: 0, same: 0, failing: [] };
  let pass = 0;
  for (const c of cases) {
    const v = judgeCase(c, H, W);
    if (v.status !== "scored") {
      if (v.status === "invisible") r.invisible++;
      else r.missing++;
      continue;
    }
    r.lower += v.lower;
    r.higher += v.higher;
    r.same += v.same;
    r.cases++;
    if (v.pass) pass++;
    else r.failing.push({ episode: c.at?.episode ?? null, frame: c.at?.frame ?? null, lower: v.lower, higher: v.higher, same: v.same });
  }
  r.fraction = r.cases ? pass / r.cases : null;
  return r;
}

/**
 * A contact sheet of the scored cases, failing ones first, one row each: the data's frame and
 * its next frame, the model's decoding of that frame, then its sampled next frames (at most
 * `maxSamples`). PNG bytes; null when no case was scored.
 */
export function gravitySheet(cases: GravityCase[], H: number, W: number, maxRows = 24, maxSamples = 8): Uint8Array | null {
  const scored = cases.flatMap((c) => {
    const v = judgeCase(c, H, W);
    return v.status === "scored" ? [{ c, pass: v.pass }] : [];
  });
  if (!scored.length) return null;
  scored.sort((a, b) => Number(a.pass) - Number(b.pass));
  const tile = (rgb: Uint8Array): Tile => ({ data: Float32Array.from(rgb, (v) => v / 255), height: H, width: W, channels: 3, show: "rgb" });
  const rows = scored.slice(0, maxRows).map(({ c }) => [...(c.truth ? [tile(c.truth.start), tile(c.truth.next)] : []), tile(c.start), ...c.samples.slice(0, maxSamples).map(tile)]);
  return tilePng(rows, 2);
}
