/**
 * The terminal player (`worldkit play --tui`): the session runs in Node and each frame is drawn
 * with ANSI 24-bit colour half-blocks — one character cell shows two pixels stacked, "▀" with the
 * foreground the top pixel and the background the bottom one — RGB and depth side by side.
 *
 * Input is raw-mode stdin. Terminals report key presses, not releases, so a press plays its
 * action for `holdMs` (long enough to bridge the keyboard's auto-repeat delay, after which
 * repeats keep extending it), then the idle action returns. Arrows and space map to the actions bound to ArrowLeft…
 * and Space in actions.json; p pauses, r resets, q (or Ctrl-C) quits.
 */
import type { StepResult, WorldSession } from "../world/session.js";
import type { PlayerAction } from "./world-files.js";
import type { StartFrames } from "../world/start-frames.js";

export interface TuiOptions {
  session: WorldSession;
  start: StartFrames;
  actions: PlayerAction[];
  /** Code played when no key is pressed. */
  idleCode: number;
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  /** How long a key press lasts, ms. Default 600 (just over a typical auto-repeat delay). */
  holdMs?: number;
}

const KEYS: Record<string, string> = {
  "\x1b[A": "ArrowUp",
  "\x1b[B": "ArrowDown",
  "\x1b[C": "ArrowRight",
  "\x1b[D": "ArrowLeft",
  "\x1bOA": "ArrowUp",
  "\x1bOB": "ArrowDown",
  "\x1bOC": "ArrowRight",
  "\x1bOD": "ArrowLeft",
  " ": "Space",
};

/** Split a chunk of raw stdin into key names ("ArrowUp", "Space", "q", ...). */
export function parseKeys(chunk: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < chunk.length; ) {
    const three = chunk.slice(i, i + 3);
    if (KEYS[three]) {
      out.push(KEYS[three]);
      i += 3;
    } else {
      const c = chunk[i];
      out.push(KEYS[c] ?? (c === "\x03" ? "Ctrl-C" : c));
      i += 1;
    }
  }
  return out;
}

/** The action a key plays: the bound action whose key is exactly it, else undefined. */
export function actionOfKey(actions: PlayerAction[], key: string): PlayerAction | undefined {
  return actions.find((a) => a.key === key);
}

/** ANSI lines of one frame: RGB | depth, two pixel rows per line. */
export function renderFrame(f: Pick<StepResult, "rgb" | "depth">, height: number, width: number): string[] {
  const lines: string[] = [];
  const px = (row: number, col: number): [number, number, number] => {
    if (row >= height) return [0, 0, 0];
    if (col < width) {
      const i = (row * width + col) * 3;
      return [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]];
    }
    const v = Math.round(Math.min(1, Math.max(0, f.depth![row * width + col - width - 1])) * 255);
    return [v, v, v];
  };
  const cols = f.depth ? 2 * width + 1 : width;
  for (let row = 0; row < height; row += 2) {
    let line = "";
    for (let col = 0; col < cols; col++) {
      if (f.depth && col === width) {
        line += "\x1b[0m ";
        continue;
      }
      const [r1, g1, b1] = px(row, col);
      const [r2, g2, b2] = px(row + 1, col);
      line += `\x1b[38;2;${r1};${g1};${b1}m\x1b[48;2;${r2};${g2};${b2}m▀`;
    }
    lines.push(line + "\x1b[0m");
  }
  return lines;
}

/** Play until q or Ctrl-C. Resolves when the player has quit and the terminal is restored. */
export async function runTui(opts: TuiOptions): Promise<void> {
  const { session, input, output, actions, idleCode } = opts;
  const hold = opts.holdMs ?? 600;
  const { height, width } = session.tokenizerConfig;
  // Set from the stdin handler: typed wide so narrowing does not assume it stays null.
  let current = null as PlayerAction | null;
  let until = 0;
  let quit = false;
  let paused = false;
  let resetAsked = false;
  const onData = (chunk: Buffer | string) => {
    for (const key of parseKeys(chunk.toString())) {
      if (key === "q" || key === "Ctrl-C") quit = true;
      else if (key === "p") paused = !paused;
      else if (key === "r") resetAsked = true;
      else {
        const a = actionOfKey(actions, key);
        if (a) {
          current = a;
          until = performance.now() + hold;
        }
      }
    }
  };
  if (input.isTTY) input.setRawMode(true);
  input.resume();
  input.on("data", onData);
  output.write("\x1b[?25l\x1b[2J"); // hide the cursor, clear
  const legend = actions.filter((a) => a.key).map((a) => `${a.key.replace("Arrow", "")}=${a.label}`).join("  ");
  const times: number[] = [];
  let shown = await session.start(opts.start);
  let last = "idle";
  try {
    while (!quit) {
      const lines = renderFrame(shown, height, width);
      const now = performance.now();
      while (times.length && now - times[0] > 1000) times.shift();
      const fps = times.length > 1 ? ((times.length - 1) * 1000) / (times[times.length - 1] - times[0]) : 0;
      const status = `fps ${fps.toFixed(1)} · step ${shown.ms.toFixed(1)} ms · ${last}${paused ? " · PAUSED" : ""}`;
      output.write(`\x1b[H${lines.join("\n")}\n\x1b[2K${status}\n\x1b[2K${legend}  p=pause r=reset q=quit\n`);
      // Let stdin events in between frames, so keys are seen even when steps are fast.
      await new Promise((r) => setImmediate(r));
      if (resetAsked) {
        resetAsked = false;
        shown = await session.reset();
        times.length = 0;
        continue;
      }
      if (paused) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const a: PlayerAction | null = performance.now() < until ? current : null;
      shown = await session.step(a ? a.code : idleCode);
      last = a ? `${a.label} (code ${a.code})` : `idle (code ${idleCode})`;
      times.push(performance.now());
    }
  } finally {
    input.off("data", onData);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    output.write("\x1b[0m\x1b[?25h\n");
  }
}
