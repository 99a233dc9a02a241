/**
 * The player's web server (node:http, no framework): the built page from `dist/web/` and the
 * allow-listed files of one world folder under `/world/`, nothing else.
 *
 *   /                     → webDir/index.html
 *   /assets/<file>        → webDir/assets/<file>  (what Vite emits)
 *   /ort/<file>           → webDir/ort/<file>     (onnxruntime-web's wasm runtime, copied there by the build)
 *   /world/<name>         → worldDir/<name> when isWorldFile(name) (src/player/world-files.ts)
 *
 * Safety: a request path is decoded once and must then be plain segments (no "..", ".", empty
 * segments, backslashes, NUL or "%" left over), so encoded traversal (`%2e%2e`, `%252e`) cannot
 * reach the file system; the file's real path (symlinks resolved) must still lie inside the real
 * folder it was asked from. Every refusal is a plain 404 that says nothing about the disk. Only
 * GET and HEAD. Uploaded start images never reach the server: the page decodes them itself, so
 * there is no upload endpoint to attack.
 *
 * Every response carries COOP/COEP (cross-origin isolation), which gives the page
 * SharedArrayBuffer and so the wasm threads of onnxruntime-web and jax-js.
 */
import { createServer } from "node:http";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { realpathSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { extname, join, sep } from "node:path";
import type { AddressInfo } from "node:net";
import { isWorldFile } from "./world-files.js";

export interface ServerOptions {
  /** The world folder to serve under /world/. */
  worldDir: string;
  /** The built page (dist/web). */
  webDir: string;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1: loopback only unless asked. */
  host?: string;
}

export interface PlayerServer {
  /** http://host:port/ */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".safetensors": "application/octet-stream",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

const ISOLATION = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
};

/** Plain path segments of a request URL, or null when anything about it is suspicious. */
export function safeSegments(rawUrl: string): string[] | null {
  const path = rawUrl.split("?")[0].split("#")[0];
  if (!path.startsWith("/")) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (/[\\\0%]/.test(decoded)) return null;
  const segments = decoded.slice(1).split("/");
  if (decoded === "/") return [];
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.startsWith("."))) return null;
  return segments;
}

/** The real path of `base/rel` when it is a file inside the real `base`, else null. */
async function insideFile(realBase: string, rel: string[]): Promise<string | null> {
  try {
    const real = await realpath(join(realBase, ...rel));
    if (!real.startsWith(realBase + sep)) return null;
    return (await stat(real)).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** The file a request maps to, or null (→ 404). */
async function resolveRequest(url: string, realWeb: string, realWorld: string): Promise<string | null> {
  const seg = safeSegments(url);
  if (!seg) return null;
  if (seg.length === 0) return insideFile(realWeb, ["index.html"]);
  if (seg.length === 2 && seg[0] === "world") return isWorldFile(seg[1]) ? insideFile(realWorld, [seg[1]]) : null;
  if (seg.length === 1 && seg[0] === "index.html") return insideFile(realWeb, ["index.html"]);
  if (seg.length === 2 && (seg[0] === "assets" || seg[0] === "ort")) return insideFile(realWeb, seg);
  return null;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...ISOLATION, "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" });
  res.end(body);
}

/** Start serving; resolves once listening. */
export async function startServer(opts: ServerOptions): Promise<PlayerServer> {
  const realWeb = realpathSync(opts.webDir);
  const realWorld = realpathSync(opts.worldDir);
  const host = opts.host ?? "127.0.0.1";
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return send(res, 405, "method not allowed\n");
    }
    const file = await resolveRequest(req.url ?? "", realWeb, realWorld);
    if (!file) return send(res, 404, "not found\n");
    const body = await readFile(file);
    res.writeHead(200, {
      ...ISOLATION,
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Content-Length": String(body.length),
      // Only Vite's hashed asset names may be cached; the page and world files change on rebuild or retraining.
      "Cache-Control": file.startsWith(join(realWeb, "assets") + sep) ? "public, max-age=3600" : "no-cache",
    });
    res.end(req.method === "HEAD" ? undefined : body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, "internal error\n");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
