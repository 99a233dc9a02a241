/**
 * The player page: draws what the workers send, turns held keys and buttons into action codes,
 * and keeps the session busy — so the UI thread only draws, and the frame rate is the session's
 * own speed. With onnxruntime-web the session worker (session-worker.ts) samples each frame and
 * the decoder worker (decode-worker.ts) decodes it, one core each: two steps are kept in flight,
 * so one is sampled while the other is decoded (a key press shows one frame later than with one
 * in flight). Otherwise (jax-js, or ?split=0) one step is in flight at a time.
 *
 * RGB and depth are drawn side by side into a small canvas, then scaled up nearest-neighbour into
 * the visible one (which is also what a recording captures).
 *
 * When the world has a prompt model, a text box starts it over from a first frame imagined from
 * the text ("Dream"); keys typed into the box stay in the box.
 */
import type { DecoderLoadRequest, FromWorker, ToWorker } from "./protocol.js";
import type { PlayerAction } from "../src/player/world-files.js";

type Ready = Extract<FromWorker, { type: "ready" }>;

const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const screen = $<HTMLCanvasElement>("screen");
const statusEl = $("status");

const worker = new Worker(new URL("./session-worker.ts", import.meta.url), { type: "module" });
const decodeWorker = new Worker(new URL("./decode-worker.ts", import.meta.url), { type: "module" });
let ready: Ready | null = null;
/** Requests sent to the session worker and not yet answered, oldest first (answers come in order); a step waits until fewer than maxInFlight() are. */
const inFlight: ToWorker["type"][] = [];
/** Two steps in flight when a decoder worker decodes (one sampled while the other is decoded), else one. */
const maxInFlight = () => (ready?.decoderThreads ? 2 : 1);
/** Frames that came before "ready" (the decoder worker's first frame can overtake it). */
const early: MessageEvent<FromWorker>[] = [];
let paused = false;
let steps = 0;
const held = new Set<string>();
let buttonAction: PlayerAction | null = null;
const frameTimes: number[] = [];
const small = document.createElement("canvas");
let scale = 1;

function send(msg: ToWorker, transfer: Transferable[] = []): void {
  inFlight.push(msg.type);
  worker.postMessage(msg, transfer);
}

