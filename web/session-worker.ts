/**
 * The world session, off the page's thread: loading, graph compiles and every step run here, so
 * a slow step never freezes the page. Messages are the `ToWorker` / `FromWorker` types in
 * protocol.ts; each request is answered by exactly one "frame" or "error" (load: "ready" first).
 * Requests run one after another: a session must never see a reset in the middle of a step.
 *
 * Split mode (onnxruntime-web, and the page gave a decoder port): this worker runs only the
 * dynamics (session.startTokens / stepTokens) and sends each frame's tokens to the decoder worker
 * (decode-worker.ts), which answers the page; the two run on two cores at once. Otherwise (jax-js,
 * or ?split=0) this worker decodes too and answers the page itself.
 *
 * Backend: the exported ONNX graphs on onnxruntime-web (wasm; session-ort.ts, 4–6× faster than
 * jax-js's kernels here), exported in this worker while the session starts. When
 * onnxruntime-web fails to load or to run the start, the session falls back to jax-js (WebGPU
 * when present, else wasm) and the page says why. jax-js also tokenizes start frames that come without their tokens (an uploaded image; a start.safetensors from another tokenizer) and runs
 * the prompt model (text → first frame) when the world has one. WebGPU is not chosen by itself:
 * on an H100 (bench/RESULTS.md, bench/webgpu.ts) jax-js's WebGPU backend took 125 ms a frame and
 * onnxruntime-web's WebGPU provider 236 ms, against ~85 ms for this wasm path on a 2-core CPU;
 * `?backend=jax` asks for jax-js (WebGPU where the browser has it).
 */
import { initDevice } from "../src/core/device.js";
import { WorldSession } from "../src/world/session.js";
import type { StepResult } from "../src/world/session.js";
import type { StartFrames } from "../src/world/start-frames.js";
import { fetchReader, loadWorldFiles } from "../src/player/world-files.js";
import type { WorldBundle } from "../src/player/world-files.js";
import { checkPrompt, examplePrompts } from "../src/player/prompt-words.js";
import { disposeWorldArrays } from "./dispose.js";
import { loadWebOrt } from "./ort-web.js";
import type { FromWorker, LoadRequest, ToWorker, TokensMessage } from "./protocol.js";

type StartInput = Parameters<WorldSession["start"]>[0];

type Ready = Extract<FromWorker, { type: "ready" }>;
type Backend = Pick<Ready, "backend" | "device" | "threads" | "fallback">;
type Started = { session: WorldSession; backend: Backend };

let session: WorldSession | null = null;
/** The decoder worker's port in split mode, else null (this worker decodes). */
let decoder: MessagePort | null = null;
/** The prompt model's vocabulary (null: the world has no prompt model). */
let vocab: readonly string[] | null = null;
/** Seed of the next prompt's sampling; counts up so that dreaming the same text again gives a new frame. */
let promptSeed = 0;

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(msg, transfer);
}

function frame(r: StepResult, code: number | null): void {
  const parts = session?.timings() ?? null;
  post({ type: "frame", rgb: r.rgb, depth: r.depth, ms: r.ms, code, parts }, [r.rgb.buffer, ...(r.depth ? [r.depth.buffer] : [])]);
}

