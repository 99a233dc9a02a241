/**
 * A side-scrolling platformer: run, jump, collect coins, stomp patrolling enemies, across gaps and
 * floating platforms, with a colour theme per seed. Simulated in tiles with y growing downward;
 * the camera follows the player horizontally and the vertical view is fixed (VIEW_H tiles).
 *
 * Falling into a gap (feet below DEATH_Y) or touching an enemy from the side does not end the
 * episode: the player respawns at the last place it stood (the `falls` / `hits` counters record
 * it), so every episode is one unbroken stream of frames.
 */
import { hostRng } from "../core/keys.js";
import { PLATFORMER_THEMES, type PlatformerTheme } from "./palette.js";
import {
  COIN_R,
  DEATH_Y,
  ENEMY_H,
  ENEMY_W,
  PLAYER_H,
  PLAYER_W,
  PlatformerLevel,
  VIEW_H,
  type Solid,
} from "./platformer-level.js";
import { renderPlatformer } from "./platformer-render.js";
import { Persistent, mixSeed, pickWeighted } from "./policy.js";

export { PLAYER_H, PLAYER_W } from "./platformer-level.js";
import type { Frame, Policy, World, WorldFactory, WorldInfo, WorldState } from "./types.js";

/** Downward acceleration, tiles/step². */
export const PLATFORMER_GRAVITY = 0.04;
/** Upward speed given by a jump, tiles/step (apex ≈ 3.9 tiles). */
export const JUMP_SPEED = 0.56;
/** Terminal fall speed, tiles/step; below the platform thickness so nothing is tunnelled. */
export const MAX_FALL = 0.45;
/** Horizontal speed while left/right is held, tiles/step: 3/16, one pixel per step at 64×64 (12 tiles). */
export const RUN_SPEED = 3 / 16;
/** How far ahead of the player the level is generated (beyond any view width we render). */
const GENERATE_AHEAD = 48;
/** Steps of invulnerability after a respawn, so an enemy cannot hit the player again at once. */
const INVULNERABLE_STEPS = 30;
/** Where the player sits in a square view, as a fraction of the view width from the left. */
const CAMERA_LEAD = 0.35;

export const PLATFORMER_ACTIONS = ["noop", "left", "right", "jump", "left+jump", "right+jump"] as const;
/** Horizontal direction and jump flag of each action id. */
const ACTION_DIR = [0, -1, 1, 0, -1, 1];
const ACTION_JUMP = [false, false, false, true, true, true];

const INFO: WorldInfo = {
  name: "platformer",
  actions: PLATFORMER_ACTIONS,
  depthFar:
    "layers, not distances: far scenery and sky 1.0, mid scenery 0.7, ground and platforms 0.4, " +
    "player/enemies/coins 0.3",
};

export class PlatformerWorld implements World {
  readonly info = INFO;
  readonly theme: PlatformerTheme;
  readonly level: PlatformerLevel;
  /** Feet centre of the player, tiles (y down), and velocity in tiles/step. */
  x = 2;
  y = 9;
  vx = 0;
  vy = 0;
  onGround = true;
  facing: 1 | -1 = 1;
  score = 0;
  coinsCollected = 0;
  stomps = 0;
  falls = 0;
  hits = 0;
  steps = 0;
  lastAction = 0;
  private invulnerable = 0;
  private safeX = 2;
  private safeY = 9;

  constructor(readonly seed: number) {
    const rng = hostRng(mixSeed(seed, 1));
    this.theme = PLATFORMER_THEMES[Math.floor(rng() * PLATFORMER_THEMES.length)];
    this.level = new PlatformerLevel(rng);
    this.level.ensure(this.x + GENERATE_AHEAD);
  }

  /** World x of the left edge of a square (VIEW_H × VIEW_H) view; wider views share its centre. */
  get cameraX(): number {
    return this.x - CAMERA_LEAD * VIEW_H;
  }

  /** Whether the last action held the jump key (the sprite shows it). */
  get jumpHeld(): boolean {
    return ACTION_JUMP[this.lastAction] ?? false;
  }

  step(action: number): void {
    if (!Number.isInteger(action) || action < 0 || action >= PLATFORMER_ACTIONS.length) {
      throw new Error(`platformer.ts step: action must be an integer in 0..${PLATFORMER_ACTIONS.length - 1}, got ${action}`);
    }
    this.lastAction = action;
    this.steps++;
    this.level.ensure(this.x + GENERATE_AHEAD);
    this.level.stepEnemies();
    const dir = ACTION_DIR[action];
    this.vx = dir * RUN_SPEED;
    if (dir !== 0) this.facing = dir > 0 ? 1 : -1;
    if (ACTION_JUMP[action] && this.onGround) this.vy = -JUMP_SPEED;
    this.vy = Math.min(this.vy + PLATFORMER_GRAVITY, MAX_FALL);
    this.moveX();
    this.moveY();
    this.touchCoins();
    this.touchEnemies();
    if (this.invulnerable > 0) this.invulnerable--;
    if (this.y > DEATH_Y) {
      this.falls++;
      this.respawn();
    }
  }