function setStatus(state: string, text: string): void {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

/** A message under the player; `fatal` (the session failed) also stops the loop. */
function showError(message: string, fatal = true): void {
  const el = $("error");
  el.hidden = false;
  el.textContent = message;
  if (fatal) setStatus("error", "error");
}

/** The action of the held keys: the bound action with the most keys, all held; else the idle code. */
function currentAction(): PlayerAction | null {
  if (buttonAction) return buttonAction;
  let best: PlayerAction | null = null;
  let bestParts = 0;
  for (const a of ready?.actions ?? []) {
    if (!a.key) continue;
    const parts = a.key.split("+");
    if (parts.length > bestParts && parts.every((p) => held.has(p))) {
      best = a;
      bestParts = parts.length;
    }
  }
  return best;
}

function labelOf(code: number | null, request: ToWorker["type"] | undefined): string {
  if (request === "prompt") return "start (dreamed from text)";
  if (code === null) return "start";
  const a = ready?.actions.find((x) => x.code === code);
  return a ? `${a.label} (code ${code})` : `idle (code ${code})`;
}

function draw(rgb: Uint8Array, depth: Float32Array | null): void {
  const { height: H, width: W } = ready!;
  const cols = depth ? 2 * W + 1 : W;
  const ctx = small.getContext("2d")!;
  const img = ctx.createImageData(cols, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const o = (y * cols + x) * 4;
      img.data[o] = rgb[i];
      img.data[o + 1] = rgb[i + 1];
      img.data[o + 2] = rgb[i + 2];
      img.data[o + 3] = 255;
      if (depth) {
        const v = Math.round(Math.min(1, Math.max(0, depth[y * W + x])) * 255);
        const d = (y * cols + W + 1 + x) * 4;
        img.data[d] = img.data[d + 1] = img.data[d + 2] = v;
        img.data[d + 3] = 255;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
  const big = screen.getContext("2d")!;
  big.imageSmoothingEnabled = false;
  big.drawImage(small, 0, 0, screen.width, screen.height);
}

function setup(r: Ready): void {
  ready = r;
  const cols = r.channels === 4 ? 2 * r.width + 1 : r.width; // RGB | gap | depth
  small.width = cols;
  small.height = r.height;
  scale = Math.max(1, Math.round(384 / r.height));
  screen.width = cols * scale;
  screen.height = r.height * scale;
  const decoding = r.decoderThreads ? ` + decoder worker, ${r.decoderThreads} thread${r.decoderThreads === 1 ? "" : "s"}` : "";
  const threads = r.device.startsWith("wasm") ? `, ${r.threads} thread${r.threads === 1 ? "" : "s"}${decoding}${r.isolated ? "" : " (page not cross-origin isolated)"}` : "";
  $("device").textContent = `${r.backend} · ${r.device === "webgpu" ? "WebGPU" : r.device}${threads}`;
  if (r.fallback) {
    const notice = $("notice");
    notice.hidden = false;
    notice.textContent = `onnxruntime-web is not running (${r.fallback}); playing on jax-js instead, which is several times slower.`;
  }
  const box = $("actions");
  box.replaceChildren();
  for (const a of r.actions) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.code = String(a.code);
    b.append(`${a.label} `);
    const hint = document.createElement("small");
    hint.textContent = `code ${a.code}${a.key ? ` · ${a.key.replace(/Arrow|Key|Digit/g, "")}` : " · idle"}`;
    b.append(hint);
    const release = () => {
      buttonAction = null;
      b.classList.remove("held");
    };
    b.addEventListener("pointerdown", () => {
      buttonAction = a;
      b.classList.add("held");
      if (paused) stepOnce(a.code);
    });
    b.addEventListener("pointerup", release);
    b.addEventListener("pointerleave", release);
    box.append(b);
  }
  const select = $<HTMLSelectElement>("passes");
  if (![...select.options].some((o) => Number(o.value) === r.sampleSteps)) select.add(new Option(String(r.sampleSteps), String(r.sampleSteps)));
  select.value = String(r.sampleSteps);
  if (r.hasPrompt) setupDream(r.promptExamples);
  setStatus("playing", `playing · loaded in ${(r.loadMs / 1000).toFixed(1)} s`);
  const p = r.loadParts;
  statusEl.title = `device ${p.device.toFixed(0)} ms, files ${p.files.toFixed(0)} ms, runtime ${p.runtime.toFixed(0)} ms, start ${p.start.toFixed(0)} ms`;
  statusEl.dataset.load = JSON.stringify(p);
}

/** The prompt box: shown only for worlds with a prompt model; examples fill the box and dream at once. */
function setupDream(examples: string[]): void {
  const form = $<HTMLFormElement>("dream");
  const input = $<HTMLInputElement>("prompt");
  form.hidden = false;
  if (examples.length) input.placeholder = examples[0];
  const box = $("examples");
  box.replaceChildren(examples.length ? "try:" : "");
  for (const text of examples) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", () => {
      input.value = text;
      dream(text);
    });
    box.append(b);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    dream(input.value);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") input.blur();
  });
}

function dream(text: string): void {
  if (!ready?.hasPrompt) return;
  $("error").hidden = true;
  setStatus("dreaming", "dreaming from text…");
  // Keys go back to the world: the next arrow press plays rather than moving the caret.
  (document.activeElement as HTMLElement | null)?.blur();
  send({ type: "prompt", text });
}

/** The status after a dream (or a failed one): whatever the play state is. */
function restoreStatus(): void {
  setStatus(paused ? "paused" : "playing", paused ? "paused" : "playing");
}

