import { beforeAll, describe, expect, it } from "vitest";
import { blockUntilReady, initDevice, makeJaxpr, makeKey, np, random, splitKey, tree } from "../../src/core/index.js";
import { countLeaks, startLeakCount } from "../../src/core/leaks.js";
import { initLinear, linear } from "../../src/nn/linear.js";
import type { LinearParams } from "../../src/nn/linear.js";
import type { JsTree } from "../../src/core/index.js";
import { adamwInit } from "../../src/nn/optim.js";
import { makeTrainStep } from "../../src/nn/train-step.js";
import type { LossFn } from "../../src/nn/train-step.js";

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
});

type Batch = { x_BI: np.Array; y_BO: np.Array };

const IN = 32;
const OUT = 64; // weight has 2048 elements: big enough to be counted by the leak check

/** A linear regression problem with an exact solution: y = x W* + b*. */
function problem(seed: number): { params: LinearParams; batch: Batch } {
  const [kInit, kX, kW, kB] = splitKey(makeKey(seed), 4);
  const x_BI = random.normal(kX, [128, IN]);
  const wStar = random.normal(kW, [IN, OUT]).mul(0.3);
  const bStar = random.normal(kB, [OUT]);
  const y_BO = np.matmul(x_BI.ref, wStar).add(bStar);
  return { params: initLinear(kInit, { inDim: IN, outDim: OUT }), batch: { x_BI, y_BO } };
}

const mse: LossFn<LinearParams, Batch> = (p, batch) => {
  const err = linear(p, batch.x_BI).sub(batch.y_BO);
  return { loss: np.square(err.ref).mean(), aux: { mae: np.abs(err).mean() } };
};

describe("makeTrainStep", () => {
  it("cuts a regression loss by more than 10x in 200 steps", async () => {
    const { params: p0, batch } = problem(1);
    const ts = makeTrainStep(mse, { adamw: { weightDecay: 0, b2: 0.99 }, clipNorm: 1 });
    let params = p0;
    let optState = adamwInit(tree.ref(params));
    const losses: number[] = [];
    for (let i = 0; i < 200; i++) {
      const out = ts.step(params, optState, tree.ref(batch), np.array(0.02));
      params = out.params;
      optState = out.optState;
      if (i === 0 || i === 199) {
        losses.push(await out.loss.jsAsync());
        expect(await (out.aux as { mae: np.Array }).mae.jsAsync()).toBeGreaterThan(0);
        expect(await out.gradNorm.jsAsync()).toBeGreaterThan(0);
      } else {
        tree.dispose([out.loss, out.aux, out.gradNorm]);
      }
    }
    expect(losses[0] / losses[1]).toBeGreaterThan(10);
    expect(await optState.count.ref.jsAsync()).toBe(200);
    tree.dispose([params, optState, batch]);
    ts.dispose();
  });

  it("leaves the live-buffer count unchanged over 20 steps", async () => {
    const { params: p0, batch } = problem(2);
    const ts = makeTrainStep(mse, { clipNorm: 0.5 });
    let params = p0;
    let optState = adamwInit(tree.ref(params));
    const run = async (steps: number) => {
      for (let i = 0; i < steps; i++) {
        const out = ts.step(params, optState, tree.ref(batch), np.array(1e-2));
        params = out.params;
        optState = out.optState;
        await out.loss.jsAsync();
        tree.dispose([out.aux, out.gradNorm]);
      }
      // Pending kernels hold their inputs until they finish; wait so only real leaks count.
      await blockUntilReady([params, optState]);
    };
    await run(1); // compile outside the count
    expect(await countLeaks(() => run(20))).toBe(0);
    tree.dispose([params, optState, batch]);
    ts.dispose();
  });

  it("stepFn traces with makeJaxpr", () => {
    const { params, batch } = problem(3);
    const ts = makeTrainStep(mse);
    const optState = adamwInit(tree.ref(params));
    const { jaxpr, treedef } = makeJaxpr(ts.stepFn as unknown as (...args: unknown[]) => JsTree<np.Array>)(params, optState, batch, np.array(1e-3));
    expect(jaxpr.jaxpr.eqns.length).toBeGreaterThan(10);
    expect(treedef.toString()).toMatch(/params.*optState.*loss.*gradNorm.*aux/);
    ts.dispose();
  });

  it("is deterministic: the same inputs give bit-identical params, with or without an rng", async () => {
    // A loss with an rng (noisy targets), to exercise the rng path too.
    const noisy: LossFn<LinearParams, Batch> = (p, batch, rng) => {
      const noise_BO = random.normal(rng!, batch.y_BO.shape).mul(0.1);
      return mse(p, { x_BI: batch.x_BI, y_BO: batch.y_BO.add(noise_BO) });
    };
    const { params, batch } = problem(4);
    const optState = adamwInit(tree.ref(params));
    for (const withRng of [false, true]) {
      const ts = makeTrainStep(withRng ? noisy : mse);
      const once = async (seed: number) => {
        const out = ts.step(tree.ref(params), tree.ref(optState), tree.ref(batch), np.array(1e-2), withRng ? makeKey(seed) : undefined);
        tree.dispose([out.optState, out.aux, out.gradNorm, out.loss]);
        return Array.from(await out.params.w.data()).concat(Array.from(await out.params.b!.data()));
      };
      const a = await once(7);
      const b = await once(7);
      expect(a).toEqual(b);
      if (withRng) expect(await once(8)).not.toEqual(a);
      ts.dispose();
    }
    tree.dispose([params, optState, batch]);
  });
});
