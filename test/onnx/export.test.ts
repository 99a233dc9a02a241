/** Graph-level behaviour of the exporter (folding, deferred broadcasts, named jits) and the runtime wrapper. */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, jnn, makeJaxpr, np, random, valueAndGrad, type Array as JArray } from "../../src/core/index.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { OnnxSession } from "../../src/onnx/runtime.js";
import { expectParity } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

const normal = (seed: number, shape: number[]): JArray => random.normal(random.key(seed), shape);
const opTypes = (model: Uint8Array): string[] =>
  ((decodeModel(model).graph as { node: { opType: string }[] }).node ?? []).map((n) => n.opType);
const count = (ops: string[], op: string): number => ops.filter((o) => o === op).length;

describe("model bytes", () => {
  it("declare opset, IR version, names, dtypes and static shapes", () => {
    const { jaxpr } = makeJaxpr((x: JArray, i: JArray) => [x.mul(2), i.add(1)])(np.ones([2, 3]), np.zeros([4], { dtype: np.int32 }));
    const model = decodeModel(exportJaxpr(jaxpr, { inputNames: ["x", "i"], outputNames: ["y", "j"] })) as any;
    expect(model.irVersion).toBe(8);
    expect(model.opsetImport).toEqual([{ domain: "", version: 20 }]);
    const dims = (v: any) => v.type.tensorType.shape.dim.map((d: any) => d.dimValue);
    expect(model.graph.input.map((v: any) => [v.name, v.type.tensorType.elemType, dims(v)])).toEqual([
      ["x", 1, [2, 3]],
      ["i", 6, [4]],
    ]);
    expect(model.graph.output.map((v: any) => v.name)).toEqual(["y", "j"]);
  });
});

describe("opset 17", () => {
  it("reductions with axes attributes, scatter-add and inlined gelu still match", async () => {
    const f = (t: JArray, i: JArray, w: JArray) =>
      valueAndGrad((tt: JArray) => jnn.gelu(np.take(tt, i, 0)).mul(w).max(1).sum())(t);
    const idx = np.array([0, 2, 2, 1], { dtype: np.int32 });
    const res = await expectParity(f, [normal(15, [3, 8]), idx, normal(16, [4, 8])], { opset: 17 });
    expect((decodeModel(res.model) as any).opsetImport).toEqual([{ domain: "", version: 17 }]);
    expect(opTypes(res.model)).toContain("ReduceMax");
  });
});

describe("optimisations", () => {
  it("folds multiplications by zero and additions of zero away", async () => {
    const res = await expectParity((x: JArray, y: JArray) => x.mul(0).add(y).mul(1), [normal(1, [3, 4]), normal(2, [3, 4])]);
    expect(opTypes(res.model).filter((o) => o !== "Identity")).toEqual([]);
  });

  it("keeps a bias broadcast un-expanded for element-wise consumers", async () => {
    const res = await expectParity((x: JArray, b: JArray) => x.add(np.broadcastTo(b, [8, 16])), [normal(3, [8, 16]), normal(4, [16])]);
    expect(opTypes(res.model)).not.toContain("Expand");
  });

  it("expands a broadcast that is a graph output", async () => {
    const res = await expectParity((b: JArray) => np.broadcastTo(b, [3, 5]), [normal(5, [5])]);
    expect(opTypes(res.model)).toContain("Expand");
  });

  it("the gradient of a matmul materialises no broadcast cotangent", async () => {
    // jax-js transposes dot by broadcasting the cotangent along K and dotting again.
    const f = (w: JArray, x: JArray, y: JArray) => valueAndGrad((ww: JArray) => np.matmul(x, ww).mul(y).sum())(w);
    const res = await expectParity(f, [normal(6, [16, 8]), normal(7, [4, 16]), normal(14, [4, 8])]);
    expect(opTypes(res.model)).not.toContain("Expand");
    expect(count(opTypes(res.model), "MatMul")).toBe(2);
  });
});

describe("named jits", () => {
  it("gelu (tanh approximation) becomes one Gelu node at opset 20", async () => {
    const res = await expectParity((x: JArray) => jnn.gelu(x), [normal(8, [4, 32])]);
    expect(count(opTypes(res.model), "Gelu")).toBe(1);
    expect(opTypes(res.model)).not.toContain("Exp");
  });

  it("exact gelu becomes Gelu(approximate=none)", async () => {
    const res = await expectParity((x: JArray) => jnn.gelu(x, { approximate: false }), [normal(9, [4, 32])]);
    const node = ((decodeModel(res.model).graph as any).node as any[]).find((n) => n.opType === "Gelu");
    expect(new TextDecoder().decode(Uint8Array.from(node.attribute[0].s))).toBe("none");
  });

  it("tanh and silu", async () => {
    const res = await expectParity((x: JArray) => [np.tanh(x.ref), jnn.silu(x)], [normal(10, [4, 32]).mul(3)]);
    expect(opTypes(res.model)).toContain("Tanh");
    expect(opTypes(res.model)).toContain("Sigmoid");
  });

  it("below opset 20 gelu is inlined and still matches", async () => {
    const x = normal(11, [4, 32]);
    const { jaxpr } = makeJaxpr((x: JArray) => jnn.gelu(x))(x);
    const model = exportJaxpr(jaxpr, { opset: 18 });
    expect(opTypes(model)).not.toContain("Gelu");
    expect(opTypes(model)).toContain("Tanh");
  });
});

describe("runtime", () => {
  it("writes outputs into preallocated buffers and runs with 1 or 2 threads", async () => {
    const x = normal(12, [64, 64]);
    const w = normal(13, [64, 64]);
    const { jaxpr } = makeJaxpr((x: JArray, w: JArray) => np.matmul(x, w))(x, w);
    const model = exportJaxpr(jaxpr, { inputNames: ["x", "w"], outputNames: ["y"] });
    const feeds = {
      x: { data: (await x.ref.data()) as Float32Array, shape: [64, 64] },
      w: { data: (await w.ref.data()) as Float32Array, shape: [64, 64] },
    };
    const expected = (await np.matmul(x, w).data()) as Float32Array;
    for (const threads of [1, 2]) {
      const session = await OnnxSession.create(model, { threads });
      const into = { y: { data: new Float32Array(64 * 64).fill(NaN), shape: [64, 64] } };
      const out = await session.run(feeds, into);
      expect(out.y.data).toBe(into.y.data);
      expect(Array.from(into.y.data)).toBeAllclose(Array.from(expected), { rtol: 1e-4, atol: 1e-4 });
      await session.dispose();
    }
  });

  it("rejects missing inputs and bad thread counts with clear errors", async () => {
    const { jaxpr } = makeJaxpr((x: JArray) => x.mul(2))(np.ones([4]));
    const model = exportJaxpr(jaxpr, { inputNames: ["x"] });
    await expect(OnnxSession.create(model, { threads: 0 })).rejects.toThrow(/threads must be a positive integer/);
    const session = await OnnxSession.create(model, { threads: 1 });
    await expect(session.run({})).rejects.toThrow(/missing inputs x/);
    await expect(session.run({ x: { data: new Float32Array(3), shape: [4] } })).rejects.toThrow(/length 3 does not fit shape \[4\]/);
    await session.dispose();
  });
});

