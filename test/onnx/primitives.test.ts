/** Per-primitive parity: every lowering in src/onnx/ops.ts against jax-js, on random inputs. */
import { beforeAll, describe, expect, it } from "vitest";
import { hostRng, initDevice, jnn, lax, makeJaxpr, np, random, valueAndGrad, type Array as JArray } from "../../src/core/index.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { OnnxSession } from "../../src/onnx/runtime.js";
import { LOWERINGS } from "../../src/onnx/ops.js";
import { expectParity, seenPrimitives, toHost, opTypes } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

let seed = 0;
const normal = (shape: number[]): JArray => random.normal(random.key(seed++), shape);
const uniform = (shape: number[], lo: number, hi: number): JArray =>
  random.uniform(random.key(seed++), shape, { minval: lo, maxval: hi });
function ints(shape: number[], lo: number, hi: number): JArray {
  const rng = hostRng(seed++);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Int32Array.from({ length: n }, () => lo + Math.floor(rng() * (hi - lo)));
  return np.array(data, { dtype: np.int32 }).reshape(shape);
}

describe("element-wise", () => {
  const unaryCases: [string, (x: JArray) => JArray, () => JArray][] = [
    ["neg", (x) => x.neg(), () => normal([3, 5])],
    ["reciprocal", (x) => np.reciprocal(x), () => uniform([3, 5], 0.5, 2)],
    ["exp", (x) => np.exp(x), () => normal([3, 5])],
    ["log", (x) => np.log(x), () => uniform([3, 5], 0.1, 3)],
    ["sqrt", (x) => np.sqrt(x), () => uniform([3, 5], 0.1, 3)],
    ["sin", (x) => np.sin(x), () => normal([3, 5])],
    ["cos", (x) => np.cos(x), () => normal([3, 5])],
    ["asin", (x) => np.asin(x), () => uniform([3, 5], -0.9, 0.9)],
    ["atan", (x) => np.atan(x), () => normal([3, 5])],
    ["erf", (x) => lax.erf(x), () => normal([3, 5])],
    ["erfc", (x) => lax.erfc(x), () => normal([3, 5])],
    ["floor", (x) => np.floor(x), () => normal([3, 5]).mul(3)],
    ["ceil", (x) => np.ceil(x), () => normal([3, 5]).mul(3)],
    ["stop_gradient", (x) => lax.stopGradient(x), () => normal([3, 5])],
    ["gelu (nested jit)", (x) => jnn.gelu(x), () => normal([3, 5])],
  ];
  for (const [name, f, make] of unaryCases) it(name, async () => void (await expectParity(f, [make()])));

  it("add, mul, min, max with broadcasting and literals", async () => {
    await expectParity((a: JArray, b: JArray) => a.ref.add(b).mul(2).sub(np.minimum(a, 0.5)), [normal([4, 1, 3]), normal([5, 3])]);
    await expectParity((a: JArray, b: JArray) => np.maximum(a.ref, b).mul(a), [normal([2, 3]), normal([3])]);
  });

  it("int add, mul, neg, min, max are exact", async () => {
    await expectParity(
      (a: JArray, b: JArray) => np.maximum(a.ref.mul(b.ref).add(3).neg(), np.minimum(a, b)),
      [ints([4, 6], -50, 50), ints([6], -50, 50)],
    );
  });

  it("idiv and mod on ints truncate like C (exact)", async () => {
    await expectParity((a: JArray, b: JArray) => np.fmod(a, b), [ints([40], -100, 100), ints([40], -9, 9).add(10)]);
    await expectParity((a: JArray, b: JArray) => np.floorDivide(a, b), [ints([40], -100, 100), ints([40], 1, 9)]);
  });

  it("remainder (mod primitive) on ints and floats", async () => {
    await expectParity((a: JArray, b: JArray) => np.remainder(a, b), [ints([40], -100, 100), ints([40], 1, 9)]);
    await expectParity((a: JArray, b: JArray) => np.remainder(a, b), [normal([30]).mul(10), uniform([30], 0.5, 3)]);
  });

  it("idiv and mod on floats", async () => {
    await expectParity((a: JArray, b: JArray) => np.fmod(a, b), [normal([30]).mul(10), uniform([30], 0.5, 3)]);
    await expectParity((a: JArray, b: JArray) => np.floorDivide(a, b), [normal([30]).mul(10), uniform([30], 0.5, 3)]);
  });

  it("compare ops and where", async () => {
    const f = (a: JArray, b: JArray) => [
      np.less(a.ref, b.ref),
      np.greater(a.ref, b.ref),
      np.equal(np.floor(a.ref), np.floor(b.ref)),
      np.notEqual(np.floor(a.ref), np.floor(b.ref)),
      np.lessEqual(a.ref, b.ref),
      np.where(np.less(a.ref, 0), a, b),
    ];
    await expectParity(f, [normal([4, 5]).mul(2), normal([5]).mul(2)]);
  });

  it("cast float -> int32 -> bool -> float", async () => {
    await expectParity((a: JArray) => {
      const i = a.astype(np.int32);
      return [i.ref, i.ref.astype(np.bool), i.astype(np.bool).astype(np.float32)];
    }, [normal([10]).mul(5)]);
  });
});

