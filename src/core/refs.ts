/**
 * Helpers that make jax-js reference counting hard to get wrong.
 *
 * Rule of ownership in worldkit: a function consumes the arrays it is given (as jax-js does);
 * parameter trees passed to `apply` are *borrowed*: callers pass `tree.ref(params)`, or use
 * `borrow`, which does it for them.
 */
import { np, tree } from "./jax.js";
import type { JsTree } from "./jax.js";

/**
 * Take one more reference on every array in a tree and return the same tree. Accepts typed
 * params objects too (interfaces are not `JsTree` types, which is why this is not `tree.ref`).
 */
export function keep<T extends object>(t: T): T {
  return tree.ref(t as unknown as JsTree<np.Array>) as unknown as T;
}

/** Dispose every array in a tree (null and undefined are ignored). */
export function release(t: JsTree<np.Array> | null | undefined): void {
  tree.dispose(t);
}

/** Call `fn` with a borrowed reference to `t`, leaving the caller's references untouched. */
export function borrow<T extends JsTree<np.Array>, R>(t: T, fn: (t: T) => R): R {
  return fn(tree.ref(t));
}

/** Read an array (consumed) into a Float32Array, asynchronously (uses the wasm thread pool). */
export async function toFloat32(x: np.Array): Promise<Float32Array> {
  const data = await x.astype(np.float32).data();
  return data as Float32Array;
}

/** Read a scalar array (consumed) as a number, asynchronously. */
export async function toNumber(x: np.Array): Promise<number> {
  const data = await x.data();
  return Number(data[0]);
}

/** Total number of scalars in a tree of arrays (does not consume). */
export function countParams(t: JsTree<np.Array>): number {
  return tree.leaves(t).reduce((n, x) => n + (x as np.Array).size, 0);
}
