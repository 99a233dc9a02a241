/**
 * One ST block, forward + backward (value and gradient of an MSE loss w.r.t. every param), at
 * the tokenizer-like and dynamics-like shapes: jax-js `jit` and the same function exported to
 * onnxruntime. jax-js allocates a whole program's intermediates at once and wasm memory stops
 * at 4 GiB, so both run JAX_BATCH, a batch found to fit over repeated calls (a first call may
 * fit where the next does not; a failed allocation is retried at half the batch, but can also
 * surface outside the call and end the process). Run by bench/run.ts per thread count; prints one JSON line.
 */
import { initDevice, jit, makeJaxpr, makeKey, random, tree, valueAndGrad, type Array as JArray, type JsTree } from "../src/core/index.js";
import { initSTBlock, stBlock, type STBlockParams } from "../src/nn/st-block.js";
import { exportJaxpr } from "../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../src/onnx/runtime.js";
import { DYNAMICS_LIKE, TOKENIZER_LIKE, loadAverage, stackConfig, timeIt, toHost, type STShape } from "./st-common.js";

const threads = Number(process.env.WORLDKIT_THREADS ?? 1);
const JAX_BATCH: Record<string, number> = { "tokenizer-like": 8, "dynamics-like": 4 };

/** Loss value and param gradients of one block; consumes everything. */
function blockGrad(p: STBlockParams, x: JArray, y: JArray): [JArray, STBlockParams] {
  return valueAndGrad((q: STBlockParams) => {
    const d = stBlock(q, x).sub(y);
    return d.ref.mul(d).mean();
  })(p) as unknown as [JArray, STBlockParams];
}

function setup(s: STShape, B: number) {
  const params = initSTBlock(makeKey(0), stackConfig(s));
  const shape = [B, s.T, s.N, s.D];
  return { params, x: random.normal(random.key(1), shape), y: random.normal(random.key(2), shape) };
}

async function jaxMs(s: STShape): Promise<{ B: number; ms: number }> {
  for (let B = JAX_BATCH[s.name]; B >= 1; B = Math.floor(B / 2)) {
    const { params, x, y } = setup(s, B);
    const f = jit(blockGrad as unknown as (...args: JsTree<JArray>[]) => JsTree<JArray>);
    try {
      const ms = await timeIt(async () => {
        const [loss, grads] = f(tree.ref(params as unknown as JsTree<JArray>), x.ref, y.ref) as unknown as [JArray, JsTree<JArray>];
        await loss.data();
        tree.dispose(grads);
      });
      return { B, ms };
    } catch (e) {
      if (!String(e).includes("4 GiB")) throw e;
    } finally {
      f.dispose();
      try {
        tree.dispose([params, x, y] as unknown as JsTree<JArray>);
      } catch {
        // A call that failed to allocate may have consumed some of them already.
      }
    }
  }
  throw new Error("bench/st-block.ts: no jax-js batch fits");
}

async function ortMs(s: STShape, B: number): Promise<number> {
  const { params, x, y } = setup(s, B);
  const [leaves, def] = tree.flatten(params as unknown as JsTree<JArray>);
  const flat = (...xs: JArray[]) => {
    const [l, g] = blockGrad(tree.unflatten(def, xs.slice(0, -2)) as unknown as STBlockParams, xs[xs.length - 2], xs[xs.length - 1]);
    return [l, ...(tree.leaves(g as unknown as JsTree<JArray>) as JArray[])];
  };
  const args = [...(leaves as JArray[]), x, y];
  const { jaxpr } = makeJaxpr(flat)(...args);
  const model = exportJaxpr(jaxpr);
  jaxpr.dispose();
  const session = await OnnxSession.create(model, { threads });
  const feeds: Record<string, HostTensor> = {};
  for (const [i, a] of args.entries()) feeds[`input_${i}`] = await toHost(a);
  const ms = await timeIt(() => session.run(feeds));
  await session.dispose();
  return ms;
}

await initDevice();
const shapes = [];
for (const s of [TOKENIZER_LIKE, DYNAMICS_LIKE]) {
  const jax = await jaxMs(s);
  const ort = await ortMs(s, jax.B);
  const tokens = jax.B * s.T * s.N;
  const shape = `${jax.B},${s.T},${s.N},${s.D},${s.D / 32}`;
  const load = await loadAverage();
  shapes.push({ name: s.name, shape, backend: "jax-js", ms: jax.ms, tokensPerSec: tokens / (jax.ms / 1000), load });
  shapes.push({ name: s.name, shape, backend: "onnxruntime", ms: ort, tokensPerSec: tokens / (ort / 1000), load });
}
console.log(JSON.stringify({ threads, shapes }));
process.exit(0);
