/**
 * WebGPU in Node for bench/webgpu.ts: Dawn's Node binding (npm "webgpu", not a dependency:
 * `npm install --no-save webgpu`) as navigator.gpu, loaded with `node --import` before jax-js and
 * onnxruntime-web. DAWN_FLAGS passes Dawn options (e.g. "backend=vulkan"). Needs a Vulkan loader
 * and a GPU driver's ICD; without a GPU, VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
 * runs it on chromium's SwiftShader (correct, very slow).
 */
import { create, globals } from "webgpu";
Object.assign(globalThis, globals);
const flags = (process.env.DAWN_FLAGS ?? "").split(" ").filter(Boolean);
const gpu = create(flags);
if (typeof globalThis.navigator === "undefined") globalThis.navigator = {};
Object.defineProperty(globalThis.navigator, "gpu", { value: gpu, configurable: true });
if (!globalThis.navigator.userAgent) Object.defineProperty(globalThis.navigator, "userAgent", { value: "node-dawn", configurable: true });
// dawn.node refuses views of a SharedArrayBuffer (threaded wasm memory, as onnxruntime-web's): copy them.
const Q = globalThis.GPUQueue?.prototype;
if (Q) {
  const write = Q.writeBuffer;
  Q.writeBuffer = function (buffer, offset, data, dataOffset, size) {
    const d = ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer ? data.slice() : data instanceof SharedArrayBuffer ? data.slice(0) : data;
    return write.call(this, buffer, offset, d, dataOffset, size);
  };
}