describe("reductions", () => {
  it("sum, max, min, prod over axes", async () => {
    await expectParity(
      (x: JArray) => [x.ref.sum(1), np.max(x.ref, [0, 2]), np.min(x.ref, 2), np.prod(x.ref, 0), x.sum()],
      [uniform([3, 4, 5], 0.5, 1.5)],
    );
  });

  it("argmin and argmax (int32, exact)", async () => {
    await expectParity((x: JArray) => [np.argmin(x.ref, -1), np.argmax(x, 0)], [normal([6, 7])]);
  });

  it("int sum and bool any/all", async () => {
    await expectParity((x: JArray) => [x.ref.sum(0), np.less(x, 0).any(1)], [ints([5, 6], -9, 9)]);
  });
});

describe("movement", () => {
  it("transpose, reshape, broadcastTo", async () => {
    await expectParity(
      (x: JArray, y: JArray) => [x.ref.transpose([2, 0, 1]), x.reshape([6, 4]), np.broadcastTo(y, [3, 2, 4])],
      [normal([2, 3, 4]), normal([2, 1])],
    );
  });

  it("concatenate and split", async () => {
    await expectParity(
      (a: JArray, b: JArray) => [np.concatenate([a.ref, b], 1), ...np.split(a, [1, 3], 1)],
      [normal([2, 4, 3]), normal([2, 2, 3])],
    );
  });

  it("slice (shrink), pad, flip", async () => {
    await expectParity(
      (x: JArray) => [x.ref.slice([1, 3], [], [0, 2]), np.pad(x.ref, [[1, 0], [0, 2], [3, 1]]), np.flip(x, [0, 2])],
      [normal([4, 3, 5])],
    );
  });

  it("pad with negative widths crops (jax-js traces it but cannot evaluate it)", async () => {
    const x = normal([4, 5]);
    const { jaxpr } = makeJaxpr((x: JArray) => np.pad(x, [[-1, 2], [1, -2]]))(x);
    const session = await OnnxSession.create(exportJaxpr(jaxpr), { threads: 1 });
    const out = await session.run({ input_0: await toHost(x.ref) });
    await session.dispose();
    // Same result from a crop then a non-negative pad: rows 1..4, columns 0..3.
    const expected = await toHost(np.pad(x.slice([1, 4], [0, 3]), [[0, 2], [1, 0]]));
    expect(out.output_0.shape).toEqual([5, 4]);
    expect(Array.from(out.output_0.data)).toEqual(Array.from(expected.data));
  });
});

describe("indexing", () => {
  it("take along an axis (gather) with int32 indices", async () => {
    await expectParity(
      (t: JArray, i: JArray) => [np.take(t.ref, i.ref, 0), np.take(t, i, 1)],
      [normal([10, 10, 3]), ints([2, 4], 0, 10)],
    );
  });

  it("two index arrays (GatherND) and an index axis moved to the front", async () => {
    await expectParity(
      (x: JArray, i: JArray, j: JArray) => [x.ref.slice([], i.ref, j.ref), x.slice(i, [], j)],
      [normal([3, 6, 7, 2]), ints([4, 1], 0, 3), ints([5], 0, 6)],
    );
  });

  it("gradient of take is a scatter-add (duplicates accumulate)", async () => {
    const f = (t: JArray, i: JArray, w: JArray) => valueAndGrad((tt: JArray) => np.take(tt, i, 0).mul(w).sum())(t);
    const res = await expectParity(f, [normal([5, 3]), np.array([1, 1, 4, 1], { dtype: np.int32 }), normal([4, 3])]);
    expect(opTypes(res.model)).toContain("ScatterND");
  });
});

describe("dot", () => {
  it("matmul lowers to MatMul without Mul/ReduceSum", async () => {
    const res = await expectParity((a: JArray, b: JArray) => np.matmul(a, b), [normal([2, 3, 8]), normal([8, 5])]);
    const ops = opTypes(res.model);
    expect(ops).toContain("MatMul");
    expect(ops).not.toContain("ReduceSum");
    expect(ops).not.toContain("Mul");
  });

  it("batched q @ k^T, vector dot, matrix-vector", async () => {
    await expectParity(
      (q: JArray, k: JArray, v: JArray) => [
        np.matmul(q.ref, np.moveaxis(k.ref, -1, -2)),
        np.dot(v.ref, v.ref),
        np.matmul(q, v),
      ],
      [normal([2, 4, 3, 6]), normal([2, 4, 5, 6]), normal([6])],
    );
  });
});

describe("errors", () => {
  it("an unsupported primitive names itself and its equation", () => {
    const { jaxpr } = makeJaxpr((x: JArray) => np.sort(x))(np.ones([4]));
    expect(() => exportJaxpr(jaxpr)).toThrow(/no ONNX lowering for primitive "sort" in equation: .*sort/);
    jaxpr.dispose();
  });

  it("random_bits asks for randomness as an input", () => {
    const { jaxpr } = makeJaxpr((k: JArray) => random.uniform(k, [3]))(random.key(0));
    expect(() => exportJaxpr(jaxpr)).toThrow(/random_bits cannot be exported.*input array/);
    jaxpr.dispose();
  });

  it("wrong number of input names", () => {
    const { jaxpr } = makeJaxpr((x: JArray) => x.mul(2))(np.ones([4]));
    expect(() => exportJaxpr(jaxpr, { inputNames: ["a", "b"] })).toThrow(/2 inputNames for a jaxpr with 1 inputs/);
    jaxpr.dispose();
  });
});

describe("coverage", () => {
  it("every lowering in ops.ts was exercised by a parity test above", () => {
    const missing = Object.keys(LOWERINGS).filter((p) => !seenPrimitives.has(p));
    expect(missing).toEqual([]);
  });
});
