/**
 * Captions: a short English description of one frame, written from the world's ground-truth
 * state, e.g. "a night level with three coins on the right, one enemy in the middle, two
 * platforms and a gap ahead". They are the text half of the (caption, frame) pairs the prompt
 * model (src/models/prompt.ts) trains on, so they only say what the frame shows and use a small,
 * fixed set of words: a theme name, counts as words ("one" … "nine", "many"), and where things
 * are ("on the left", "in the middle", "on the right", "on both sides").
 *
 * Deterministic: the same state gives the same caption (no randomness, no phrasing variants).
 * `captionFacts` reads the checkable facts (theme, counts) back out of any caption text, so the
 * evaluation can compare a generated frame with the prompt it was made from.
 */
import { MAZE_LANDMARKS, PLATFORMER_THEMES } from "./palette.js";
import type { WorldState } from "./types.js";

/** Count words 0..9; larger counts are "many". */
export const COUNT_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"] as const;

/** "no", "one", …, "nine", "many". */
export function countWord(n: number): string {
  return n < COUNT_WORDS.length ? COUNT_WORDS[n] : "many";
}

/** "one coin", "three coins", "no coins". */
function counted(n: number, singular: string, plural: string): string {
  return `${countWord(n)} ${n === 1 ? singular : plural}`;
}

/** Where a group of objects sits, from their x positions as fractions (0..1) of the view width. */
export function whereWords(fractions: readonly number[]): string {
  if (fractions.length === 0) return "";
  const side = (f: number): number => (f < 0.4 ? -1 : f > 0.6 ? 1 : 0);
  const sides = new Set(fractions.map(side));
  if (sides.has(-1) && sides.has(1)) return "on both sides";
  if (sides.size > 1) return sides.has(-1) ? "on the left" : "on the right";
  const s = [...sides][0];
  return s < 0 ? "on the left" : s > 0 ? "on the right" : "in the middle";
}

interface Positioned {
  x: number;
}

/** View width of the platformer in tiles (its VIEW_H; the state's x are in tiles). */
const PLATFORMER_VIEW_TILES = 12;

function platformerCaption(s: WorldState): string {
  const theme = String(s.theme);
  const left = Number(s.cameraX);
  const frac = (o: Positioned): number => (o.x - left) / PLATFORMER_VIEW_TILES;
  const coins = (s.coins as (Positioned & { collected: boolean })[]).filter((c) => !c.collected);
  const enemies = (s.enemies as (Positioned & { alive: boolean })[]).filter((e) => e.alive);
  const visible = s.visible as { platforms: number; gapAhead: boolean };
  const parts: string[] = [];
  const group = (items: Positioned[], one: string, many: string): string => {
    const where = whereWords(items.map(frac));
    return counted(items.length, one, many) + (where ? ` ${where}` : "");
  };
  parts.push(group(coins, "coin", "coins"));
  parts.push(group(enemies, "enemy", "enemies"));
  parts.push(counted(visible.platforms, "platform", "platforms"));
  if (visible.gapAhead) parts.push("a gap ahead");
  const last = parts.pop()!;
  return `a ${theme} level with ${parts.join(", ")} and ${last}`;
}

function maze3dCaption(s: WorldState): string {
  const landmark = s.landmark as { name: string; distance: number } | null;
  const ahead = Number(s.distanceAhead);
  const corridor = ahead < 1 ? "a wall right ahead" : ahead < 3 ? "a wall a few steps ahead" : "a long corridor ahead";
  const sight = landmark ? `the ${landmark.name} ${landmark.distance < 2.5 ? "close by" : "in the distance"}` : "no landmark in view";
  return `a maze with ${corridor} and ${sight}`;
}

function bounceCaption(s: WorldState): string {
  const balls = s.balls as { color: string }[];
  const colours = [...new Set(balls.map((b) => b.color))];
  const list = colours.length <= 1 ? (colours[0] ?? "") : `${colours.slice(0, -1).join(", ")} and ${colours[colours.length - 1]}`;
  const what = balls.length === 0 ? "no balls" : `${counted(balls.length, "ball", "balls")}${list ? ` (${list})` : ""}`;
  return `a ${String(s.backdrop)} arena with ${what}`;
}

/** Worlds `captionOf` can describe (others, such as test worlds, get no captions.jsonl). */
export const CAPTIONED_WORLDS: readonly string[] = ["platformer", "maze3d", "bounce"];

/** The caption of a frame from its state record (as the dataset stores it); throws for unknown worlds. */
export function captionOf(state: WorldState): string {
  switch (state.world) {
    case "platformer":
      return platformerCaption(state);
    case "maze3d":
      return maze3dCaption(state);
    case "bounce":
      return bounceCaption(state);
    default:
      throw new Error(`captions.ts: no captions for world ${JSON.stringify(state.world)} (state keys: ${Object.keys(state).join(", ")})`);
  }
}

/** The facts a caption states that a detector can check; absent when the caption does not say. */
export interface CaptionFacts {
  /** Platformer theme name ("day", "night", …). */
  theme?: string;
  coins?: number;
  enemies?: number;
  /** Maze landmark name ("red door", …), or null for "no landmark". */
  landmark?: string | null;
}

/** Lower-case words, punctuation stripped (the same normalisation the prompt vocabulary uses). */
export function captionWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9\s]+/g, " ")
    .split(/\s+/)
    .filter((w) => w.length > 0);
}

/** The number a count word (or digits) stands for; undefined otherwise. */
function countOf(word: string): number | undefined {
  const i = (COUNT_WORDS as readonly string[]).indexOf(word);
  if (i >= 0) return i;
  if (word === "a" || word === "an") return 1;
  return /^\d+$/.test(word) ? Number(word) : undefined;
}

/** Read theme and object counts out of a caption or a user's prompt ("a day level with 2 coins"). */
export function captionFacts(text: string): CaptionFacts {
  const words = captionWords(text);
  const facts: CaptionFacts = {};
  const theme = PLATFORMER_THEMES.find((t) => words.includes(t.name));
  if (theme) facts.theme = theme.name;
  words.forEach((w, i) => {
    const n = i > 0 ? countOf(words[i - 1]) : undefined;
    if (n === undefined) return;
    if (w === "coin" || w === "coins") facts.coins = n;
    if (w === "enemy" || w === "enemies") facts.enemies = n;
  });
  const joined = words.join(" ");
  const lm = MAZE_LANDMARKS.find((l) => joined.includes(l.name));
  if (lm) facts.landmark = lm.name;
  else if (joined.includes("no landmark")) facts.landmark = null;
  return facts;
}
