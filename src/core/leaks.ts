/**
 * Live-array accounting for leak tests.
 *
 * jax-js 0.1.25 has no public count of live buffers, so `startLeakCount()` wraps the default
 * backend's malloc/incRef/decRef and tracks each buffer's reference count. `liveBuffers()` is the
 * number of buffers still holding memory. The backend is reached through jax-js's internal chunk,
 * which is why the jax-js version is pinned; if its layout changes, this fails loudly, naming it.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createRequire } from "node:module";

interface BackendLike {
  malloc(size: number, data?: Uint8Array): number;
  incRef(slot: number): void;
  decRef(slot: number): void;
}

const refs = new Map<number, number>();
let installed: BackendLike | null = null;

async function loadGetBackend(): Promise<(device?: string) => BackendLike> {
  const require = createRequire(import.meta.url);
  const cjsEntry = require.resolve("@jax-js/jax"); // .../dist/index.cjs
  const distDir = dirname(cjsEntry);
  const indexSource = readFileSync(join(distDir, "index.js"), "utf8");
  const chunk = /from "\.\/(backend-[\w-]+\.js)"/.exec(indexSource)?.[1];
  const chunkSource = chunk ? readFileSync(join(distDir, chunk), "utf8") : "";
  const alias = /getBackend as (\w+)/.exec(chunkSource)?.[1];
  if (!chunk || !alias) {
    throw new Error(`leak check: cannot find getBackend inside @jax-js/jax (${distDir}); update src/core/leaks.ts for this jax-js version`);
  }
  const mod = (await import(pathToFileURL(join(distDir, chunk)).href)) as Record<string, unknown>;
  return mod[alias] as (device?: string) => BackendLike;
}

/** Begin counting buffers on the default device (idempotent). Call after initDevice(). */
export async function startLeakCount(): Promise<void> {
  const getBackend = await loadGetBackend();
  const backend = getBackend();
  if (installed === backend) return;
  const malloc = backend.malloc.bind(backend);
  const incRef = backend.incRef.bind(backend);
  const decRef = backend.decRef.bind(backend);
  backend.malloc = (size, data) => {
    const slot = malloc(size, data);
    refs.set(slot, 1);
    return slot;
  };
  backend.incRef = (slot) => {
    incRef(slot);
    if (refs.has(slot)) refs.set(slot, refs.get(slot)! + 1);
  };
  backend.decRef = (slot) => {
    decRef(slot);
    const n = refs.get(slot);
    if (n === undefined) return;
    if (n <= 1) refs.delete(slot);
    else refs.set(slot, n - 1);
  };
  installed = backend;
}

/** Buffers allocated since startLeakCount() that are still alive. */
export function liveBuffers(): number {
  if (!installed) throw new Error("liveBuffers(): call startLeakCount() first");
  return refs.size;
}

/**
 * Run `fn` and return how many buffers it left alive (0 means no leak). Waits for pending
 * asynchronous kernels first, since they hold their inputs until they finish.
 */
export async function countLeaks(fn: () => Promise<void> | void): Promise<number> {
  await startLeakCount();
  await settle();
  const before = liveBuffers();
  await fn();
  await settle();
  return liveBuffers() - before;
}

/** Let queued worker-pool completions (which release retained buffers) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}

