/**
 * worldkit's fast path: trace a jax-js step with `makeJaxpr`, export it with `exportJaxpr`, run
 * it with `OnnxSession` (onnxruntime-node). See export.ts for what is exported and how.
 */
export { exportJaxpr, type ExportOptions } from "./export.js";
export { OnnxSession, toOrtTensor, type HostData, type HostTensor, type OnnxSessionConfig } from "./runtime.js";
export { decodeModel } from "./proto.js";
