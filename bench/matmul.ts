/**
 * fp32 matmul GFLOP/s on jax-js wasm at a few shapes. Run by bench/run.ts in a child process per
 * thread count (the thread pool size is fixed when jax-js loads). Prints one JSON line.
 */
import { initDevice, jit, np } from "../src/core/index.js";

const SHAPES: [number, number, number][] = [
  [256, 256, 256],
  [1024, 1024, 1024],
  [4096, 256, 256], // tokens × width × width: a linear layer at a training shape
];

async function timeIt(f: () => Promise<void>, minMs = 400): Promise<number> {
  await f();
  await f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs || n < 3) {
    await f();
    n++;
  }
  return (performance.now() - t0) / n;
}

await initDevice();
const results = [];
for (const [m, k, n] of SHAPES) {
  const a = np.ones([m, k]).mul(0.5);
  const b = np.ones([k, n]).mul(0.25);
  const mm = jit((x: np.Array, y: np.Array) => np.matmul(x, y));
  const ms = await timeIt(async () => {
    const r = mm(a.ref, b.ref);
    await r.blockUntilReady();
    r.dispose();
  });
  results.push({ shape: `${m}x${k}x${n}`, ms, gflops: (2 * m * k * n) / ms / 1e6 });
  a.dispose();
  b.dispose();
  mm.dispose();
}
console.log(JSON.stringify({ threads: Number(process.env.WORLDKIT_THREADS ?? 0), matmul: results }));
process.exit(0);
