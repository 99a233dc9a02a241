/**
 * Small differentiable ops that work around jax-js 0.1.25 quirks.
 *
 * `divide(a, b)`: in jax-js 0.1.25 the JVP rule of `reciprocal` (which `a.div(b)` uses for
 * floats) never releases its input, so eager `grad` through a division by a *computed* array
 * leaks one buffer per call (`jnn.softmax` and `jnn.sigmoid` are affected too). Inside `jit`
 * the rule runs on tracers and nothing leaks, so `divide` is a division wrapped in `jit`.
 * Results are identical to `a.div(b)`; inside an outer `jit` it is inlined.
 */
import { jit, np } from "../core/jax.js";

/** a / b with broadcasting; consumes both. Safe under eager `grad` (see the file comment). */
export const divide = jit((a: np.Array, b: np.Array): np.Array => a.div(b));
