/**
 * Rasterises the platformer at any H×W: sky gradient, parallax far and mid scenery in the theme's
 * style, ground and platforms, coins, enemies and the player. The vertical view is VIEW_H tiles,
 * so one tile is H / VIEW_H pixels and wider frames show more of the level around the same centre.
 *
 * Depth is by layer: sky and far scenery 1.0, mid scenery 0.7, ground/platforms 0.4, sprites 0.3.
 *
 * Dimension keys: H,W pixels.
 */
import type { PlatformerTheme } from "./palette.js";
import { COIN_R, ENEMY_H, ENEMY_W, PLAYER_H, PLAYER_W, VIEW_H } from "./platformer-level.js";
import type { PlatformerWorld } from "./platformer.js";
import {
  blitSprite,
  createCanvas,
  fillEllipse,
  fillRect,
  hash01,
  makeSprite,
  mix,
  pixelSpan,
  scale,
  setPixel,
  toFrame,
  type Canvas,
} from "./raster.js";
import type { Frame } from "./types.js";

const DEPTH_FAR = 1.0;
const DEPTH_MID = 0.7;
const DEPTH_SOLID = 0.4;
const DEPTH_SPRITE = 0.3;
/**
 * How fast each scenery layer scrolls relative to the camera's whole-pixel position: the far
 * layer and the stars stay put, the mid layer moves with the ground. Any other factor makes a
 * layer move a pixel on some steps and not on others, by a phase that no single frame shows: a
 * model of the video can only guess it, and measured, the latent actions spent their codes on it
 * (factors 1/2 and 1/4: "right" split over five codes by which layers moved; with the former
 * continuous factors 0.05/0.25/0.55 the beat was irregular as well).
 */
const PARALLAX_STARS = 0;
const PARALLAX_FAR = 0;
const PARALLAX_MID = 1;

// Palette: 1 body, 2 detail, 3 skin, 4 black. Drawn facing right.
const PLAYER_SPRITE = makeSprite([
  "..1111..",
  ".111111.",
  "..3333..",
  "..33343.",
  "..3333..",
  ".111111.",
  "11111111",
  "31111113",
  ".222222.",
  ".22..22.",
  ".44..44.",
]);
// The pose while the jump key is held (on the ground or in the air): arms up, legs apart, and
// drawn with body and detail colours swapped. Holding jump in mid-air changes nothing in the
// physics, so without a pose a held jump would be invisible in the video, as in most real games
// the sprite shows the input.
const PLAYER_JUMP_SPRITE = makeSprite([
  "3.1111.3",
  "31111113",
  "..3333..",
  "..33343.",
  "..3333..",
  ".111111.",
  ".111111.",
  ".111111.",
  ".222222.",
  "22....22",
  "44....44",
]);
// Palette: 1 body, 2 white, 3 black.
const ENEMY_SPRITE = makeSprite([
  "..1111..",
  ".111111.",
  "11211211",
  "11311311",
  "11111111",
  ".111111.",
  ".33..33.",
]);
const SKIN = 0xf5c8a0;
const BLACK = 0x141414;
const WHITE = 0xffffff;

