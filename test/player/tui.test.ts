/**
 * The terminal player under tmux: it draws the frame in 24-bit colour half-blocks with an fps
 * line, an arrow key plays its action and the frame changes, q quits. Skipped without tmux.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { actionOfKey, parseKeys, renderFrame } from "../../src/player/tui.js";
import { TEST_ACTIONS, writeTestWorld } from "./test-world.js";

const hasTmux = spawnSync("tmux", ["-V"]).status === 0;
if (!hasTmux) console.warn("tui.test: the tmux part is skipped, tmux is missing (apt-get install -y tmux; .ci/run does)");

const dir = mkdtempSync(join(tmpdir(), "wk-tui-"));
const socket = `wk-tui-test-${process.pid}`; // a server of our own: never touches anyone's tmux
const tmux = (...args: string[]) => execFileSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
const capture = () => tmux("capture-pane", "-p", "-e", "-t", "play");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: (screen: string) => boolean, ms = 40_000): Promise<string> {
  const until = Date.now() + ms;
  let screen = "";
  while (Date.now() < until) {
    screen = capture();
    if (ok(screen)) return screen;
    await sleep(150);
  }
  throw new Error(`tui.test: timed out waiting for ${what}; the pane shows:\n${screen}`);
}

/** The frame lines (everything above the fps line). */
const frameOf = (screen: string) => screen.split("\n").filter((l) => l.includes("▀")).join("\n");

beforeAll(async () => {
  await initDevice();
  await writeTestWorld(dir);
});
afterAll(() => {
  if (hasTmux) spawnSync("tmux", ["-L", socket, "kill-server"]);
  rmSync(dir, { recursive: true, force: true });
});

describe("terminal player pieces", () => {
  it("parses arrow escapes, space and letters; maps keys to bound actions", () => {
    expect(parseKeys("\x1b[C\x1b[D \x1bOAq\x03")).toEqual(["ArrowRight", "ArrowLeft", "Space", "ArrowUp", "q", "Ctrl-C"]);
    const actions = TEST_ACTIONS.map(({ code, label, key }) => ({ code, label, key }));
    expect(actionOfKey(actions, "ArrowRight")?.code).toBe(2);
    expect(actionOfKey(actions, "ArrowUp")).toBeUndefined();
  });

  it("renders two pixel rows per line: fg = top pixel, bg = bottom pixel, depth beside", () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]); // 2×2
    const lines = renderFrame({ rgb, depth: Float32Array.from([0, 1, 0.5, 1]) }, 2, 2);
    expect(lines).toEqual([
      "\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m▀\x1b[38;2;0;255;0m\x1b[48;2;10;20;30m▀\x1b[0m " +
        "\x1b[38;2;0;0;0m\x1b[48;2;128;128;128m▀\x1b[38;2;255;255;255m\x1b[48;2;255;255;255m▀\x1b[0m",
    ]);
  });
});

describe.skipIf(!hasTmux)("worldkit play --tui under tmux", () => {
  it("draws frames with an fps line, responds to arrow keys, quits on q", async () => {
    const cmd = `npx tsx --import ./src/core/worker-shim.ts test/player/run-cli.ts play --tui --world ${dir} --seed 3`;
    tmux("new-session", "-d", "-s", "play", "-x", "100", "-y", "30", "-c", process.cwd(), cmd);
    const first = await waitFor("the first frames and a non-zero fps", (s) => /fps [1-9]\d*\.\d|fps 0\.[1-9]/.test(s) && frameOf(s).length > 0);
    // 16×16 RGB | depth: 8 lines of 16 + 1 + 16 half-blocks, in 24-bit colour.
    const frame = frameOf(first).split("\n");
    expect(frame.length).toBe(8);
    expect(frame[0].match(/▀/g)!.length).toBe(32);
    expect(frame[0]).toMatch(/\x1b\[38;2;\d+;\d+;\d+m/);
    expect(first).toContain("Left=left  Right=right  Space=jump");
    tmux("send-keys", "-t", "play", "Right");
    const moved = await waitFor("the right action", (s) => s.includes("right (code 2)"));
    expect(frameOf(moved)).not.toBe(frameOf(first));
    tmux("send-keys", "-t", "play", "Left");
    await waitFor("the left action", (s) => s.includes("left (code 1)"));
    tmux("send-keys", "-t", "play", "q");
    const until = Date.now() + 15_000;
    while (spawnSync("tmux", ["-L", socket, "has-session", "-t", "play"]).status === 0 && Date.now() < until) await sleep(100);
    expect(spawnSync("tmux", ["-L", socket, "has-session", "-t", "play"]).status).not.toBe(0); // q ended the player
  });
});
