/**
 * Frames per second of the browser player in headless chromium (Debian's /usr/bin/chromium via
 * playwright-core; never a downloaded browser): the built page (`npm run build`) served by our
 * own server, one line of JSON per page query (the player's URL options: ?threads=N, ?passes=N,
 * ?int8=0, ?backend=jax). Not part of `npm run bench` (it needs chromium and a built page):
 *
 *   npx tsx --import ./src/core/worker-shim.ts bench/browser.ts models/default "?threads=2" "?threads=2&passes=1"
 *
 * readyMs: page open → playing; fps over 5 s of play after the first 10 steps.
 */
import { chromium } from "playwright-core";
import { startServer } from "../src/player/server.js";
import { WEB_DIR } from "../src/cli/play.js";
const world = process.argv[2];
const queries = process.argv.slice(3);
const server = await startServer({ worldDir: world, webDir: WEB_DIR, port: 0 });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--headless", "--disable-gpu"] });
for (const q of queries) {
  const page = await browser.newPage();
  const errs: string[] = [];
  page.on("pageerror", (e) => errs.push(e.message));
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errs.push(m.text()); });
  const t0 = Date.now();
  await page.goto(server.url + q);
  try {
    await page.waitForSelector('#status[data-state="playing"], #status[data-state="error"]', { timeout: 120_000 });
  } catch (e) { console.log("timeout", errs); continue; }
  const ready = Date.now() - t0;
  const st = await page.textContent("#status");
  const loadParts = JSON.parse((await page.getAttribute("#status", "data-load")) ?? "null");
  const t1 = Date.now();
  await page.waitForFunction(`Number(document.body.dataset.steps ?? 0) >= 10`, undefined, { timeout: 120_000 }).catch(() => {});
  const first10 = Date.now() - t1;
  const s0 = Number(await page.evaluate(`document.body.dataset.steps ?? 0`));
  const t2 = Date.now();
  await page.waitForTimeout(5000);
  const s1 = Number(await page.evaluate(`document.body.dataset.steps ?? 0`));
  const fps = ((s1 - s0) * 1000) / (Date.now() - t2);
  console.log(JSON.stringify({ q, readyMs: ready, loadParts, status: st, first10StepsMs: first10, fps: fps.toFixed(1), msPerStep: (1000 / fps).toFixed(1), shown: await page.textContent("#fps"), ms: await page.textContent("#ms"), device: await page.textContent("#device"), notice: await page.textContent("#notice"), error: await page.textContent("#error"), errs: errs.slice(0, 5) }));
  
  await page.close();
}
await browser.close();
await server.close();