/** Split mode: hand frames' tokens to the decoder worker, which answers `request` with the frame. */
function toDecoder(frames: Int32Array[], clear: boolean, code: number | null, t0: number, request: ToWorker["type"]): void {
  const parts = session?.timings() ?? null;
  const m: TokensMessage = { type: "tokens", frames, clear, code, ms: performance.now() - t0, parts: parts && { sample: parts.sample }, request };
  decoder!.postMessage(m);
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * A started session on onnxruntime-web, or the reason there is none. In split mode it starts with
 * startTokens and `first` gets the start frames' tokens (for the decoder worker); else the frame.
 */
async function startOrt(bundle: WorldBundle, req: LoadRequest, start: StartFrames, seed: number, marks: number[], first: { frame?: StepResult; tokens?: Int32Array[] }): Promise<Started | { reason: string }> {
  let s: WorldSession | null = null;
  try {
    // Split: the decoder worker has a thread of its own, so this one takes one less (at least 1).
    const wanted = req.threads ?? Math.min(4, navigator.hardwareConcurrency ?? 1);
    const web = await loadWebOrt(req.page, req.decoder ? Math.max(1, wanted - 1) : wanted);
    marks.push(performance.now());
    s = new WorldSession(bundle.world, { seed, sampleSteps: req.sampleSteps, backend: "ort", ort: web.ort, int8: req.int8 ?? false, threads: web.threads, spinning: req.spinning ?? false });
    if (req.decoder) first.tokens = await s.startTokens(start);
    else first.frame = await s.start(start);
    const backend: Backend = { backend: "onnxruntime-web", device: req.int8 ? "wasm, int8" : "wasm", threads: web.threads, fallback: null };
    return { session: s, backend };
  } catch (e) {
    s?.dispose();
    return { reason: message(e) };
  }
}

async function load(req: LoadRequest): Promise<void> {
  const t0 = performance.now();
  const info = await initDevice();
  const tDevice = performance.now();
  const read = fetchReader(req.base);
  const bundle = await loadWorldFiles(read, req.base.replace(/\/$/, ""));
  const tFiles = performance.now();
  const c = bundle.world.tokenizer.config;
  const seed = Date.now() % 100000;
  promptSeed = seed;
  vocab = bundle.world.prompt?.config.vocab ?? null;
  const start = bundle.start ?? { frames: new Float32Array(c.height * c.width * c.channels).fill(0.5), count: 1 };
  let chosen: Started;
  const marks: number[] = []; // the runtime loaded
  const first: { frame?: StepResult; tokens?: Int32Array[] } = {};
  const ort = req.backend === "jax" ? { reason: "skipped: ?backend=jax in the address" } : await startOrt(bundle, req, start, seed, marks, first);
  if ("session" in ort) chosen = ort;
  else {
    const s = new WorldSession(bundle.world, { seed, sampleSteps: req.sampleSteps, backend: "jax" });
    first.frame = await s.start(start);
    chosen = { session: s, backend: { backend: "jax-js", device: info.device, threads: info.threads, fallback: ort.reason } };
  }
  session = chosen.session;
  decoder = first.tokens ? req.decoder! : null;
  // The session holds its own references; the loaded arrays are no longer needed.
  disposeWorldArrays(bundle.world);
  post({
    type: "ready",
    ...chosen.backend,
    decoderThreads: decoder ? 1 : 0,
    isolated: (self as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true,
    height: c.height,
    width: c.width,
    channels: c.channels,
    actions: bundle.actions,
    idleCode: bundle.idleCode,
    hasStartFrames: bundle.start !== null,
    hasPrompt: vocab !== null,
    promptExamples: vocab ? examplePrompts(vocab, 3) : [],
    sampleSteps: req.sampleSteps ?? bundle.world.dynamics.config.sampleSteps,
    loadMs: performance.now() - t0,
    loadParts: { device: tDevice - t0, files: tFiles - tDevice, runtime: ("session" in ort ? marks[0] : tFiles) - tFiles, start: performance.now() - ("session" in ort ? marks[0] : tFiles) },
  });
  if (first.tokens) toDecoder(first.tokens, true, null, performance.now(), "load");
  else frame(first.frame!, null);
}

async function handle(msg: ToWorker): Promise<void> {
  if (msg.type === "load") return load(msg);
  if (!session) throw new Error("the world is not loaded yet");
  const s = session;
  const t0 = performance.now();
  if (msg.type === "step") {
    if (decoder) return toDecoder([await s.stepTokens(msg.code)], false, msg.code, t0, msg.type);
    return frame(await s.step(msg.code), msg.code);
  }
  if (msg.type === "reset") return decoder ? toDecoder(await s.resetTokens(), true, null, t0, msg.type) : frame(await s.reset(), null);
  let input: StartInput;
  if (msg.type === "image") input = { image: msg.image };
  else {
    if (!vocab) throw new Error("this world has no prompt model (prompt.safetensors); add one with worldkit pack --prompt RUN");
    // Checked here rather than left to the model, which would read an unknown word as <unk>.
    checkPrompt(vocab, msg.text);
    input = { prompt: msg.text, seed: promptSeed++ };
  }
  return decoder ? toDecoder(await s.startTokens(input), true, null, t0, msg.type) : frame(await s.start(input), null);
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<ToWorker>) => {
  queue = queue.then(() => handle(e.data)).catch((err: unknown) => post({ type: "error", message: message(err), request: e.data.type }));
};