export function renderPlatformer(world: PlatformerWorld, height: number, width: number): Frame {
  const canvas = createCanvas(height, width);
  const s = height / VIEW_H; // pixels per tile
  const viewW = width / s;
  // The camera snaps to whole pixels, so the scene moves by whole pixels (run speed is 1 px per
  // step at 64×64) and every edge keeps its sub-pixel offset from frame to frame.
  const leftPx = Math.round((world.cameraX + VIEW_H / 2 - viewW / 2) * s);
  const left = leftPx / s;
  const theme = world.theme;
  drawSky(canvas, theme, leftPx, s);
  const farPx = Math.floor(leftPx * PARALLAX_FAR);
  const midPx = Math.floor(leftPx * PARALLAX_MID);
  for (let col = 0; col < width; col++) {
    drawFarColumn(canvas, theme, col, (farPx + col + 0.5) / s, s);
    drawMidColumn(canvas, theme, col, (midPx + col + 0.5) / s, s);
  }
  const right = left + viewW;
  for (const solid of world.level.solidsNear(left, right)) {
    if (solid.x1 <= left || solid.x0 >= right) continue;
    const x0 = (solid.x0 - left) * s;
    const x1 = (solid.x1 - left) * s;
    if (solid.kind === "ground") {
      drawGround(canvas, theme, x0, solid.y0 * s, x1, solid.y1 * s, left, s);
    } else {
      fillRect(canvas, x0, solid.y0 * s, x1, solid.y1 * s, theme.platformEdge, DEPTH_SOLID);
      fillRect(canvas, x0 + 0.08 * s, solid.y0 * s, x1 - 0.08 * s, (solid.y1 - 0.15) * s, theme.platform, DEPTH_SOLID);
    }
  }
  for (const c of world.level.coinsNear(left, right)) {
    if (c.collected) continue;
    const cx = (c.x - left) * s;
    const cy = c.y * s;
    fillEllipse(canvas, cx, cy, COIN_R * s * 0.8, COIN_R * s, theme.coinRim, DEPTH_SPRITE);
    fillEllipse(canvas, cx, cy, COIN_R * s * 0.45, COIN_R * s * 0.65, theme.coin, DEPTH_SPRITE);
  }
  const enemyPalette = [theme.enemy, WHITE, BLACK];
  for (const e of world.level.enemiesNear(left, right)) {
    if (!e.alive) continue;
    const x0 = (e.x - ENEMY_W / 2 - left) * s;
    blitSprite(canvas, ENEMY_SPRITE, x0, (e.y - ENEMY_H) * s, x0 + ENEMY_W * s, e.y * s, enemyPalette, DEPTH_SPRITE, e.vx < 0);
  }
  const px0 = (world.x - PLAYER_W / 2 - left) * s;
  const jumpHeld = world.jumpHeld;
  const playerPalette = jumpHeld ? [theme.playerDetail, theme.player, SKIN, BLACK] : [theme.player, theme.playerDetail, SKIN, BLACK];
  blitSprite(canvas, jumpHeld ? PLAYER_JUMP_SPRITE : PLAYER_SPRITE, px0, (world.y - PLAYER_H) * s, px0 + PLAYER_W * s, world.y * s, playerPalette, DEPTH_SPRITE, world.facing < 0);
  return toFrame(canvas);
}

/** Vertical sky gradient, with a sparse parallax star field in starry themes. */
function drawSky(canvas: Canvas, theme: PlatformerTheme, leftPx: number, s: number): void {
  const { height, width } = canvas;
  for (let y = 0; y < height; y++) {
    fillRect(canvas, 0, y, width, y + 1, mix(theme.skyTop, theme.skyBottom, y / (height * 0.8)), DEPTH_FAR);
  }
  if (!theme.stars) return;
  // Stars sit on a half-tile lattice in the upper part of the sky; one pixel each.
  const cell = 0.5 * s;
  const shift = Math.floor(leftPx * PARALLAX_STARS);
  const i0 = Math.floor(shift / cell);
  for (let i = i0; i <= i0 + Math.ceil(width / cell) + 1; i++) {
    for (let j = 0; j < Math.floor((height * 0.55) / cell); j++) {
      const h = hash01(i, j + 7919);
      if (h > 0.1) continue;
      const x = Math.floor(i * cell - shift + hash01(i, j) * cell);
      const y = Math.floor(j * cell + hash01(j, i) * cell);
      if (x >= 0 && x < width && y >= 0 && y < height) setPixel(canvas, y * width + x, mix(0xfffbe0, theme.skyTop, h * 5), DEPTH_FAR);
    }
  }
}

