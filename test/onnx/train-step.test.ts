/**
 * A complete training step (src/nn/train-step.ts: loss, gradients, clipping, AdamW) exported to
 * ONNX: params, optimiser moments, the batch and the rate are graph inputs; the updated params
 * and moments, loss and gradient norm are graph outputs. Two steps are chained on onnxruntime,
 * feeding the outputs of the first back in (as a training loop does), and must match jax-js.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, makeJaxpr, np, random, tree, type Array as JArray, type JsTree } from "../../src/core/index.js";
import { adamwInit } from "../../src/nn/optim.js";
import { initSTBlock, stBlock, type STBlockParams } from "../../src/nn/st-block.js";
import { makeTrainStep } from "../../src/nn/train-step.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../../src/onnx/runtime.js";
import { toHost } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

interface Batch {
  x: JArray;
  y: JArray;
  [key: string]: JArray;
}

describe("training step on onnxruntime", () => {
  it("two chained AdamW steps of an ST block match jax-js", async () => {
    const cfg = { dim: 16, heads: 2, mlpHidden: 32 };
    const loss = (p: STBlockParams, b: Batch) => {
      const d = stBlock(p, b.x).sub(b.y);
      return { loss: d.ref.mul(d).mean() };
    };
    const { stepFn, step, dispose } = makeTrainStep(loss as never, { clipNorm: 1 });
    const params = initSTBlock(makeKey(7), cfg) as unknown as JsTree<JArray>;
    const opt = adamwInit(tree.ref(params) as never) as unknown as JsTree<JArray>;
    const batch = { x: random.normal(random.key(1), [2, 3, 4, 16]), y: random.normal(random.key(2), [2, 3, 4, 16]) };
    const lr = np.array(3e-3);

    // Flat signature: (params..., optState..., batch..., lr) -> (outputs...)
    const state = [params, opt, batch, lr] as JsTree<JArray>[];
    const [stateLeaves, stateDef] = tree.flatten(state as JsTree<JArray>);
    const flat = (...leaves: JArray[]) => {
      const [p, o, b, l] = tree.unflatten(stateDef, leaves) as unknown as [never, never, never, JArray];
      return tree.leaves(stepFn(p, o, b, l) as unknown as JsTree<JArray>) as JArray[];
    };
    const { jaxpr, treedef: outDef } = makeJaxpr(flat)(...stateLeaves);
    const model = exportJaxpr(jaxpr);
    jaxpr.dispose();
    const session = await OnnxSession.create(model, { threads: 1 });

    // Output leaves in the order of StepOutput's keys: params, optState {m, v, count}, loss, gradNorm, aux.
    const nParams = tree.leaves(params).length;
    const feeds: Record<string, HostTensor> = {};
    for (const [i, a] of stateLeaves.entries()) feeds[`input_${i}`] = await toHost(a.ref);
    let onnxOut: HostTensor[] = [];
    for (let s = 0; s < 2; s++) {
      const out = await session.run(feeds);
      onnxOut = session.outputNames.map((n) => out[n]);
      // Feed back params, m, v, count (the first 3 * nParams + 1 outputs, same order as inputs).
      for (let i = 0; i < 3 * nParams + 1; i++) feeds[`input_${i}`] = onnxOut[i];
    }
    await session.dispose();
    expect(onnxOut[3 * nParams].data).toEqual(Int32Array.from([2])); // AdamW's step count after two steps

    // jax-js: two jitted steps.
    let p = params as never;
    let o = opt as never;
    let last: JArray[] = [];
    for (let s = 0; s < 2; s++) {
      const r = step(p, o, tree.ref(batch) as never, lr.ref);
      p = r.params as never;
      o = r.optState as never;
      if (s === 1) last = tree.leaves(r as unknown as JsTree<JArray>) as JArray[];
      else (r.loss.dispose(), r.gradNorm.dispose(), tree.dispose(r.aux));
    }
    dispose();
    tree.dispose(batch);
    lr.dispose();

    expect(outDef.size).toBe(last.length);
    expect(onnxOut.length).toBe(last.length);
    for (const [i, a] of last.entries()) {
      const expected = await toHost(a);
      expect(onnxOut[i].shape).toEqual(expected.shape);
      if (expected.data instanceof Float32Array) {
        expect(Array.from(onnxOut[i].data)).toBeAllclose(Array.from(expected.data), { rtol: 1e-4, atol: 2e-5 });
      } else {
        expect(Array.from(onnxOut[i].data)).toEqual(Array.from(expected.data)); // the step count
      }
    }
  });
});
