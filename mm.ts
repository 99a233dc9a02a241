import { numpy as np, init, jit, random } from "@jax-js/jax";
await init();
const n = Number(process.argv[2] ?? 512);
const a = np.ones([n, n]); const b = np.ones([n, n]);
const f = jit((x: np.Array, y: np.Array) => np.matmul(x, y));
for (let i = 0; i < 3; i++) await f(a.ref, b.ref).blockUntilReady().then(r => r.dispose());
const t0 = performance.now(); const iters = 10;
for (let i = 0; i < iters; i++) { const r = f(a.ref, b.ref); await r.blockUntilReady(); r.dispose(); }
const dt = (performance.now() - t0) / iters;
console.log(`n=${n} ${dt.toFixed(2)} ms ${(2 * n ** 3 / dt / 1e6).toFixed(1)} GFLOP/s threads=${(globalThis as any).navigator?.hardwareConcurrency}`);
process.exit(0);