/** Fill rows [y0, y1) (tile units) of one column. */
function fillSpan(canvas: Canvas, col: number, y0: number, y1: number, s: number, color: number, depth: number): void {
  fillRect(canvas, col, y0 * s, col + 1, y1 * s, color, depth);
}

/** One column of the far layer: a silhouette whose shape depends on the theme's style. */
function drawFarColumn(canvas: Canvas, theme: PlatformerTheme, col: number, fx: number, s: number): void {
  const bottom = VIEW_H;
  switch (theme.farStyle) {
    case "hills": {
      const top = 6.2 - 1.3 * Math.sin(fx * 0.33) - 0.7 * Math.sin(fx * 0.81 + 1.3);
      fillSpan(canvas, col, top, bottom, s, theme.farColor, DEPTH_FAR);
      fillSpan(canvas, col, top, top + 0.35, s, theme.farAccent, DEPTH_FAR);
      break;
    }
    case "dunes": {
      const top = 7 - 0.9 * Math.sin(fx * 0.45) - 0.5 * Math.sin(fx * 1.1 + 0.7);
      fillSpan(canvas, col, top, bottom, s, theme.farColor, DEPTH_FAR);
      fillSpan(canvas, col, top, top + 0.3, s, theme.farAccent, DEPTH_FAR);
      break;
    }
    case "mountains": {
      const i = Math.floor(fx / 5);
      const t = fx / 5 - i;
      const peak = 2.5 + 2.5 * hash01(i, 11);
      const top = 7.5 - peak * (1 - Math.abs(2 * t - 1));
      fillSpan(canvas, col, top, bottom, s, theme.farColor, DEPTH_FAR);
      fillSpan(canvas, col, top, Math.min(top + 0.8, 7.5), s, theme.farAccent, DEPTH_FAR);
      break;
    }
    case "pines": {
      const i = Math.floor(fx / 1.4);
      const t = fx / 1.4 - i;
      const h = 2.5 + 2 * hash01(i, 23);
      fillSpan(canvas, col, 8.5 - h + h * Math.abs(2 * t - 1), bottom, s, theme.farColor, DEPTH_FAR);
      break;
    }
    case "buildings": {
      const i = Math.floor(fx / 2);
      const t = fx / 2 - i;
      if (t > 0.82) break; // a sliver of sky between buildings
      const top = 8 - 1.5 - 4 * hash01(i, 31);
      fillSpan(canvas, col, top, bottom, s, theme.farColor, DEPTH_FAR);
      // Windows: a 0.4-tile grid, some lit.
      const wx = Math.floor(t * 5);
      if ((t * 5) % 1 < 0.45) break;
      for (let wy = Math.ceil(top / 0.5) + 1; wy * 0.5 < bottom - 1; wy++) {
        if (hash01(i * 7 + wx, wy) < 0.45) fillSpan(canvas, col, wy * 0.5, wy * 0.5 + 0.25, s, theme.farAccent, DEPTH_FAR);
      }
      break;
    }
    case "stalactites": {
      const i = Math.floor(fx / 1.1);
      const t = fx / 1.1 - i;
      const len = 1 + 3 * hash01(i, 41);
      fillSpan(canvas, col, 0, 0.8 + len * (1 - Math.abs(2 * t - 1)), s, theme.farColor, DEPTH_FAR);
      const j = Math.floor(fx / 3);
      const hill = 1.5 * hash01(j, 43) * Math.sin(Math.PI * (fx / 3 - j));
      fillSpan(canvas, col, 8 - hill, bottom, s, theme.farAccent, DEPTH_FAR);
      break;
    }
  }
}

