/**
 * Device selection. jax-js runs on wasm in Node (multi-threaded through ./worker-shim) and on
 * WebGPU in browsers that have it; `initDevice()` starts the backends once and picks one.
 */
import { defaultDevice, init } from "@jax-js/jax";
import type { Device } from "@jax-js/jax";

export interface DeviceInfo {
  /** The device arrays are created on by default from now on. */
  device: Device;
  /** Every backend that started. */
  available: Device[];
  /** wasm worker threads (1 means single-threaded). */
  threads: number;
}

let current: DeviceInfo | null = null;

/**
 * Start jax-js and choose the default device: `preferred` if it is available, else WebGPU when
 * present, else wasm. Safe to call many times; later calls only switch the default device.
 */
export async function initDevice(preferred?: Device): Promise<DeviceInfo> {
  const available = current?.available ?? (await init());
  const pick =
    preferred && available.includes(preferred)
      ? preferred
      : available.includes("webgpu")
        ? "webgpu"
        : "wasm";
  if (preferred && !available.includes(preferred)) {
    throw new Error(`device "${preferred}" is not available here (available: ${available.join(", ")})`);
  }
  defaultDevice(pick);
  current = { device: pick, available, threads: wasmThreads() };
  return current;
}

/** Number of wasm threads jax-js will use: 1 unless a Worker global (browser or shim) exists. */
export function wasmThreads(): number {
  const g = globalThis as { Worker?: unknown; SharedArrayBuffer?: unknown; navigator?: { hardwareConcurrency?: number } };
  if (typeof g.Worker === "undefined" || typeof g.SharedArrayBuffer === "undefined") return 1;
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 4);
}
