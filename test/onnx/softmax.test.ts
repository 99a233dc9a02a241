/** The softmax fusion (src/onnx/softmax.ts): which graphs get one `Softmax`, and that all match jax-js. */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, jit, lax, makeKey, np, random, valueAndGrad, type Array as JArray } from "../../src/core/index.js";
import { attentionCached, initAttention, maskedSoftmax } from "../../src/nn/attention.js";
import { causalMask, toAdditive } from "../../src/nn/masks.js";
import { divide } from "../../src/nn/ops.js";
import { expectParity, runBoth, opTypes, count } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

const normal = (seed: number, shape: number[]): JArray => random.normal(random.key(seed), shape);
/** The nodes maskedSoftmax decomposes into when it is not fused. */
const DECOMPOSED = ["ReduceMax", "Exp", "ReduceSum", "Reciprocal"];

/** (2, 3, 8, 64) logits: ordinary, scaled to ±~1e4 in one head, with a few −Infinity entries. */
function logits(): JArray {
  const x = normal(1, [2, 3, 8, 64]);
  const scale = np.array([1, 3000, 0.01], { dtype: np.float32 }).reshape([1, 3, 1, 1]); // (3) -> (1, 3, 1, 1)
  const holes = np.arange(64).reshape([1, 1, 1, 64]).equal(5); // (64) -> (1, 1, 1, 64)
  return np.where(holes, -Infinity, x.mul(scale));
}

describe("unmasked softmax", () => {
  it("is one Softmax node and matches jax-js on large and −inf logits", async () => {
    const res = await expectParity((x: JArray) => maskedSoftmax(x), [logits()], { rtol: 1e-5, atol: 1e-7 });
    const ops = opTypes(res.model);
    expect(count(ops, "Softmax")).toBe(1);
    for (const op of DECOMPOSED) expect(ops).not.toContain(op);
    expect(ops).not.toContain("Mul");
    // The −Infinity column is an exact zero in both.
    const p = res.onnx[0].data;
    for (let r = 0; r < p.length / 64; r++) expect(p[r * 64 + 5]).toBe(0);
  });

  it("single-position attention over a cache (attendOne) fuses its softmax", async () => {
    const p = initAttention(makeKey(3), { dim: 32, heads: 4, qkNorm: true });
    const f = (wqkv: JArray, wo: JArray, q: JArray, k: JArray, x: JArray, ck: JArray, cv: JArray) => {
      const out = attentionCached({ wqkv, wo, qNorm: { scale: q }, kNorm: { scale: k } }, x, { k: ck, v: cv }, { rope: true });
      return [out.y_BSD, out.cache.k, out.cache.v];
    };
    const args = [p.wqkv, p.wo, p.qNorm!.scale, p.kNorm!.scale, normal(4, [2, 1, 32]), normal(5, [2, 4, 40, 8]), normal(6, [2, 4, 40, 8])];
    const res = await expectParity(f, args, { rtol: 1e-4, atol: 1e-5 });
    expect(count(opTypes(res.model), "Softmax")).toBe(1);
    expect(opTypes(res.model)).not.toContain("Exp");
  });
});

describe("left decomposed", () => {
  it("when the exp is also an output, and still matches", async () => {
    // maskedSoftmax's own exp is internal, so reproduce its equations with the exp returned too.
    const f = (x: JArray) => {
      const m = np.maximum(lax.stopGradient(x.ref.max(-1, { keepdims: true })), -1e30);
      const e = np.exp(x.sub(m));
      const den = e.ref.sum(-1, { keepdims: true }).add(1e-30);
      return [divide(e.ref, den), e];
    };
    const res = await expectParity(f, [normal(7, [4, 256])], { rtol: 1e-5, atol: 1e-7 });
    expect(opTypes(res.model)).not.toContain("Softmax");
    // Without the exp as an output the same equations do fuse (so the test above is not vacuous).
    const single = await expectParity((x: JArray) => { const [p, e] = f(x); e.dispose(); return p; }, [normal(7, [4, 256])], { rtol: 1e-5, atol: 1e-7 });
    expect(count(opTypes(single.model), "Softmax")).toBe(1);
  });

  it("in a gradient, and value and gradient still match", async () => {
    const f = (x: JArray, w: JArray) => valueAndGrad((y: JArray) => maskedSoftmax(y).mul(w).sum())(x);
    const res = await expectParity(f, [normal(8, [4, 8, 32]), normal(9, [4, 8, 32])], { rtol: 1e-4, atol: 1e-6 });
    expect(opTypes(res.model)).not.toContain("Softmax");
  });

  it.each([
    ["boolean", (x: JArray) => maskedSoftmax(x, np.logicalAnd(causalMask(8, 64), np.arange(8).reshape([8, 1]).notEqual(3)))],
    ["additive", (x: JArray) => maskedSoftmax(x, toAdditive(np.logicalAnd(causalMask(8, 64), np.arange(8).reshape([8, 1]).notEqual(3))))],
  ])("with a %s mask: a fully masked row gives zeros, never NaN", async (_, f) => {
    // Row 3 of the (8, 64) mask allows nothing ((8) -> (8, 1) row selector).
    const res = await expectParity(f, [logits()], { rtol: 1e-5, atol: 1e-7 });
    expect(opTypes(res.model)).not.toContain("Softmax");
    const p = res.onnx[0].data;
    expect(p.some((v) => Number.isNaN(v))).toBe(false);
    for (let b = 0; b < 6; b++) for (let k = 0; k < 64; k++) expect(p[(b * 8 + 3) * 64 + k]).toBe(0);
  });

  it("with the mask applied outside a jit that holds the softmax", async () => {
    const inner = jit((x: JArray) => maskedSoftmax(x));
    const f = (x: JArray, m: JArray) => inner(np.where(m, x, -Infinity));
    const mask = np.logicalAnd(causalMask(8, 64), np.arange(8).reshape([8, 1]).notEqual(0)); // row 0 empty; (8) -> (8, 1)
    const res = await expectParity(f, [logits(), mask]);
    inner.dispose();
    expect(opTypes(res.model)).not.toContain("Softmax");
    expect(Array.from(res.onnx[0].data.slice(0, 64))).toEqual(new Array(64).fill(0));
  });
});

it("an all −Infinity row is NaN under ONNX Softmax (why the masked forms stay decomposed)", async () => {
  const x = np.where(np.arange(4).reshape([4, 1]).equal(1), -Infinity, normal(10, [4, 256])); // (4) -> (4, 1)
  const res = await runBoth((y: JArray) => maskedSoftmax(y), [x]);
  expect(count(opTypes(res.model), "Softmax")).toBe(1);
  const onnxRow = Array.from(res.onnx[0].data.slice(256, 512));
  const jaxRow = Array.from(res.jax[0].data.slice(256, 512));
  expect(onnxRow.every((v) => Number.isNaN(v))).toBe(true);
  expect(jaxRow).toEqual(new Array(256).fill(0));
});