/** One column of the mid layer: nearer, darker scenery in the theme's style. */
function drawMidColumn(canvas: Canvas, theme: PlatformerTheme, col: number, mx: number, s: number): void {
  const c = theme.midColor;
  const bottom = VIEW_H;
  switch (theme.midStyle) {
    case "bushes": {
      const i = Math.floor(mx / 3);
      const t = mx / 3 - i;
      if (hash01(i, 51) < 0.35) break;
      const bump = 1.3 * Math.sqrt(Math.max(0, 1 - (2 * t - 1) ** 2));
      if (bump > 0) fillSpan(canvas, col, 8.6 - bump, bottom, s, c, DEPTH_MID);
      break;
    }
    case "trees": {
      const i = Math.floor(mx / 3.5);
      const dx = mx - (i + 0.5) * 3.5;
      if (hash01(i, 53) < 0.3) break;
      const r = 1.1;
      const cy = 5.8 + hash01(i, 57);
      if (Math.abs(dx) < 0.18) fillSpan(canvas, col, cy, bottom, s, scale(c, 0.7), DEPTH_MID);
      if (Math.abs(dx) < r) {
        const half = Math.sqrt(r * r - dx * dx);
        fillSpan(canvas, col, cy - half * 1.3, cy + half * 0.9, s, c, DEPTH_MID);
      }
      break;
    }
    case "houses": {
      const i = Math.floor(mx / 4);
      const dx = mx - (i + 0.5) * 4;
      if (hash01(i, 61) < 0.3 || Math.abs(dx) > 1.3) break;
      const wall = 6.8 - hash01(i, 67);
      const roof = wall - 1.2 * (1 - Math.abs(dx) / 1.3);
      fillSpan(canvas, col, roof, bottom, s, c, DEPTH_MID);
      if (Math.abs(dx) > 0.3 && Math.abs(dx) < 0.8) fillSpan(canvas, col, wall + 0.5, wall + 1.1, s, theme.farAccent, DEPTH_MID);
      break;
    }
    case "cacti": {
      const i = Math.floor(mx / 4.5);
      const dx = mx - (i + 0.5) * 4.5;
      if (hash01(i, 71) < 0.3) break;
      const top = 6 + hash01(i, 73);
      if (Math.abs(dx) < 0.25) fillSpan(canvas, col, top, bottom, s, c, DEPTH_MID);
      else if (dx > 0.25 && dx < 0.75) fillSpan(canvas, col, top + 1, top + 1.35, s, c, DEPTH_MID);
      else if (dx >= 0.55 && dx < 0.85) fillSpan(canvas, col, top + 0.4, top + 1.35, s, c, DEPTH_MID);
      break;
    }
    case "rocks": {
      const i = Math.floor(mx / 2.5);
      const t = mx / 2.5 - i;
      const h = 2 * hash01(i, 79) * Math.sqrt(Math.max(0, 1 - (2 * t - 1) ** 2));
      if (h > 0.1) fillSpan(canvas, col, 9 - h, bottom, s, c, DEPTH_MID);
      break;
    }
  }
}

/**
 * A ground block: a top strip (grass/sand/snow), then a body speckled on a third-of-a-tile grid
 * so motion is visible even where the ground is flat. x0/x1/y0/y1 are pixels.
 */
function drawGround(canvas: Canvas, theme: PlatformerTheme, x0: number, y0: number, x1: number, y1: number, left: number, s: number): void {
  const [cx0, cx1] = pixelSpan(x0, x1, canvas.width);
  const [cy0, cy1] = pixelSpan(y0, y1, canvas.height);
  const stripEnd = y0 + 0.3 * s;
  const dark = scale(theme.groundBody, 0.78);
  for (let y = cy0; y < cy1; y++) {
    const top = y + 0.5 < stripEnd;
    const gy = Math.floor(((y + 0.5) / s) * 3);
    for (let x = cx0; x < cx1; x++) {
      let color = theme.groundTop;
      if (!top) {
        const gx = Math.floor((left + (x + 0.5) / s) * 3);
        color = hash01(gx, gy) < 0.18 ? dark : theme.groundBody;
      }
      setPixel(canvas, y * canvas.width + x, color, DEPTH_SOLID);
    }
  }
}
