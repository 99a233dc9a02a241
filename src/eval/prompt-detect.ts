/**
 * A detector written for our platformer: reads a frame's theme and its coin and enemy counts
 * back from pixels, so a frame generated from a prompt can be checked against the prompt.
 *
 * Theme: the theme whose palette (sky gradient, scenery, ground, platforms, sprites) explains
 * the pixels best (least mean squared distance from each pixel to its nearest palette colour).
 * Counts: each pixel takes the label of its nearest colour in that theme's palette; coins are
 * connected blobs of coin/rim pixels, enemies blobs of the enemy colour, each at least a
 * minimum size (a 64×64 frame draws a coin as ~3×3 pixels and an enemy as ~5×4).
 *
 * Dimension keys: H,W pixels.
 */
import { PLATFORMER_THEMES } from "../worlds/palette.js";
import type { PlatformerTheme } from "../worlds/palette.js";

type Label = "coin" | "enemy" | "other";

interface PaletteEntry {
  rgb: [number, number, number];
  label: Label;
}

function unpack(c: number): [number, number, number] {
  return [(c >> 16) & 255, (c >> 8) & 255, c & 255];
}

function mixColour(a: number, b: number, t: number): number {
  const [ar, ag, ab] = unpack(a);
  const [br, bg, bb] = unpack(b);
  return (Math.round(ar + (br - ar) * t) << 16) | (Math.round(ag + (bg - ag) * t) << 8) | Math.round(ab + (bb - ab) * t);
}

/** Every colour a theme draws with, labelled; the sky gradient sampled at five heights. */
function paletteOf(t: PlatformerTheme): PaletteEntry[] {
  const other = [0, 0.25, 0.5, 0.75, 1].map((f) => mixColour(t.skyTop, t.skyBottom, f));
  other.push(t.farColor, t.farAccent, t.midColor, t.groundTop, t.groundBody, t.platform, t.platformEdge, t.player, t.playerDetail, 0xffffff, 0x000000);
  // The renderer shades scenery (tree trunks, far layers) darker; without these, a dark enemy
  // colour would be the nearest entry for them.
  for (const c of [t.farColor, t.midColor, t.groundBody]) other.push(mixColour(c, 0, 0.3));
  return [
    ...other.map((c) => ({ rgb: unpack(c), label: "other" as const })),
    { rgb: unpack(t.coin), label: "coin" },
    { rgb: unpack(t.coinRim), label: "coin" },
    { rgb: unpack(t.enemy), label: "enemy" },
  ];
}

const PALETTES = PLATFORMER_THEMES.map(paletteOf);
/** Largest squared RGB distance of a pixel counted as a coin or enemy pixel (40 per channel-ish). */
const SPRITE_MAX_D2 = 45 * 45;

export interface DetectorOptions {
  /** Smallest coin blob in pixels, at 64×64 (scaled by area for other sizes). Default 2. */
  minCoinPixels?: number;
  /** Smallest enemy blob in pixels, at 64×64. Default 5. */
  minEnemyPixels?: number;
}

export interface Detection {
  theme: string;
  coins: number;
  enemies: number;
}

function nearest(palette: PaletteEntry[], r: number, g: number, b: number): { index: number; d2: number } {
  let index = 0;
  let d2 = Infinity;
  palette.forEach((p, i) => {
    const d = (p.rgb[0] - r) ** 2 + (p.rgb[1] - g) ** 2 + (p.rgb[2] - b) ** 2;
    if (d < d2) {
      d2 = d;
      index = i;
    }
  });
  return { index, d2 };
}

/** The theme whose palette explains the frame best (rgb: H·W·3 bytes). */
export function detectTheme(rgb: Uint8Array): string {
  let best = 0;
  let bestErr = Infinity;
  PALETTES.forEach((pal, ti) => {
    let err = 0;
    for (let i = 0; i < rgb.length; i += 3) err += nearest(pal, rgb[i], rgb[i + 1], rgb[i + 2]).d2;
    if (err < bestErr) {
      bestErr = err;
      best = ti;
    }
  });
  return PLATFORMER_THEMES[best].name;
}

/** Sizes of the 8-connected blobs of `mask` (H·W, 1 = in). */
export function blobSizes(mask: Uint8Array, H: number, W: number): number[] {
  const seen = new Uint8Array(H * W);
  const sizes: number[] = [];
  const stack: number[] = [];
  for (let start = 0; start < H * W; start++) {
    if (!mask[start] || seen[start]) continue;
    let size = 0;
    stack.push(start);
    seen[start] = 1;
    while (stack.length) {
      const i = stack.pop()!;
      size++;
      const y = Math.floor(i / W);
      const x = i % W;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const j = yy * W + xx;
          if (mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
    }
    sizes.push(size);
  }
  return sizes;
}

/** Theme, coins and enemies of one H×W RGB frame (H·W·3 bytes). */
export function detectPlatformer(rgb: Uint8Array, H: number, W: number, opts: DetectorOptions = {}): Detection {
  if (rgb.length !== H * W * 3) throw new Error(`prompt-detect.ts: ${rgb.length} bytes for a ${H}×${W} RGB frame (expected ${H * W * 3})`);
  const theme = detectTheme(rgb);
  const pal = PALETTES[PLATFORMER_THEMES.findIndex((t) => t.name === theme)];
  const coinMask = new Uint8Array(H * W);
  const enemyMask = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) {
    const near = nearest(pal, rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]);
    // A sprite pixel must be close to its colour, not merely closer than the rest: dark enemy
    // colours (snow) are otherwise the nearest entry for shadowed scenery.
    const label = near.d2 <= SPRITE_MAX_D2 ? pal[near.index].label : "other";
    if (label === "coin") coinMask[i] = 1;
    else if (label === "enemy") enemyMask[i] = 1;
  }
  const area = (H * W) / (64 * 64);
  const minCoin = Math.max(1, Math.round((opts.minCoinPixels ?? 2) * area));
  const minEnemy = Math.max(1, Math.round((opts.minEnemyPixels ?? 5) * area));
  return {
    theme,
    coins: blobSizes(coinMask, H, W).filter((s) => s >= minCoin).length,
    enemies: blobSizes(enemyMask, H, W).filter((s) => s >= minEnemy).length,
  };
}