function stepOnce(code: number): void {
  if (inFlight.length === 0 && ready) send({ type: "step", code });
}

function onWorkerMessage(e: MessageEvent<FromWorker>): void {
  const m = e.data;
  if (!ready && m.type === "frame") {
    early.push(e);
    return;
  }
  if (m.type === "error") {
    inFlight.shift();
    // A prompt the worker refused (an unknown word) leaves the session as it was: say why, play on.
    const fatal = m.request !== "prompt";
    showError(m.message, fatal);
    if (!fatal) restoreStatus();
  } else if (m.type === "ready") {
    setup(m);
    for (const f of early.splice(0)) onWorkerMessage(f);
  } else {
    const request = inFlight.shift();
    if (request === "prompt") restoreStatus();
    // Ask for the next frame first, so the worker computes it while this one is drawn; waiting
    // for the next animation frame would idle the worker for up to a display refresh (16 ms).
    playOn();
    draw(m.rgb, m.depth);
    if (m.code !== null) {
      steps++;
      document.body.dataset.steps = String(steps);
      frameTimes.push(performance.now());
    }
    const parts = m.parts ? Object.entries(m.parts).map(([k, v]) => `${k} ${v.toFixed(0)}`) : [];
    $("ms").textContent = `step ${m.ms.toFixed(1)} ms${parts.length ? ` (${parts.join(", ")})` : ""}`;
    $("last").textContent = labelOf(m.code, request);
  }
}
worker.onmessage = onWorkerMessage;
decodeWorker.onmessage = onWorkerMessage;
worker.onerror = (e) => showError(`the session worker failed: ${e.message}`);
decodeWorker.onerror = (e) => showError(`the decoder worker failed: ${e.message}`);

/** While playing, the next steps with the held action (or the idle one) until maxInFlight() are in flight (only steps: a reset or a dream waits for none). */
function playOn(): void {
  while (ready && !paused && statusEl.dataset.state !== "error" && inFlight.length < maxInFlight() && inFlight.every((t) => t === "step")) {
    send({ type: "step", code: currentAction()?.code ?? ready.idleCode });
  }
}

function loop(): void {
  const now = performance.now();
  while (frameTimes.length && now - frameTimes[0] > 1000) frameTimes.shift();
  if (frameTimes.length > 1) {
    const fps = ((frameTimes.length - 1) * 1000) / (frameTimes[frameTimes.length - 1] - frameTimes[0]);
    $("fps").textContent = `fps ${fps.toFixed(1)}`;
  }
  playOn();
  for (const b of document.querySelectorAll<HTMLButtonElement>("#actions button")) {
    b.classList.toggle("held", currentAction()?.code === Number(b.dataset.code));
  }
  requestAnimationFrame(loop);
}

function togglePause(): void {
  if (!ready) return;
  paused = !paused;
  $("pause").textContent = paused ? "play (P)" : "pause (P)";
  setStatus(paused ? "paused" : "playing", paused ? "paused" : "playing");
  frameTimes.length = 0;
}

function reset(): void {
  if (!ready) return;
  // The worker runs requests in order: a step in flight finishes first.
  send({ type: "reset" });
}

const boundKeys = (): Set<string> => new Set((ready?.actions ?? []).flatMap((a) => (a.key ? a.key.split("+") : [])));

addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement) return;
  if (boundKeys().has(e.code)) {
    e.preventDefault();
    held.add(e.code);
    if (paused && !e.repeat) stepOnce(currentAction()?.code ?? ready!.idleCode);
    return;
  }
  if (e.code === "KeyP") togglePause();
  else if (e.code === "KeyR") reset();
  else if (e.code === "Period" && paused && ready) stepOnce(ready.idleCode);
});
addEventListener("keyup", (e) => held.delete(e.code));
addEventListener("blur", () => held.clear());

