/**
 * The world session, off the page's thread: loading, jit compiles and every step run here, so a
 * slow step never freezes the page. Messages are the `ToWorker` / `FromWorker` types in
 * protocol.ts; each request is answered by exactly one "frame" or "error" (load: "ready" first).
 * Requests run one after another: a session must never see a reset in the middle of a step.
 */
import { initDevice } from "../src/core/device.js";
import { WorldSession } from "../src/world/session.js";
import type { StepResult } from "../src/world/session.js";
import { loadWorldFiles } from "../src/player/world-files.js";
import { disposeWorldArrays } from "./dispose.js";
import type { FromWorker, ToWorker } from "./protocol.js";

let session: WorldSession | null = null;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(msg, transfer);
}

function frame(r: StepResult, code: number | null): void {
  post({ type: "frame", rgb: r.rgb, depth: r.depth, ms: r.ms, code }, [r.rgb.buffer, ...(r.depth ? [r.depth.buffer] : [])]);
}

async function load(base: string, sampleSteps: number | undefined): Promise<void> {
  const t0 = performance.now();
  const info = await initDevice();
  const read = async (name: string) => {
    const res = await fetch(base + name);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`${base}${name}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const bundle = await loadWorldFiles(read, base.replace(/\/$/, ""));
  const c = bundle.world.tokenizer.config;
  session = new WorldSession(bundle.world, { seed: Date.now() % 100000, sampleSteps });
  // The session holds its own references; the loaded arrays are no longer needed.
  disposeWorldArrays(bundle.world);
  const start = bundle.start ?? { frames: new Float32Array(c.height * c.width * c.channels).fill(0.5), count: 1 };
  const first = await session.start(start);
  post({
    type: "ready",
    device: info.device,
    threads: info.threads,
    isolated: (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    height: c.height,
    width: c.width,
    channels: c.channels,
    actions: bundle.actions,
    idleCode: bundle.idleCode,
    hasStartFrames: bundle.start !== null,
    sampleSteps: sampleSteps ?? bundle.world.dynamics.config.sampleSteps,
    loadMs: performance.now() - t0,
  });
  frame(first, null);
}

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === "load") return load(msg.base, msg.sampleSteps);
  if (!session) throw new Error("the world is not loaded yet");
  if (msg.type === "step") return frame(await session.step(msg.code), msg.code);
  if (msg.type === "reset") return frame(await session.reset(), null);
  if (msg.type === "image") return frame(await session.start({ image: msg.image }), null);
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<ToWorker>) => {
  queue = queue.then(() => handle(e.data)).catch((err: unknown) => post({ type: "error", message: err instanceof Error ? err.message : String(err) }));
};
