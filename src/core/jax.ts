/**
 * The one door to @jax-js/jax. Everything outside src/core and src/nn imports arrays, transforms
 * and PRNG functions from here (or from src/nn), so the rest of worldkit never depends on jax-js
 * directly and a version change is handled in one place.
 *
 * Ownership (jax-js is reference-counted): every function *consumes* the arrays passed to it.
 * Pass `x.ref` to keep using `x` afterwards; call `x.dispose()` when done with an array you own.
 */
export {
  Array,
  ClosedJaxpr,
  DType,
  Jaxpr,
  blockUntilReady,
  grad,
  jit,
  lax,
  makeJaxpr,
  nn as jnn,
  numpy as np,
  random,
  tree,
  valueAndGrad,
  vjp,
  vmap,
} from "@jax-js/jax";
export type { Device, JsTree, OwnedFunction } from "@jax-js/jax";
