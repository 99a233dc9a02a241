/**
 * The platformer's level: ground runs with gaps and steps, floating one-way platforms, coins and
 * patrolling enemies, generated left to right from the seed's generator as the player advances.
 * Generation depends only on the generator and on how far it has been asked to reach, so the
 * same seed always yields the same level whatever the episode length.
 *
 * Units are tiles; y grows downward (screen convention), the view spans y ∈ [0, VIEW_H).
 */
import { pickWeighted, randInt } from "./policy.js";

/** Height of the (fixed) vertical view in tiles. */
export const VIEW_H = 12;
/** Bottom of every ground block; a player whose feet pass DEATH_Y has fallen into a gap. */
export const GROUND_BOTTOM = 14;
export const DEATH_Y = 13.5;
/** Ground top heights used by the generator (tiles from the top of the view). */
const GROUND_LEVELS = [8, 9, 10];
/** Width of the buckets that index level parts by x, in tiles. */
const BUCKET = 8;

/** A solid rectangle [x0, x1) × [y0, y1). Ground is solid on all sides; platforms are one-way. */
export interface Solid {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  kind: "ground" | "platform";
}

export interface Coin {
  id: number;
  x: number;
  y: number;
  collected: boolean;
}

/** An enemy walking back and forth on [x0, x1]; (x, y) is the centre of its feet. */
export interface Enemy {
  id: number;
  x: number;
  y: number;
  x0: number;
  x1: number;
  vx: number;
  alive: boolean;
}

/** Player box (feet-centred), tiles: about 5 px wide at 64×64. */
export const PLAYER_W = 0.9;
export const PLAYER_H = 1.2;
export const COIN_R = 0.3;
export const ENEMY_W = 0.9;
export const ENEMY_H = 0.8;
/** Patrol speed, tiles/step: 3/64, a pixel every 4 steps at 64×64 (a steady rhythm, as the scenery's). */
const ENEMY_SPEED = 3 / 64;

/** Items indexed by the BUCKET-wide x ranges they touch, so queries near the player are O(1). */
class XIndex<T> {
  private readonly buckets = new Map<number, T[]>();

  add(item: T, x0: number, x1: number): void {
    for (let b = Math.floor(x0 / BUCKET); b <= Math.floor(x1 / BUCKET); b++) {
      const list = this.buckets.get(b);
      if (list) list.push(item);
      else this.buckets.set(b, [item]);
    }
  }

  /** Items touching [x0, x1], each once, in insertion order within a bucket. */
  query(x0: number, x1: number): T[] {
    const out: T[] = [];
    const seen = new Set<T>();
    for (let b = Math.floor(x0 / BUCKET); b <= Math.floor(x1 / BUCKET); b++) {
      for (const item of this.buckets.get(b) ?? []) {
        if (!seen.has(item)) {
          seen.add(item);
          out.push(item);
        }
      }
    }
    return out;
  }
}

export class PlatformerLevel {
  readonly solids: Solid[] = [];
  readonly coins: Coin[] = [];
  readonly enemies: Enemy[] = [];
  private readonly solidIndex = new XIndex<Solid>();
  private readonly coinIndex = new XIndex<Coin>();
  private readonly enemyIndex = new XIndex<Enemy>();
  /** x where the next segment starts, and the ground height it continues from. */
  private cursor = 12;
  private groundTop = 9;

  constructor(private readonly rng: () => number) {
    // A safe start: a long flat run with a wall far to the left so nobody walks off the world.
    this.addSolid(-41, -40, -4, GROUND_BOTTOM, "ground");
    this.addSolid(-40, this.cursor, this.groundTop, GROUND_BOTTOM, "ground");
    for (let i = 0; i < 3; i++) this.addCoin(5 + i, this.groundTop - 1.5);
  }

  /** Generate segments until the level reaches at least x. */
  ensure(x: number): void {
    while (this.cursor < x) this.addSegment();
  }

  solidsNear(x0: number, x1: number): Solid[] {
    return this.solidIndex.query(x0, x1);
  }

  coinsNear(x0: number, x1: number): Coin[] {
    return this.coinIndex.query(x0, x1);
  }

  enemiesNear(x0: number, x1: number): Enemy[] {
    return this.enemyIndex.query(x0 - 1, x1 + 1);
  }