  render(height: number, width: number): Frame {
    return renderPlatformer(this, height, width);
  }

  state(): WorldState {
    const left = this.cameraX;
    const right = left + VIEW_H;
    const coins = this.level.coinsNear(left, right).filter((c) => c.x + COIN_R > left && c.x - COIN_R < right);
    const enemies = this.level.enemiesNear(left, right).filter((e) => e.x + ENEMY_W / 2 > left && e.x - ENEMY_W / 2 < right);
    const solids = this.level.solidsNear(left, right).filter((s) => s.x1 > left && s.x0 < right);
    return {
      world: "platformer",
      step: this.steps,
      action: this.lastAction,
      theme: this.theme.name,
      player: { x: this.x, y: this.y, vx: this.vx, vy: this.vy, onGround: this.onGround, facing: this.facing },
      cameraX: left,
      score: this.score,
      coinsCollected: this.coinsCollected,
      stomps: this.stomps,
      falls: this.falls,
      hits: this.hits,
      coins: coins.map((c) => ({ id: c.id, x: c.x, y: c.y, collected: c.collected })),
      enemies: enemies.map((e) => ({ id: e.id, x: e.x, y: e.y, vx: e.vx, alive: e.alive })),
      visible: {
        coins: coins.filter((c) => !c.collected).length,
        enemies: enemies.filter((e) => e.alive).length,
        platforms: solids.filter((s) => s.kind === "platform").length,
        gapAhead: this.gapAhead(1, 3),
      },
    };
  }

  /** Put the player somewhere (tests and tools); velocity is zeroed and it is airborne. */
  placePlayer(x: number, y: number): void {
    this.x = x;
    this.y = y;
    this.vx = 0;
    this.vy = 0;
    this.onGround = false;
    this.level.ensure(x + GENERATE_AHEAD);
  }

  /** No ground or platform to stand on within `range` tiles ahead in direction `dir` at feet level. */
  gapAhead(dir: number, range: number): boolean {
    for (let d = 0.25; d <= range; d += 0.25) {
      const px = this.x + dir * (PLAYER_W / 2 + d);
      const support = this.level
        .solidsNear(px, px)
        .some((s) => s.x0 <= px && px < s.x1 && s.y0 >= this.y - 1.01 && s.y0 <= this.y + 1.5);
      if (!support) return true;
    }
    return false;
  }

  /** A gap, a wall or a live enemy within `range` tiles in direction `dir`: time to jump. */
  hazardAhead(dir: number, range: number): boolean {
    const wx = this.x + dir * (PLAYER_W / 2 + 0.3);
    const wall = this.level
      .solidsNear(wx, wx)
      .some((s) => s.kind === "ground" && s.x0 <= wx && wx < s.x1 && s.y0 < this.y - 0.05 && s.y1 > this.y - PLAYER_H);
    if (wall) return true;
    const enemy = this.level
      .enemiesNear(this.x - range - 1, this.x + range + 1)
      .some((e) => e.alive && (e.x - this.x) * dir > 0 && Math.abs(e.x - this.x) < range + 1 && Math.abs(e.y - this.y) < 1);
    return enemy || this.gapAhead(dir, range);
  }

  private overlaps(s: Solid): boolean {
    const h = PLAYER_W / 2;
    return this.x + h > s.x0 && this.x - h < s.x1 && this.y > s.y0 && this.y - PLAYER_H < s.y1;
  }

  private moveX(): void {
    this.x += this.vx;
    if (this.vx === 0) return;
    const h = PLAYER_W / 2;
    for (const s of this.level.solidsNear(this.x - 1, this.x + 1)) {
      if (s.kind !== "ground" || !this.overlaps(s)) continue;
      this.x = this.vx > 0 ? s.x0 - h : s.x1 + h;
    }
  }

  private moveY(): void {
    const prevY = this.y;
    this.y += this.vy;
    this.onGround = false;
    const h = PLAYER_W / 2;
    for (const s of this.level.solidsNear(this.x - 1, this.x + 1)) {
      if (s.kind === "ground") {
        if (!this.overlaps(s)) continue;
        if (this.vy > 0) this.land(s);
        else {
          this.y = s.y1 + PLAYER_H;
          this.vy = 0;
        }
      } else if (this.vy > 0 && prevY <= s.y0 && this.y >= s.y0 && this.x + h > s.x0 && this.x - h < s.x1) {
        // One-way platform: only the top is solid, so the player can jump up through it.
        this.land(s);
      }
    }
  }

  private land(s: Solid): void {
    this.y = s.y0;
    this.vy = 0;
    this.onGround = true;
    this.safeX = Math.min(s.x1 - 0.5, Math.max(s.x0 + 0.5, this.x));
    this.safeY = s.y0;
  }

