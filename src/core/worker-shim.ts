/**
 * Web Worker shim for Node, so that jax-js's wasm backend runs multi-threaded.
 *
 * jax-js starts its thread pool only when `SharedArrayBuffer` and a global `Worker` exist,
 * sizes it from `navigator.hardwareConcurrency`, and creates each worker from a Blob URL of
 * module source. Node has `worker_threads` but no global `Worker`, so this module supplies one
 * (and `navigator.hardwareConcurrency`). It must run before `@jax-js/jax` is first imported:
 * `node --import ./dist/core/worker-shim.js`, which `bin/worldkit.js`, the npm scripts and the
 * vitest setup do for you. The thread count comes from `WORLDKIT_THREADS` (default: all cores).
 *
 * Worker threads are unref'd, so an idle pool never keeps the process alive.
 */
import { availableParallelism } from "node:os";
import { Worker as NodeWorker } from "node:worker_threads";

type MessageHandler = ((event: { data: unknown }) => void) | null;
type ErrorHandler = ((event: { message: string }) => void) | null;

/** Code run first inside each worker: it makes the Web Worker globals that jax-js's source expects. */
const BOOTSTRAP = `
const { parentPort } = require("node:worker_threads");
globalThis.self = globalThis;
globalThis.postMessage = (data) => parentPort.postMessage(data);
parentPort.on("message", (msg) => {
  if (msg && msg.__worldkitSource !== undefined) {
    (0, eval)(msg.__worldkitSource);
    return;
  }
  if (typeof self.onmessage === "function") self.onmessage({ data: msg });
});
`;

/** Resolve the thread count: WORLDKIT_THREADS if set and valid, otherwise every core. */
export function threadCount(): number {
  const fromEnv = Number(process.env.WORLDKIT_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  return availableParallelism();
}

class ShimWorker {
  onmessage: MessageHandler = null;
  onerror: ErrorHandler = null;
  readonly #worker: NodeWorker;
  /** Messages posted before the worker's source has arrived, sent in order once it has. */
  #queue: unknown[] | null = [];

  constructor(url: string | URL) {
    this.#worker = new NodeWorker(BOOTSTRAP, { eval: true });
    this.#worker.unref();
    this.#worker.on("message", (data: unknown) => this.onmessage?.({ data }));
    this.#worker.on("error", (err: Error) => this.onerror?.({ message: err.message }));
    void this.#sendSource(String(url));
  }

  async #sendSource(url: string): Promise<void> {
    const { resolveObjectURL } = await import("node:buffer");
    const blob = resolveObjectURL(url);
    if (!blob) {
      this.onerror?.({ message: `worker-shim: cannot resolve ${url}` });
      return;
    }
    this.#worker.postMessage({ __worldkitSource: await blob.text() });
    const queued = this.#queue ?? [];
    this.#queue = null;
    for (const msg of queued) this.#worker.postMessage(msg);
  }

  postMessage(msg: unknown): void {
    if (this.#queue) this.#queue.push(msg);
    else this.#worker.postMessage(msg);
  }

  terminate(): void {
    void this.#worker.terminate();
  }
}

const g = globalThis as Record<string, unknown>;
// jax-js probes `navigator.gpu` during init, so Node 20 (which has no `navigator`) needs one.
const nav = (g.navigator ?? {}) as Record<string, unknown>;
Object.defineProperty(nav, "hardwareConcurrency", { value: threadCount(), configurable: true });
if (g.navigator === undefined) g.navigator = nav;
if (typeof g.Worker === "undefined" && threadCount() > 1) g.Worker = ShimWorker;
