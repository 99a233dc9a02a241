/**
 * Node runtime for exported models: runtime-core.ts's session bound to onnxruntime-node, with
 * all cores by default. The browser binds the same core to onnxruntime-web instead
 * (web/session-worker.ts); everything but the module choice lives in runtime-core.ts.
 */
import { availableParallelism } from "node:os";
import * as ortNode from "onnxruntime-node";
import { hostToOrt, OrtSession } from "./runtime-core.js";
import type { HostTensor, OnnxSessionConfig, OrtModule } from "./runtime-core.js";

export type { HostData, HostTensor, OnnxSessionConfig, OrtModule } from "./runtime-core.js";
export { OrtSession } from "./runtime-core.js";

/** onnxruntime-node as the wrapper's `OrtModule`. */
export const nodeOrt: OrtModule = ortNode;

/** A session on onnxruntime-node (the same class as OrtSession; `create` picks the module and threads). */
export type OnnxSession = OrtSession;
export const OnnxSession = {
  /** Load model bytes (from `exportJaxpr`) into a new onnxruntime-node session; default threads: all cores. */
  create(model: Uint8Array, config: OnnxSessionConfig = {}): Promise<OrtSession> {
    return OrtSession.open(nodeOrt, model, { ...config, threads: config.threads ?? defaultThreads() });
  },
};

/** Wrap a typed array as an onnxruntime-node tensor without copying it. */
export function toOrtTensor(t: HostTensor): ortNode.Tensor {
  return hostToOrt(nodeOrt, t);
}

/** Threads a Node session uses when not told: all cores of this machine. */
export function defaultThreads(): number {
  return availableParallelism();
}
