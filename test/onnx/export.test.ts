/** Graph-level behaviour of the exporter (folding, deferred broadcasts, named jits) and the runtime wrapper. */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, jnn, makeJaxpr, np, random, valueAndGrad, type Array as JArray } from "../../src/core/index.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { canonicalTranspose } from "../../src/onnx/graph.js";
import { layerNorm, rmsNorm } from "../../src/nn/norm.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { OnnxSession } from "../../src/onnx/runtime.js";
import { expectParity, opTypes, count } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});

const normal = (seed: number, shape: number[]): JArray => random.normal(random.key(seed), shape);

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

describe("transposes", () => {
  it("canonicalTranspose drops size-1 axes and merges axes that stay neighbours", () => {
    expect(canonicalTranspose([128, 64, 1, 8, 32], [2, 0, 3, 1, 4])).toEqual({ inShape: [128, 64, 8, 32], perm: [0, 2, 1, 3] });
    expect(canonicalTranspose([2, 3, 4, 5], [0, 1, 3, 2])).toEqual({ inShape: [6, 4, 5], perm: [0, 2, 1] });
    expect(canonicalTranspose([2, 1, 3], [1, 0, 2])).toEqual({ inShape: [6], perm: [0] });
  });

  it("q, k, v split out of a fused projection are transposed as rank-4 pieces and match", async () => {
    const x = normal(16, [2, 5, 3, 4, 8]); // (B, S, 3, H, Dh)
    const f = (x: JArray) => {
      const [q, k, v] = np.split(x.transpose([2, 0, 3, 1, 4]), [1, 2], 0); // 3 × (1, B, H, S, Dh)
      return [q.reshape([2, 4, 5, 8]), k.reshape([2, 4, 5, 8]).mul(2), v.reshape([2, 4, 5, 8])];
    };
    const res = await expectParity(f, [x], { rtol: 0, atol: 0 });
    const nodes = (decodeModel(res.model).graph as any).node as any[];
    const transposes = nodes.filter((n) => n.opType === "Transpose");
    expect(transposes.length).toBe(3);
    for (const t of transposes) expect(t.attribute[0].ints.map(Number)).toEqual([0, 2, 1, 3]);
  });
});

describe("norms", () => {
  it("a forward LayerNorm is one LayerNormalization and an RMSNorm one SimplifiedLayerNormalization", async () => {
    const f = (x: JArray, s: JArray, b: JArray, r: JArray) => [layerNorm({ scale: s.ref, bias: b }, x.ref), rmsNorm({ scale: r }, x.mul(3))];
    const res = await expectParity(f, [normal(17, [2, 3, 32]).add(1), normal(18, [32]), normal(19, [32]), normal(20, [32])]);
    const ops = opTypes(res.model);
    expect(count(ops, "LayerNormalization")).toBe(1);
    expect(count(ops, "SimplifiedLayerNormalization")).toBe(1);
    expect(ops).not.toContain("Sqrt");
    expect(ops).not.toContain("ReduceSum");
  });

  it("in a gradient (intermediates reused by the backward) norms are not fused and still match", async () => {
    const f = (x: JArray, s: JArray, b: JArray) => valueAndGrad((x: JArray) => layerNorm({ scale: s, bias: b }, x.ref).mul(x).sum())(x);
    const res = await expectParity(f, [normal(21, [4, 32]), normal(22, [32]), normal(23, [32])], { rtol: 1e-4, atol: 2e-5 });
    expect(opTypes(res.model)).not.toContain("LayerNormalization");
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

  for (const approximate of [true, false]) {
    it(`the gradient of gelu (approximate=${approximate}) is Gelu plus a short derivative, not the inlined residual chain`, async () => {
      // Values up to ±6 cover both tails, where an error in the derivative formula would show.
      const x = normal(14, [8, 64]).mul(2.5);
      const w = normal(15, [8, 64]);
      const f = (x: JArray, w: JArray) => valueAndGrad((x: JArray) => jnn.gelu(x, { approximate }).mul(w).sum())(x);
      const res = await expectParity(f, [x, w], { rtol: 1e-4, atol: 2e-5 });
      const ops = opTypes(res.model);
      expect(count(ops, "Gelu")).toBe(1);
      // The inlined residual chains negate (and the tanh one selects signs with Where).
      expect(ops).not.toContain("Where");
      expect(ops).not.toContain("Neg");
      expect(ops.length).toBeLessThan(20);
    });
  }

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