  private touchCoins(): void {
    const h = PLAYER_W / 2;
    for (const c of this.level.coinsNear(this.x - 1, this.x + 1)) {
      if (c.collected) continue;
      const hit = c.x + COIN_R > this.x - h && c.x - COIN_R < this.x + h && c.y + COIN_R > this.y - PLAYER_H && c.y - COIN_R < this.y;
      if (!hit) continue;
      c.collected = true;
      this.coinsCollected++;
      this.score += 1;
    }
  }

  private touchEnemies(): void {
    const h = PLAYER_W / 2;
    for (const e of this.level.enemiesNear(this.x - 1, this.x + 1)) {
      if (!e.alive) continue;
      const hit =
        e.x + ENEMY_W / 2 > this.x - h && e.x - ENEMY_W / 2 < this.x + h && e.y > this.y - PLAYER_H && e.y - ENEMY_H < this.y;
      if (!hit) continue;
      if (this.vy > 0 && this.y - this.vy <= e.y - ENEMY_H + 0.25) {
        // Landed on it from above: the enemy is squashed and the player bounces.
        e.alive = false;
        this.stomps++;
        this.score += 5;
        this.vy = -JUMP_SPEED * 0.6;
      } else if (this.invulnerable === 0) {
        this.hits++;
        this.respawn();
      }
    }
  }

  private respawn(): void {
    this.x = this.safeX;
    this.y = this.safeY;
    this.vx = 0;
    this.vy = 0;
    this.onGround = true;
    this.invulnerable = INVULNERABLE_STEPS;
  }
}

/** Relative frequencies of the held directions (left, none, right). */
const DIRECTION_WEIGHTS = [0.2, 0.25, 0.55];
/** Chance per step on the ground that the jump key is tapped (besides the jumps over hazards). */
const JUMP_TAP_CHANCE = 0.07;
/** The "holds" policy: chance that a fresh jump-key choice presses it, and the longest hold. */
const JUMP_PRESS_CHANCE = 0.35;
const JUMP_HOLD_MAX = 6;

/**
 * Mostly runs right, sometimes left or idles, with the direction held 3–15 steps; the jump key is
 * tapped (one step) from the ground now and then, as a person taps jump while holding a
 * direction. When running towards a gap, a wall or an enemy it jumps, so progress is made and
 * jumps happen in varied situations.
 *
 * Taps, not holds: this world's jump is a launch from the ground with no variable height, so a key
 * held on in the air changes nothing but the sprite's pose. An earlier policy held it 1–6 steps on
 * its own clock; then 36% of the steps had the key down and only 3% launched, and no model of
 * the frames could tell a held key from a released one (a labeller that knew each key's effect
 * exactly scored purity 0.67 against the keys; scratch/ceiling.ts in the session notes).
 */
export function platformerPolicy(seed: number): Policy {
  const rng = hostRng(mixSeed(seed, 2));
  const direction = new Persistent<number>(rng);
  return {
    next(world: World): number {
      if (!(world instanceof PlatformerWorld)) throw new Error("platformer.ts policy: expects a PlatformerWorld");
      const dir = direction.next(() => pickWeighted(rng, DIRECTION_WEIGHTS) - 1);
      let jumping = world.onGround && rng() < JUMP_TAP_CHANCE;
      if (dir !== 0 && world.onGround && rng() < 0.9 && world.hazardAhead(dir, 0.75)) jumping = true;
      return actionOf(dir, jumping);
    },
  };
}

/**
 * The policy before taps (`data generate --policy holds`; models/default's data was made with
 * it): the jump key pressed and released on its own clock, holds of 1–6 steps, on the ground or
 * not, and held on over hazards.
 */
export function platformerHoldsPolicy(seed: number): Policy {
  const rng = hostRng(mixSeed(seed, 2));
  const direction = new Persistent<number>(rng);
  const jump = new Persistent<boolean>(rng, 1, JUMP_HOLD_MAX);
  return {
    next(world: World): number {
      if (!(world instanceof PlatformerWorld)) throw new Error("platformer.ts policy: expects a PlatformerWorld");
      const dir = direction.next(() => pickWeighted(rng, DIRECTION_WEIGHTS) - 1);
      let jumping = jump.next(() => rng() < JUMP_PRESS_CHANCE);
      if (dir !== 0 && world.onGround && rng() < 0.9 && world.hazardAhead(dir, 0.75)) {
        jumping = true;
        jump.hold(true);
      }
      return actionOf(dir, jumping);
    },
  };
}

/** The action id of a direction (−1, 0, 1) and a jump flag. */
function actionOf(dir: number, jumping: boolean): number {
  if (jumping) return dir < 0 ? 4 : dir > 0 ? 5 : 3;
  return dir < 0 ? 1 : dir > 0 ? 2 : 0;
}

export const PLATFORMER: WorldFactory = {
  info: INFO,
  create: (seed) => new PlatformerWorld(seed),
  policy: platformerPolicy,
  policies: { taps: platformerPolicy, holds: platformerHoldsPolicy },
};