  /** Advance every enemy one step (they turn at the ends of their patrol). */
  stepEnemies(): void {
    for (const e of this.enemies) {
      if (!e.alive) continue;
      e.x += e.vx;
      if (e.x <= e.x0 || e.x >= e.x1) {
        e.x = Math.min(e.x1, Math.max(e.x0, e.x));
        e.vx = -e.vx;
      }
    }
  }

  private addSolid(x0: number, x1: number, y0: number, y1: number, kind: Solid["kind"]): Solid {
    const s: Solid = { x0, x1, y0, y1, kind };
    this.solids.push(s);
    this.solidIndex.add(s, x0, x1);
    return s;
  }

  private addCoin(x: number, y: number): void {
    const c: Coin = { id: this.coins.length, x, y, collected: false };
    this.coins.push(c);
    this.coinIndex.add(c, x - COIN_R, x + COIN_R);
  }

  private addEnemy(x0: number, x1: number, y: number): void {
    const x = x0 + (x1 - x0) * this.rng();
    const vx = this.rng() < 0.5 ? -ENEMY_SPEED : ENEMY_SPEED;
    const e: Enemy = { id: this.enemies.length, x, y, x0, x1, vx, alive: true };
    this.enemies.push(e);
    this.enemyIndex.add(e, x0 - ENEMY_W, x1 + ENEMY_W);
  }

  /** A row of n coins starting at x, one tile apart, at height y. */
  private coinRow(x: number, y: number, n: number): void {
    for (let i = 0; i < n; i++) this.addCoin(x + i, y);
  }

  private addSegment(): void {
    const rng = this.rng;
    const kind = pickWeighted(rng, [0.3, 0.3, 0.15, 0.25]);
    const c = this.cursor;
    const g = this.groundTop;
    if (kind === 0) {
      // Flat run, perhaps with a floating platform (coins on it) or coins and an enemy on the ground.
      const len = randInt(rng, 6, 12);
      this.addSolid(c, c + len, g, GROUND_BOTTOM, "ground");
      if (rng() < 0.5) {
        const w = randInt(rng, 3, 5);
        const px = c + 1 + Math.floor(rng() * (len - w - 1));
        const top = g - 3;
        this.addSolid(px, px + w, top, top + 0.5, "platform");
        this.coinRow(px + 0.5, top - 0.7, w);
      } else if (rng() < 0.5) {
        this.coinRow(c + 1.5, g - 1.6, randInt(rng, 2, 4));
      }
      if (rng() < 0.45) this.addEnemy(c + 1, c + len - 1, g);
      this.cursor = c + len;
    } else if (kind === 1) {
      // A gap of 2–3 tiles; the far side may be a tile higher or lower. Coins arc over it.
      const gap = randInt(rng, 2, 3);
      const next = this.nextLevel(1);
      for (let i = 0; i < gap; i++) this.addCoin(c + 0.5 + i, Math.min(g, next) - 2.6);
      const len = randInt(rng, 4, 8);
      this.addSolid(c + gap, c + gap + len, next, GROUND_BOTTOM, "ground");
      this.groundTop = next;
      this.cursor = c + gap + len;
    } else if (kind === 2) {
      // A step up or down without a gap: a side wall to walk into and jump over.
      const next = this.nextLevel(1, true);
      const len = randInt(rng, 4, 8);
      this.addSolid(c, c + len, next, GROUND_BOTTOM, "ground");
      this.groundTop = next;
      this.cursor = c + len;
    } else {
      // A wide gap bridged by a floating platform two tiles up.
      const gap = randInt(rng, 5, 7);
      const w = 3;
      const px = c + Math.floor((gap - w) / 2);
      const top = g - 2;
      this.addSolid(px, px + w, top, top + 0.5, "platform");
      this.coinRow(px + 0.5, top - 0.7, w);
      const len = randInt(rng, 4, 8);
      this.addSolid(c + gap, c + gap + len, g, GROUND_BOTTOM, "ground");
      this.cursor = c + gap + len;
    }
  }

  /** A ground level at most `maxChange` levels from the current one (a different one if `mustChange`). */
  private nextLevel(maxChange: number, mustChange = false): number {
    const i = GROUND_LEVELS.indexOf(this.groundTop);
    const options = GROUND_LEVELS.filter((_, j) => Math.abs(j - i) <= maxChange && (!mustChange || j !== i));
    return options[Math.floor(this.rng() * options.length)];
  }
}
