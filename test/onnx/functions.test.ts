/**
 * Whole-function parity: nn blocks and their gradients exported to ONNX and run on onnxruntime
 * match jax-js. Params are flattened into graph inputs (as a training step will have them).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeKey, np, random, tree, valueAndGrad, type Array as JArray, type JsTree } from "../../src/core/index.js";
import { attention, initAttention } from "../../src/nn/attention.js";
import { causalMask } from "../../src/nn/masks.js";
import { initMLP, mlp } from "../../src/nn/mlp.js";
import { initSTBlock, stBlock } from "../../src/nn/st-block.js";
import { expectParity, opTypes } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

/**
 * `apply(params, x)` as a function of flat leaves, plus the leaves; with `grad`, the function
 * returns [loss, ...grads] of loss = sum(apply(params, x) * w) for a fixed random w.
 */
function flatten<P>(
  params: P,
  apply: (p: P, x: JArray) => JArray,
  grad: boolean,
): { f: (...leaves: JArray[]) => JArray[]; leaves: JArray[] } {
  const [leaves, treedef] = tree.flatten(params as JsTree<JArray>);
  const n = leaves.length;
  if (!grad) return { f: (...args) => [apply(tree.unflatten(treedef, args.slice(0, n)) as P, args[n])], leaves };
  const f = (...args: JArray[]) => {
    const [x, w] = [args[n], args[n + 1]];
    const loss = (p: P) => apply(p, x).mul(w).sum();
    const [value, grads] = valueAndGrad(loss as (p: JsTree<JArray>) => JArray)(tree.unflatten(treedef, args.slice(0, n)));
    return [value, ...(tree.leaves(grads as JsTree<JArray>) as JArray[])];
  };
  return { f, leaves };
}


describe("GELU MLP", () => {
  const x = () => random.normal(random.key(11), [2, 5, 16]);
  it("forward", async () => {
    const p = initMLP(makeKey(1), { dim: 16, hidden: 32, kind: "gelu" });
    const { f, leaves } = flatten(p, mlp, false);
    await expectParity(f, [...leaves, x()]);
  });
  it("value and gradient", async () => {
    const p = initMLP(makeKey(2), { dim: 16, hidden: 32, kind: "gelu" });
    const { f, leaves } = flatten(p, mlp, true);
    const res = await expectParity(f, [...leaves, x(), random.normal(random.key(12), [2, 5, 16])], { rtol: 1e-4, atol: 1e-4 });
    expect(res.onnx.length).toBe(1 + leaves.length);
    // Forward: 2 MatMuls; backward: dW1, dW2 and the hidden-activation gradient (x needs none).
    expect(opTypes(res.model).filter((o) => o === "MatMul").length).toBe(5);
  });
});

describe("causal softmax attention", () => {
  const cfg = { dim: 16, heads: 2, qkNorm: true };
  const apply = (p: ReturnType<typeof initAttention>, x: JArray) => attention(p, x, { mask: causalMask(6), rope: true });
  const x = () => random.normal(random.key(21), [2, 6, 16]);
  it("forward", async () => {
    const { f, leaves } = flatten(initAttention(makeKey(3), cfg), apply, false);
    await expectParity(f, [...leaves, x()]);
  });
  it("value and gradient", async () => {
    const { f, leaves } = flatten(initAttention(makeKey(4), cfg), apply, true);
    await expectParity(f, [...leaves, x(), random.normal(random.key(22), [2, 6, 16])], { rtol: 1e-4, atol: 1e-4 });
  });
});

describe("ST block (spatial + causal temporal attention + MLP)", () => {
  const cfg = { dim: 16, heads: 2, mlpHidden: 32 };
  const apply = (p: ReturnType<typeof initSTBlock>, x: JArray) => stBlock(p, x);
  const x = () => random.normal(random.key(31), [2, 3, 4, 16]);
  it("forward", async () => {
    const { f, leaves } = flatten(initSTBlock(makeKey(5), cfg), apply, false);
    await expectParity(f, [...leaves, x()]);
  });
  it("value and gradient", async () => {
    const { f, leaves } = flatten(initSTBlock(makeKey(6), cfg), apply, true);
    await expectParity(f, [...leaves, x(), random.normal(random.key(32), [2, 3, 4, 16])], { rtol: 1e-4, atol: 1e-4 });
  });
});
