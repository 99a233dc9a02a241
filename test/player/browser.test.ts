/**
 * The player page in Debian's chromium (driven by playwright-core; CI apt-installs it), on the
 * tiny test world: it becomes playable on onnxruntime-web (wasm, its runtime from our own
 * server), a mapped key changes the frame, an fps figure appears; with onnxruntime-web's files
 * unreachable it plays on jax-js and says so; a typed prompt starts the world over from a
 * dreamed frame, and an unknown word is named. Screenshots are saved to a temp folder (their
 * paths are printed) for a person to look at. The last test plays the bundled default world
 * (models/default) the same way.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { WEB_DIR } from "../../src/cli/play.js";
import { startServer } from "../../src/player/server.js";
import type { PlayerServer } from "../../src/player/server.js";
import { encodePng } from "../../src/data/png.js";
import { writeTestWorld } from "./test-world.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser.test: skipped, ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does)`);

const root = mkdtempSync(join(tmpdir(), "wk-browser-"));
let server: PlayerServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
let uploadedStart = "";

// Page-side code as strings: this file is type-checked with Node types, not DOM ones.
const canvasPixels = (p: Page) => p.evaluate<string>(`document.getElementById("screen").toDataURL()`);
const steps = (p: Page) => p.evaluate<number>(`Number(document.body.dataset.steps ?? 0)`);
const stepsReach = (p: Page, k: number) => p.waitForFunction(`Number(document.body.dataset.steps) >= ${k}`, undefined, { timeout: 30_000 });

beforeAll(async () => {
  if (!hasChromium) return;
  await initDevice();
  // `npm test` builds the page first; a bare `vitest run` builds it here when it is missing.
  if (!existsSync(join(WEB_DIR, "index.html"))) execFileSync("npx", ["vite", "build", "--config", "web/vite.config.ts", "--logLevel", "warn"], { stdio: "inherit" });
  mkdirSync(join(root, "world"));
  await writeTestWorld(join(root, "world"), { prompt: true });
  server = await startServer({ worldDir: join(root, "world"), webDir: WEB_DIR, port: 0 });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!hasChromium)("player page in chromium", () => {
  it("becomes playable, reports its device, and runs with an fps figure", async () => {
    const t0 = Date.now();
    await page.goto(server.url);
    await page.waitForSelector('#status[data-state="playing"]', { timeout: 60_000 });
    const readyMs = Date.now() - t0;
    await page.waitForFunction(`/^fps \\d+\\.\\d$/.test(document.getElementById("fps").textContent)`, undefined, { timeout: 30_000 });
    const fps = await page.textContent("#fps");
    const device = await page.textContent("#device");
    console.log(`browser.test: playable after ${readyMs} ms; ${fps}; ${await page.textContent("#ms")}; device ${device}`);
    // Split: the session worker samples, the decoder worker decodes; cross-origin isolated: no "(not isolated)".
    expect(device).toMatch(/^onnxruntime-web · wasm, int8, \d+ threads? \+ decoder worker, 1 thread$/);
    expect(await page.isHidden("#notice")).toBe(true); // no fallback
    expect(Number(fps!.slice(4))).toBeGreaterThan(0);
    // Buttons show each bound action's label and code.
    const buttons = await page.$$eval("#actions button", (bs) => bs.map((b) => b.textContent));
    expect(buttons).toEqual(["noop code 0 · idle", "left code 1 · Left", "right code 2 · Right", "jump code 3 · Space"]);
    expect(pageErrors).toEqual([]);
  });

  it("paused, a mapped key plays one step of its action and the frame changes", async () => {
    await page.keyboard.press("KeyP");
    await page.waitForSelector('#status[data-state="paused"]');
    // Let a step still in flight land, then the canvas is still.
    let n = -1;
    while (n !== (n = await steps(page))) await page.waitForTimeout(300);
    const before = await canvasPixels(page);
    await page.waitForTimeout(200);
    expect(await canvasPixels(page)).toBe(before);
    await page.keyboard.press("ArrowRight");
    await stepsReach(page, n + 1);
    expect(await steps(page)).toBe(n + 1); // paused: exactly one step
    expect(await page.textContent("#last")).toBe("right (code 2)");
    const after = await canvasPixels(page);
    expect(after).not.toBe(before);
    expect(pageErrors).toEqual([]);
  });

  it("starts over from an uploaded PNG (decoded in the page); refuses non-images and files over 2 MB", async () => {
    const shown = await canvasPixels(page);
    const rgb = new Uint8Array(40 * 30 * 3).map((_, i) => (i % 3 === 0 ? 250 : i % 3 === 1 ? 40 : 20)); // a red 40×30 image
    await page.setInputFiles("#upload", { name: "red.png", mimeType: "image/png", buffer: Buffer.from(encodePng(rgb, 40, 30)) });
    await page.waitForFunction(`document.getElementById("last").textContent === "start"`, undefined, { timeout: 30_000 });
    uploadedStart = await canvasPixels(page);
    expect(uploadedStart).not.toBe(shown);
    expect(await page.isHidden("#error")).toBe(true);
    await page.setInputFiles("#upload", { name: "notes.png", mimeType: "image/png", buffer: Buffer.from("not an image at all") });
    await page.waitForSelector("#error:not([hidden])");
    expect(await page.textContent("#error")).toBe("notes.png is not a PNG or JPEG image");
    await page.setInputFiles("#upload", { name: "big.png", mimeType: "image/png", buffer: Buffer.alloc(2 * 1024 * 1024 + 1) });
    await page.waitForFunction(`document.getElementById("error").textContent.startsWith("big.png")`);
    expect(await page.textContent("#error")).toBe("big.png is 2.1 MB; the limit is 2 MB");
    expect(await page.getAttribute("#status", "data-state")).toBe("paused"); // still playable
  });

  it("plays on when unpaused, saves a screenshot; reset goes back to the start frame", async () => {
    const n = await steps(page);
    await page.click("#pause");
    await stepsReach(page, n + 4);
    const dir = mkdtempSync(join(tmpdir(), "wk-player-shot-"));
    const shot = join(dir, "player.png");
    await page.screenshot({ path: shot });
    console.log(`browser.test: screenshot ${shot}`);
    expect(existsSync(shot)).toBe(true);
    await page.click("#pause");
    await page.click("#reset");
    await page.waitForFunction(`document.getElementById("last").textContent === "start"`, undefined, { timeout: 30_000 });
    expect(await canvasPixels(page)).toBe(uploadedStart);
    expect(pageErrors).toEqual([]);
  });

  it("dreams from a typed prompt, keeps typed keys in the box, plays on; an unknown word is named", async () => {
    const text = (sel: string) => page.textContent(sel);
    expect(await page.isVisible("#dream")).toBe(true);
    expect(await page.$$eval("#examples button", (bs) => bs.map((b) => b.textContent))).toEqual([
      "a day level with one coin on the right, one enemy in the middle and two platforms",
      "a night level with two coins in the middle, two enemies on the left and two platforms",
    ]);
    expect(await page.getAttribute("#status", "data-state")).toBe("paused");
    const n = await steps(page);
    const before = await canvasPixels(page);
    // Arrow keys, space and letters typed into the box stay there: no step, no pause toggle.
    await page.fill("#prompt", "a night level with three coins");
    await page.focus("#prompt");
    for (const key of ["ArrowRight", "Space", "KeyP", "ArrowLeft"]) await page.keyboard.press(key);
    expect(await page.inputValue("#prompt")).toBe("a night level with three coins p");
    expect(await page.getAttribute("#status", "data-state")).toBe("paused");
    await page.fill("#prompt", "A night level with 3 coins.");
    await page.keyboard.press("Enter");
    await page.waitForFunction(`document.getElementById("last").textContent === "start (dreamed from text)"`, undefined, { timeout: 60_000 });
    expect(await page.getAttribute("#status", "data-state")).toBe("paused");
    expect(await steps(page)).toBe(n);
    const dreamed = await canvasPixels(page);
    expect(dreamed).not.toBe(before);
    // Submitting gave the keys back to the world: one press, one step of its action.
    await page.keyboard.press("ArrowRight");
    await stepsReach(page, n + 1);
    expect(await text("#last")).toBe("right (code 2)");
    expect(await canvasPixels(page)).not.toBe(dreamed);
    // An example dreams at once; the same text again is a new sample (the seed moves on).
    const examples = await page.$$("#examples button");
    const frames: string[] = [];
    for (let i = 0; i < 2; i++) {
      await examples[0].click();
      await page.waitForFunction(`document.getElementById("last").textContent === "start (dreamed from text)"`, undefined, { timeout: 60_000 });
      frames.push(await canvasPixels(page));
      await page.keyboard.press("ArrowRight");
      await stepsReach(page, n + 2 + i);
    }
    expect(await page.inputValue("#prompt")).toBe("a day level with one coin on the right, one enemy in the middle and two platforms");
    expect(frames[1]).not.toBe(frames[0]);
    // An unknown word: named in a visible error, the known words listed, the session untouched.
    const shown = await canvasPixels(page);
    await page.fill("#prompt", "a dragon level with three coins");
    await page.press("#prompt", "Enter");
    await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
    const error = await text("#error");
    expect(error).toMatch(/^unknown word "dragon" in the prompt\. The prompt model knows \d+ words: a, and, coin, coins, day, /);
    expect(await page.getAttribute("#status", "data-state")).toBe("paused");
    expect(await canvasPixels(page)).toBe(shown);
    const shotDir = mkdtempSync(join(tmpdir(), "wk-player-shot-"));
    await page.screenshot({ path: join(shotDir, "player-prompt-error.png") });
    console.log(`browser.test: screenshot ${join(shotDir, "player-prompt-error.png")}`);
    await page.keyboard.press("ArrowLeft");
    await stepsReach(page, n + 4);
    expect(await text("#last")).toBe("left (code 1)");
    expect(pageErrors).toEqual([]);
  });

  it("falls back to jax-js when onnxruntime-web cannot load, and says so", async () => {
    const p = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const ortFiles: string[] = [];
    await p.route("**/ort/**", (route) => {
      ortFiles.push(new URL(route.request().url()).pathname);
      return route.abort();
    });
    await p.goto(server.url);
    await p.waitForSelector('#status[data-state="playing"]', { timeout: 60_000 });
    expect(ortFiles.length).toBeGreaterThan(0); // it did try our own server, and nothing else
    expect(await p.textContent("#device")).toMatch(/^jax-js · wasm, \d+ threads?$/);
    expect(await p.textContent("#notice")).toMatch(/^onnxruntime-web is not running \(.+\); playing on jax-js instead/);
    const n = await steps(p);
    await stepsReach(p, n + 2);
    await p.close();
  });

  it("?split=0 keeps the decoder in the session worker (one step in flight) and plays", async () => {
    const p = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    await p.goto(`${server.url}?split=0`);
    await p.waitForSelector('#status[data-state="playing"]', { timeout: 60_000 });
    expect(await p.textContent("#device")).toMatch(/^onnxruntime-web · wasm, int8, \d+ threads?$/);
    const n = await steps(p);
    await stepsReach(p, n + 2);
    await p.close();
  });

  it("plays the bundled default world (models/default): a key changes the frame, fps shown, screenshot saved", async () => {
    const own = await startServer({ worldDir: "models/default", webDir: WEB_DIR, port: 0 });
    const p = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    try {
      const t0 = Date.now();
      await p.goto(own.url);
      await p.waitForSelector('#status[data-state="playing"]', { timeout: 60_000 });
      const readyMs = Date.now() - t0;
      await p.waitForFunction(`/^fps \\d+\\.\\d$/.test(document.getElementById("fps").textContent)`, undefined, { timeout: 30_000 });
      const fps = await p.textContent("#fps");
      expect(Number(fps!.slice(4))).toBeGreaterThan(0);
      expect(await p.textContent("#device")).toMatch(/^onnxruntime-web · wasm, int8, \d+ threads? \+ decoder worker, 1 thread$/);
      const labels = await p.$$eval("#actions button", (bs) => bs.map((b) => b.textContent));
      expect(labels.some((l) => /^right code \d+ · Right$/.test(l ?? ""))).toBe(true);
      await p.keyboard.press("KeyP");
      await p.waitForSelector('#status[data-state="paused"]');
      // A step of this bigger world can still be in flight after the pause (~0.1 s idle, more
      // on a loaded CI machine): wait until a whole second passes without one.
      let n = -1;
      while (n !== (n = await steps(p))) await p.waitForTimeout(1000);
      const before = await canvasPixels(p);
      await p.keyboard.press("ArrowRight");
      await p.waitForFunction(`/^right \\(code \\d+\\)$/.test(document.getElementById("last").textContent)`, undefined, { timeout: 30_000 });
      expect(await steps(p)).toBe(n + 1);
      expect(await canvasPixels(p)).not.toBe(before);
      const shot = join(mkdtempSync(join(tmpdir(), "wk-player-default-")), "default-world.png");
      await p.screenshot({ path: shot });
      console.log(`browser.test: models/default playable after ${readyMs} ms; ${fps}; ${await p.textContent("#ms")}; screenshot ${shot}`);
      expect(errors).toEqual([]);
    } finally {
      await p.close();
      await own.close();
    }
  });
});
