/**
 * A 200-step training run of a small ST stack on onnxruntime (`compileOrt`, as the training
 * phases use it) follows jax-js's loss curve: the same init, batches and AdamW schedule, losses
 * within 1e-3 relative at every logged step. Four fixed batches cycle so the loss really falls
 * (the check would be vacuous on a flat curve).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, np, random, tree, type Array as JArray, type JsTree } from "../../src/core/index.js";
import { adamwInit } from "../../src/nn/optim.js";
import { initSTStack, stStack, type STStackParams } from "../../src/nn/st-block.js";
import { makeTrainStep } from "../../src/nn/train-step.js";
import { compileOrt } from "../../src/onnx/compiled.js";

beforeAll(async () => {
  await initDevice();
});

type Batch = { x: JArray; y: JArray };
type Tree = JsTree<JArray>;

const STEPS = 200;
const LOG_EVERY = 10;

describe("200-step loss curve", () => {
  it("onnxruntime and jax-js agree to 1e-3 relative at every logged step", async () => {
    const cfg = { dim: 16, heads: 2, mlpHidden: 32, layers: 2 };
    const lossFn = (p: STStackParams, b: Batch) => {
      const d = stStack(p, b.x).sub(b.y);
      return { loss: d.ref.mul(d).mean() };
    };
    const { step, stepFn, dispose } = makeTrainStep<STStackParams, Batch>(lossFn, { clipNorm: 1 });
    // Targets are a fixed smooth function of the inputs, so there is something to learn.
    const batches: Batch[] = Array.from({ length: 4 }, (_, i) => {
      const x = random.normal(random.key(10 + i), [2, 3, 4, 16]);
      return { x: x.ref, y: np.tanh(x.mul(0.5)) };
    });
    const lrAt = (s: number) => 3e-3 * Math.min(1, (s + 1) / 20); // warmup, as the phases do
    const params0 = initSTStack(makeKey(3), cfg);
    const opt0 = adamwInit(tree.ref(params0 as unknown as Tree) as never);

    const args = (p: unknown, o: unknown, s: number) => [p, o, tree.ref(batches[s % 4] as unknown as Tree), np.array(lrAt(s))] as Tree[];
    const compiled = await compileOrt(stepFn as never, args(params0, opt0, 0));

    const run = async (backend: "ort" | "jax"): Promise<number[]> => {
      let p: unknown = tree.ref(params0 as unknown as Tree);
      let o: unknown = tree.ref(opt0 as unknown as Tree);
      const losses: number[] = [];
      for (let s = 0; s < STEPS; s++) {
        const a = args(p, o, s);
        const r = (backend === "ort" ? await compiled.run(...a) : step(...(a as [never, never, never, JArray]))) as unknown as {
          params: Tree;
          optState: Tree;
          loss: JArray;
          gradNorm: JArray;
          aux: Tree;
        };
        p = r.params;
        o = r.optState;
        r.gradNorm.dispose();
        tree.dispose(r.aux);
        if (s % LOG_EVERY === 0 || s === STEPS - 1) losses.push((await r.loss.data())[0]);
        else r.loss.dispose();
      }
      tree.dispose(p as Tree);
      tree.dispose(o as Tree);
      return losses;
    };
    const ort = await run("ort");
    const jax = await run("jax");
    await compiled.dispose();
    dispose();
    tree.dispose([params0, opt0, batches] as unknown as Tree);

    expect(ort.length).toBe(STEPS / LOG_EVERY + 1);
    expect(jax[jax.length - 1]).toBeLessThan(0.5 * jax[0]); // it trains
    for (const [i, l] of ort.entries()) {
      expect(Math.abs(l - jax[i]) / Math.abs(jax[i]), `logged step ${i * LOG_EVERY}: ort ${l} vs jax ${jax[i]}`).toBeLessThan(1e-3);
    }
  });
});
