import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import { startServer } from "../../src/player/server.js";
import type { PlayerServer } from "../../src/player/server.js";
import { isWorldFile, loadWorldFiles } from "../../src/player/world-files.js";
import { disposeWorld, loadWorld } from "../../src/world/dynamics-io.js";
import { WorldSession } from "../../src/world/session.js";
import { writeTestWorld } from "./test-world.js";

const root = mkdtempSync(join(tmpdir(), "wk-server-"));
const worldDir = join(root, "world");
const webDir = join(root, "web");
let server: PlayerServer;

/** A raw GET: the path goes out exactly as written (fetch would normalise "/../"). */
function get(path: string, method = "GET"): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: server.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  await initDevice();
  mkdirSync(worldDir);
  mkdirSync(join(webDir, "assets"), { recursive: true });
  mkdirSync(join(webDir, "ort"));
  writeFileSync(join(webDir, "ort", "ort-wasm-simd-threaded.wasm"), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(webDir, "ort", "ort-wasm-simd-threaded.mjs"), "export default 1");
  await writeTestWorld(worldDir);
  writeFileSync(join(webDir, "index.html"), "<!doctype html><title>player</title>");
  writeFileSync(join(webDir, "assets", "main-abc.js"), "console.log(1)");
  writeFileSync(join(webDir, "secret.txt"), "web secret");
  writeFileSync(join(root, "outside.json"), "{\"secret\":1}");
  writeFileSync(join(worldDir, "notes.txt"), "not allow-listed");
  writeFileSync(join(worldDir, "ckpt.safetensors.tmp-1"), "temp");
  writeFileSync(join(worldDir, ".hidden.safetensors"), "hidden");
  symlinkSync(join(root, "outside.json"), join(worldDir, "link.safetensors"));
  symlinkSync(root, join(worldDir, "up"));
  server = await startServer({ worldDir, webDir, port: 0 });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("player server", () => {
  it("binds loopback by default and prints a URL with the port", () => {
    const addr = server.server.address();
    expect(typeof addr === "object" && addr?.address).toBe("127.0.0.1");
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
  });

  it("serves the page and the allow-listed world files, with cross-origin isolation headers", async () => {
    const page = await get("/");
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain("<title>player</title>");
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["cross-origin-opener-policy"]).toBe("same-origin");
    expect(page.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    expect((await get("/assets/main-abc.js")).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    // onnxruntime-web's runtime, from our own server (the page never reaches a CDN).
    const wasm = await get("/ort/ort-wasm-simd-threaded.wasm");
    expect([wasm.status, wasm.headers["content-type"], [...wasm.body]]).toEqual([200, "application/wasm", [0, 97, 115, 109]]);
    expect((await get("/ort/ort-wasm-simd-threaded.mjs")).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect((await get("/ort/../secret.txt")).status).toBe(404);
    const tok = await get("/world/tokenizer.safetensors");
    expect(tok.status).toBe(200);
    expect(tok.body.equals(readFileSync(join(worldDir, "tokenizer.safetensors")))).toBe(true);
    expect(tok.headers["cross-origin-embedder-policy"]).toBe("require-corp");
    for (const f of ["config.json", "actions.json", "README.md", "dynamics.safetensors", "start.safetensors"]) expect((await get(`/world/${f}`)).status, f).toBe(200);
    const head = await get("/world/config.json", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it("answers 404 to traversal, encoded traversal, absolute paths, symlinks out and files off the allow-list", async () => {
    const refused = [
      "/world/notes.txt",
      "/world/ckpt.safetensors.tmp-1",
      "/world/.hidden.safetensors",
      "/world/link.safetensors", // symlink to a file outside the world folder
      "/world/up/outside.json", // through a symlinked folder
      "/world/../outside.json",
      "/world/../world/config.json",
      "/../outside.json",
      "/%2e%2e/outside.json",
      "/world/%2e%2e/outside.json",
      "/world/%2E%2E%2Foutside.json",
      "/world/..%2foutside.json",
      "/world/%252e%252e/outside.json",
      "/world/..%5coutside.json",
      "/world/..\\outside.json",
      "/world/%00config.json",
      "/world/config.json%00",
      "/world//config.json",
      "//etc/passwd",
      "/etc/passwd",
      "/world/" + encodeURIComponent(join(root, "outside.json")),
      "/assets/../secret.txt",
      "/assets/%2e%2e/secret.txt",
      "/secret.txt",
      "/world/",
      "/world",
      "/assets/",
      "/%",
      "/world/%E0%A4%A",
      "http://evil.example/world/config.json",
    ];
    for (const path of refused) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString(), path).toBe("not found\n");
    }
    expect(isWorldFile("config.json")).toBe(true);
    expect(isWorldFile("../config.json")).toBe(false);
    expect(isWorldFile("a..safetensors")).toBe(false);
  });

  it("refuses methods other than GET and HEAD", async () => {
    const r = await get("/world/config.json", "POST");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET, HEAD");
  });

  it("the page's loader reads the served world exactly as loadWorld reads the folder", async () => {
    const read = async (name: string) => {
      const res = await fetch(`${server.url}world/${name}`);
      return res.status === 404 ? null : new Uint8Array(await res.arrayBuffer());
    };
    const bundle = await loadWorldFiles(read, `${server.url}world`);
    expect(bundle.actions.map((a) => [a.code, a.label, a.key])).toEqual([
      [0, "noop", ""],
      [1, "left", "ArrowLeft"],
      [2, "right", "ArrowRight"],
      [3, "jump", "Space"],
    ]);
    expect(bundle.idleCode).toBe(0);
    expect(bundle.start!.count).toBe(2);
    expect(bundle.start!.actions).toEqual([4, 2]);
    const disk = await loadWorld(worldDir);
    expect(bundle.world.actionMap).toEqual(disk.actionMap);
    const run = async (w: typeof disk) => {
      const s = new WorldSession(w, { seed: 5 });
      const out = [...(await s.start(bundle.start!)).tokens];
      for (const a of ["right", "jump", 1]) out.push(...(await s.step(a)).tokens);
      s.dispose();
      return out;
    };
    expect(await run(bundle.world)).toEqual(await run(disk));
    disposeWorld(bundle.world);
    disposeWorld(disk);
  });
});
