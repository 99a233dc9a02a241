/** Shared helpers of the src/nn tests (not a test file itself). */
import { expect } from "vitest";
import { grad, makeKey, np, random, tree } from "../../src/core/index.js";
import type { JsTree } from "../../src/core/index.js";
import { countLeaks } from "../../src/core/leaks.js";
import { formatGradCheck, gradCheck } from "../../src/nn/gradcheck.js";
import type { GradCheckOptions } from "../../src/nn/gradcheck.js";

/** Standard normal array from a seed. */
export function randn(seed: number, shape: number[], scale = 1): np.Array {
  const x = random.normal(makeKey(seed), shape);
  return scale === 1 ? x : x.mul(scale);
}

/** Host copy of an array (consumed). */
export async function host(x: np.Array): Promise<Float32Array> {
  return Float32Array.from((await x.astype(np.float32).data()) as Float32Array);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function hasNaN(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) return true;
  return false;
}

/**
 * Grad-check `apply(tree)` (non-scalar outputs are projected on a fixed random R by gradCheck).
 * `t` is consumed. Expects max relative error < `tol` (default 1e-3).
 */
export async function expectGradOk<T>(
  apply: (t: T) => np.Array,
  t: T,
  { seed = 99, tol = 1e-3, ...opts }: GradCheckOptions & { tol?: number } = {},
): Promise<void> {
  const r = await gradCheck(apply, t, { seed, ...opts });
  expect(r.details.length).toBeGreaterThan(0);
  if (process.env.WORLDKIT_GRADCHECK_LOG) console.log(`gradCheck max rel. error ${r.maxRelError.toExponential(2)}\n${formatGradCheck(r, 2)}`);
  expect(r.maxRelError, formatGradCheck(r)).toBeLessThan(tol);
}

/**
 * Run apply + grad of `loss` 20 times on borrowed inputs and expect no buffer left behind.
 * `make()` returns fresh references to the inputs each time (e.g. () => [tree.ref(p), x.ref]).
 */
export async function expectNoLeaks(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  apply: (...args: any[]) => np.Array,
  make: () => unknown[],
): Promise<void> {
  const loss = (...args: unknown[]) => apply(...args).sum();
  // Realize the inputs first: pending work holds buffers that would be counted as freed.
  const warm = apply(...make());
  await warm.blockUntilReady();
  warm.dispose();
  const leaked = await countLeaks(async () => {
    for (let i = 0; i < 20; i++) {
      const y = apply(...make());
      await y.blockUntilReady();
      y.dispose();
      const g = grad(loss)(...(make() as np.Array[])) as JsTree<np.Array>;
      await Promise.all(tree.leaves(g).map((a) => (a as np.Array).blockUntilReady()));
      tree.dispose(g);
    }
  });
  expect(leaked).toBe(0);
}
