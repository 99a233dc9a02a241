/**
 * The player's decoder worker: the tokenizer decoder alone (OrtDecoder on onnxruntime-web, one
 * wasm thread), fed frame tokens by the session worker through a MessagePort and posting the
 * decoded frames straight to the page. While it decodes frame t, the session worker samples frame
 * t+1 on the other core; one worker doing both with two wasm threads split each op between the
 * cores and measured 1.2–1.4× one thread (bench/RESULTS.md).
 *
 * It loads in parallel with the session worker: tokenizer.safetensors only, and compiles its
 * graph while the other compiles the dynamics'. Tokens that arrive before that are decoded once
 * it is ready, in order.
 */
import { initDevice } from "../src/core/device.js";
import { tree } from "../src/core/jax.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { fetchReader, loadWorldTokenizer } from "../src/player/world-files.js";
import { OrtDecoder } from "../src/world/session-ort.js";
import { DECODER_WINDOW, stepResult } from "../src/world/session.js";
import type { TokenizerConfig } from "../src/models/tokenizer.js";
import { loadWebOrt } from "./ort-web.js";
import type { DecoderLoadRequest, FromWorker, TokensMessage } from "./protocol.js";

function post(msg: FromWorker, transfer: Transferable[] = []): void {
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(msg, transfer);
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

let ready: Promise<{ decoder: OrtDecoder; config: TokenizerConfig }> | null = null;

async function load(req: DecoderLoadRequest): Promise<{ decoder: OrtDecoder; config: TokenizerConfig }> {
  await initDevice();
  const read = fetchReader(req.base);
  const tok = await loadWorldTokenizer(read, req.base.replace(/\/$/, ""));
  const web = await loadWebOrt(req.page, req.threads ?? 1);
  const decoder = new OrtDecoder({ tokenizer: tok.params, codebook_KD: tok.codebook_KD, tokenizerConfig: tok.config }, { decoderWindow: DECODER_WINDOW, int8: req.int8 ?? false, ort: web.ort, threads: web.threads });
  try {
    await decoder.prepare();
  } finally {
    // The graph holds the weights as constants: the arrays are no longer needed.
    tree.dispose(tok.params as unknown as ParamTree);
    tok.codebook_KD.dispose();
  }
  return { decoder, config: tok.config };
}

async function decode(m: TokensMessage): Promise<void> {
  if (!ready) throw new Error("the decoder worker got tokens before its load request");
  const { decoder, config } = await ready;
  if (m.clear) decoder.clear();
  let px: Float32Array | null = null;
  for (const t of m.frames) px = await decoder.decode(t);
  const decodeMs = decoder.takeSpent();
  const r = stepResult(px!, m.frames[m.frames.length - 1], config, m.ms + decodeMs);
  post({ type: "frame", rgb: r.rgb, depth: r.depth, ms: r.ms, code: m.code, parts: m.parts ? { ...m.parts, decode: decodeMs } : null }, [r.rgb.buffer, ...(r.depth ? [r.depth.buffer] : [])]);
}

let queue: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<DecoderLoadRequest>) => {
  const req = e.data;
  ready = load(req);
  // A failed load surfaces with the first tokens, as the error answering that request.
  ready.catch(() => {});
  req.port.onmessage = (ev: MessageEvent<TokensMessage>) => {
    const m = ev.data;
    queue = queue.then(() => decode(m)).catch((err: unknown) => post({ type: "error", message: `decoder: ${message(err)}`, request: m.request }));
  };
};