$("pause").addEventListener("click", togglePause);
$("reset").addEventListener("click", reset);
$("step").addEventListener("click", () => paused && ready && stepOnce(ready.idleCode));

// Recording: the visible canvas as WebM, through MediaRecorder.
let recorder: MediaRecorder | null = null;
$("record").addEventListener("click", () => {
  const button = $("record");
  if (recorder) {
    recorder.stop();
    return;
  }
  const chunks: Blob[] = [];
  const stream = screen.captureStream(30);
  recorder = MediaRecorder.isTypeSupported("video/webm") ? new MediaRecorder(stream, { mimeType: "video/webm" }) : new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => {
    const a = $<HTMLAnchorElement>("download");
    a.href = URL.createObjectURL(new Blob(chunks, { type: "video/webm" }));
    a.download = `worldkit-${new Date().toISOString().replace(/[:.]/g, "-")}.webm`;
    a.hidden = false;
    button.textContent = "record WebM";
    recorder = null;
  };
  recorder.start();
  button.textContent = "stop recording";
});

/** PNG or JPEG by their first bytes (the browser's file type comes from the name only). */
function isPngOrJpeg(b: Uint8Array): boolean {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v);
  return png || (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff);
}

// Starting from an uploaded image: decoded and resized here, in the page; nothing is uploaded.
$<HTMLInputElement>("upload").addEventListener("change", async (e) => {
  const input = e.target as HTMLInputElement;
  const file = input.files?.[0];
  input.value = "";
  if (!file || !ready) return;
  if (file.size > MAX_UPLOAD_BYTES) return showError(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; the limit is 2 MB`, false);
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (!isPngOrJpeg(bytes)) return showError(`${file.name} is not a PNG or JPEG image`, false);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]));
  } catch {
    return showError(`${file.name} could not be decoded as an image`, false);
  }
  const { height: H, width: W } = ready;
  const c = document.createElement("canvas");
  c.width = W;
  c.height = H;
  const ctx = c.getContext("2d")!;
  ctx.drawImage(bitmap, 0, 0, W, H);
  const px = ctx.getImageData(0, 0, W, H).data;
  const image = new Float32Array(H * W * 3);
  for (let i = 0; i < H * W; i++) for (let k = 0; k < 3; k++) image[i * 3 + k] = px[i * 4 + k] / 255;
  $("error").hidden = true;
  send({ type: "image", image }, [image.buffer]);
});

// ?passes=N: MaskGIT passes per frame (fewer is faster and coarser); the select below sets it.
// ?backend=jax skips onnxruntime-web; ?int8=0 runs it with fp32 weights (int8 measured 20–30% faster
// in wasm here, with frames close to fp32's); ?threads=N sets its wasm threads; ?spin=1 lets them spin.
// ?split=0 keeps the decoder in the session worker (one worker, both threads on each op).
const query = new URLSearchParams(location.search);
const split = query.get("split") !== "0" && query.get("backend") !== "jax";
const channel = split ? new MessageChannel() : null;
const base = new URL("world/", location.href).href;
const int8 = query.get("int8") !== "0";
if (channel) decodeWorker.postMessage({ type: "load", base, page: location.href, int8, port: channel.port2 } satisfies DecoderLoadRequest, [channel.port2]);
send(
  {
    type: "load",
    base,
    page: location.href,
    sampleSteps: Number(query.get("passes")) || undefined,
    backend: query.get("backend") === "jax" ? "jax" : "ort",
    int8,
    threads: Number(query.get("threads")) || undefined,
    spinning: query.get("spin") === "1",
    decoder: channel?.port1,
  },
  channel ? [channel.port1] : [],
);
$<HTMLSelectElement>("passes").addEventListener("change", (e) => {
  const url = new URL(location.href);
  url.searchParams.set("passes", (e.target as HTMLSelectElement).value);
  location.href = url.href;
});
requestAnimationFrame(loop);
