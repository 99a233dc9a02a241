/**
 * AdamW update with global-norm clipping (src/nn/optim.ts), jit-compiled, on ~5M params (the
 * size of a 6-layer D=256 ST stack): 20 matrices of 512×512. Run by bench/run.ts per thread
 * count; prints one JSON line. The update is memory-bound: ~10 passes over params, grads, m, v.
 */
import { initDevice, jit, np, random, tree, type Array as JArray, type JsTree } from "../src/core/index.js";
import { ADAMW_DEFAULTS, adamwInit, adamwUpdate, clipByGlobalNorm } from "../src/nn/optim.js";
import { loadAverage, timeIt } from "./st-common.js";

type Params = JArray[];

await initDevice();
const params: Params = Array.from({ length: 20 }, (_, i) => random.normal(random.key(i), [512, 512]).mul(0.02));
const grads: Params = Array.from({ length: 20 }, (_, i) => random.normal(random.key(100 + i), [512, 512]).mul(1e-3));
let p = params;
let state = adamwInit(tree.ref(params as JsTree<JArray>) as Params);
const lr = np.array(1e-3);
const update = jit((g: Params, s: typeof state, q: Params, rate: JArray) => {
  const clipped = clipByGlobalNorm(g, 1);
  clipped.norm.dispose();
  return adamwUpdate(clipped.grads, s, q, { ...ADAMW_DEFAULTS, lr: rate });
});
const ms = await timeIt(
  async () => {
    const r = update(tree.ref(grads as JsTree<JArray>) as Params, state, p, lr.ref);
    p = r.params;
    state = r.state;
    await p[p.length - 1].ref.data();
  },
  { minRuns: 5, minMs: 500 },
);
const count = params.reduce((n, a) => n + a.size, 0);
console.log(JSON.stringify({ threads: Number(process.env.WORLDKIT_THREADS ?? 0), params: count, ms, load: await loadAverage() }));
process.exit(0);
