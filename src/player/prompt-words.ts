/**
 * The player's side of a text prompt: checking a typed prompt against the prompt model's
 * vocabulary, and example prompts to click. No Node imports: the session worker uses both.
 *
 * The model itself reads an unknown word as <unk> and never fails (src/models/prompt.ts); a
 * person typing into the page is better served by being told which word it does not know, since
 * <unk> carries no meaning and the frame would ignore what they asked for.
 *
 * Examples follow the captioners' grammar (src/worlds/captions.ts) for every captioned world,
 * and only those whose words are all in the vocabulary are offered: a platformer-only model gets
 * platformer prompts in the themes it was trained on, a maze model maze prompts.
 */
import { normalizeWords, SPECIAL_WORDS } from "../models/prompt.js";
import { countWord } from "../worlds/captions.js";
import { BALL_COLORS, BOUNCE_BACKDROPS, MAZE_LANDMARKS, PLATFORMER_THEMES } from "../worlds/palette.js";

/** Known words listed in an error, at most (a full list is hard to read past this). */
const MAX_LISTED = 40;

/** Words of `text` (as the model normalises them) that are not in `vocab`, each once, in order. */
export function unknownPromptWords(vocab: readonly string[], text: string): string[] {
  const known = new Set(vocab);
  return [...new Set(normalizeWords(text).filter((w) => !known.has(w)))];
}

/** Levenshtein distance, to suggest the known word a typo was meant to be. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** Throw a message a person can act on when `text` is empty or has words the model does not know. */
export function checkPrompt(vocab: readonly string[], text: string): void {
  const words = vocab.filter((w) => !(SPECIAL_WORDS as readonly string[]).includes(w));
  if (normalizeWords(text).length === 0) {
    const example = examplePrompts(vocab, 1)[0];
    throw new Error(`the prompt is empty; describe a first frame${example ? `, e.g. "${example}"` : ""}`);
  }
  const unknown = unknownPromptWords(vocab, text);
  if (unknown.length === 0) return;
  const hints = unknown.flatMap((u) => {
    const best = words.reduce((b, w) => (editDistance(u, w) < editDistance(u, b) ? w : b), words[0]);
    return best !== undefined && editDistance(u, best) <= 2 ? [`"${u}" → "${best}"?`] : [];
  });
  const sorted = [...words].sort();
  const listed = sorted.slice(0, MAX_LISTED).join(", ") + (sorted.length > MAX_LISTED ? ", …" : "");
  throw new Error(
    `unknown word${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `"${u}"`).join(", ")} in the prompt` +
      `${hints.length ? ` (did you mean ${hints.join(" ")})` : ""}. The prompt model knows ${words.length} words: ${listed}`,
  );
}

/** "one coin", "three coins" (the captioners' counting). */
function counted(n: number, one: string, many: string): string {
  return `${countWord(n)} ${n === 1 ? one : many}`;
}

/** Candidate prompts per captioned world, in the grammar of src/worlds/captions.ts. */
function candidates(): string[][] {
  const where = ["on the right", "in the middle", "on the left"];
  const platformer = PLATFORMER_THEMES.map((t, i) => {
    const enemies = (i + 1) % 3;
    const enemyPart = counted(enemies, "enemy", "enemies") + (enemies ? ` ${where[(i + 1) % 3]}` : "");
    return `a ${t.name} level with ${counted(1 + (i % 3), "coin", "coins")} ${where[i % 3]}, ${enemyPart} and two platforms`;
  });
  const maze = MAZE_LANDMARKS.map((l, i) => `a maze with ${i % 2 ? "a wall a few steps ahead" : "a long corridor ahead"} and the ${l.name} ${i % 2 ? "close by" : "in the distance"}`);
  const bounce = BOUNCE_BACKDROPS.map((b, i) => {
    const [c1, c2] = [BALL_COLORS[i % BALL_COLORS.length].name, BALL_COLORS[(i + 2) % BALL_COLORS.length].name];
    return `a ${b.name} arena with two balls (${c1} and ${c2})`;
  });
  return [platformer, maze, bounce];
}

/** Up to `count` example prompts the model can read word for word, taking turns between worlds. */
export function examplePrompts(vocab: readonly string[], count = 4): string[] {
  const fits = candidates().map((list) => list.filter((p) => unknownPromptWords(vocab, p).length === 0));
  const out: string[] = [];
  for (let i = 0; out.length < count && fits.some((list) => i < list.length); i++) {
    for (const list of fits) if (i < list.length && out.length < count) out.push(list[i]);
  }
  return out;
}
