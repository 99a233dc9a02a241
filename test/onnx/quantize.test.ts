/** int8 inference: constant weights quantized per column, MatMuls run as DynamicQuantizeMatMul. */
import { beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeJaxpr, makeKey, np, random, tree, type Array as JArray, type JsTree } from "../../src/core/index.js";
import { initMLP, mlp, type MLPParams } from "../../src/nn/mlp.js";
import { initSTStack, stStack, type STStackParams } from "../../src/nn/st-block.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { MIN_QUANTIZED_WEIGHT, quantizeColumns } from "../../src/onnx/quantize.js";
import { OnnxSession, type HostTensor } from "../../src/onnx/runtime.js";
import { toHost, opTypes } from "./parity.js";

beforeAll(async () => {
  await initDevice();
});


/** An ST stack traced at a random x, its params also as host constants (to bake into an export). */
async function tracedStack(cfg: { dim: number; heads: number; mlpHidden: number; layers: number }, paramSeed: number, xSeed: number, xShape: number[]) {
  const params = initSTStack(makeKey(paramSeed), cfg);
  const [leaves, def] = tree.flatten(params as unknown as JsTree<JArray>);
  const x = random.normal(random.key(xSeed), xShape);
  const f = (...args: JArray[]) => stStack(tree.unflatten(def, args.slice(0, -1)) as unknown as STStackParams, args[args.length - 1]);
  const { jaxpr } = makeJaxpr(f)(...leaves, x);
  const inputNames = [...leaves.map((_, i) => `p${i}`), "x"];
  const constants: Record<string, HostTensor<Float32Array>> = {};
  for (const [i, l] of leaves.entries()) constants[`p${i}`] = (await toHost(l.ref)) as HostTensor<Float32Array>;
  return { f, leaves: leaves as JArray[], x, jaxpr, inputNames, constants };
}

describe("quantizeColumns", () => {
  it("scales each column by its max |w| / 127 and rounds", () => {
    const w = Float32Array.from([1, -0.5, -2, 0.25, 0.5, 0]); // K=3, N=2, row-major
    const { q, scale } = quantizeColumns(w, 3, 2);
    expect(Array.from(scale)).toBeAllclose([2 / 127, 0.5 / 127], { rtol: 1e-6 });
    expect(Array.from(q)).toEqual([64, -127, -127, 64, 32, 0]);
  });
});

describe("int8 MLP", () => {
  it("matches fp32 to ~1% with every MatMul quantized", async () => {
    const params = initMLP(makeKey(3), { dim: 64, hidden: 256, kind: "gelu" });
    const [leaves, def] = tree.flatten(params as unknown as JsTree<JArray>);
    const x = random.normal(random.key(4), [32, 64]);
    const f = (...args: JArray[]) => mlp(tree.unflatten(def, args.slice(0, -1)) as unknown as MLPParams, args[args.length - 1]);
    const { jaxpr } = makeJaxpr(f)(...leaves, x);
    const inputNames = [...leaves.map((_, i) => `p${i}`), "x"];
    const constants: Record<string, HostTensor<Float32Array>> = {};
    for (const [i, l] of leaves.entries()) constants[`p${i}`] = (await toHost(l.ref)) as HostTensor<Float32Array>;
    const fp32 = exportJaxpr(jaxpr, { inputNames, constants });
    const int8 = exportJaxpr(jaxpr, { inputNames, constants, quantize: "int8" });
    jaxpr.dispose();
    expect(opTypes(int8).filter((o) => o === "DynamicQuantizeMatMul").length).toBe(2);
    expect(opTypes(int8)).not.toContain("MatMul");
    expect(opTypes(int8)).not.toContain("Add"); // both biases folded into DynamicQuantizeMatMul's bias input
    expect((decodeModel(int8).graph as { input: unknown[] }).input.length).toBe(1); // only x

    const feeds = { x: await toHost(x.ref) };
    const run = async (model: Uint8Array) => {
      const s = await OnnxSession.create(model, { threads: 1 });
      const y = (await s.run(feeds)).output_0.data as Float32Array;
      await s.dispose();
      return y;
    };
    const expected = (await toHost(f(...leaves, x))).data as Float32Array;
    const yFp32 = await run(fp32);
    const yInt8 = await run(int8);
    expect(Array.from(yFp32)).toBeAllclose(Array.from(expected), { rtol: 1e-4, atol: 1e-5 });
    const relErr = (a: Float32Array) =>
      Math.sqrt(a.reduce((s, v, i) => s + (v - expected[i]) ** 2, 0) / expected.reduce((s, v) => s + v * v, 0));
    expect(relErr(yInt8)).toBeLessThan(0.02);
    expect(relErr(yInt8)).toBeGreaterThan(1e-5); // it really is quantized
  });
});

describe("int8 small constants", () => {
  it("leaves a constant under MIN_QUANTIZED_WEIGHT values (e.g. the sampling's 32 × 32 ones) in fp32", () => {
    const x = np.ones([4, 32]);
    const small = np.ones([32, 32]);
    const { jaxpr } = makeJaxpr((a: JArray) => np.matmul(a, small.ref))(x);
    const int8 = exportJaxpr(jaxpr, { inputNames: ["x"], quantize: "int8" });
    jaxpr.dispose();
    small.dispose();
    expect(32 * 32).toBeLessThan(MIN_QUANTIZED_WEIGHT);
    expect(opTypes(int8)).toContain("MatMul");
    expect(opTypes(int8)).not.toContain("DynamicQuantizeMatMul");
  });
});

describe("int8 ST stack", () => {
  it("stays within 2% relative RMS error of fp32 with every projection quantized", async () => {
    const { leaves, x, jaxpr, inputNames, constants } = await tracedStack({ dim: 64, heads: 2, mlpHidden: 256, layers: 2 }, 8, 9, [1, 4, 16, 64]);
    for (const l of leaves) l.dispose();
    const models = {
      fp32: exportJaxpr(jaxpr, { inputNames, constants }),
      int8: exportJaxpr(jaxpr, { inputNames, constants, quantize: "int8" }),
    };
    jaxpr.dispose();
    // Six projections per block (spatial and temporal qkv and output, MLP up and down), 2 blocks:
    // the fused qkv projections are too small here to be split (projections.ts).
    expect(opTypes(models.int8).filter((o) => o === "DynamicQuantizeMatMul").length).toBe(12);
    const feeds = { x: await toHost(x) };
    const run = async (model: Uint8Array) => {
      const s = await OnnxSession.create(model, { threads: 1 });
      const y = (await s.run(feeds)).output_0.data as Float32Array;
      await s.dispose();
      return y;
    };
    const fp32 = await run(models.fp32);
    const int8 = await run(models.int8);
    const relErr = Math.sqrt(int8.reduce((s, v, i) => s + (v - fp32[i]) ** 2, 0) / fp32.reduce((s, v) => s + v * v, 0));
    expect(relErr).toBeLessThan(0.02);
    expect(relErr).toBeGreaterThan(1e-5);
  });
});

describe("fused projections of constant weights", () => {
  it("become one MatMul per piece (no Split), with the same outputs", async () => {
    const { f, leaves, x, jaxpr, inputNames, constants } = await tracedStack({ dim: 32, heads: 2, mlpHidden: 64, layers: 1 }, 11, 12, [1, 3, 8, 32]);
    const baked = exportJaxpr(jaxpr, { inputNames, constants, minSplitElements: 0 });
    const small = exportJaxpr(jaxpr, { inputNames, constants }); // 24 tokens × 96: below the default size
    const asInputs = exportJaxpr(jaxpr, { inputNames });
    jaxpr.dispose();
    // Baked: q, k, v from their own MatMuls, so the two qkv Splits are gone (the temporal
    // attention's RoPE splits halves: 2 more in both) and there are 2 × 2 more MatMuls.
    const count = (m: Uint8Array, op: string) => opTypes(m).filter((o) => o === op).length;
    expect(count(asInputs, "Split")).toBe(4);
    expect(count(baked, "Split")).toBe(2);
    expect(count(small, "Split")).toBe(4);
    expect(count(baked, "MatMul") + count(baked, "FusedMatMul")).toBe(count(asInputs, "MatMul") + count(asInputs, "FusedMatMul") + 4);
    const feedsIn: Record<string, HostTensor> = { x: await toHost(x.ref) };
    for (const [name, t] of Object.entries(constants)) feedsIn[name] = t;
    const run = async (model: Uint8Array, feeds: Record<string, HostTensor>) => {
      const s = await OnnxSession.create(model, { threads: 1 });
      const y = (await s.run(feeds)).output_0.data as Float32Array;
      await s.dispose();
      return y;
    };
    const expected = (await toHost(f(...leaves, x))).data as Float32Array;
    expect(Array.from(await run(baked, { x: feedsIn.x }))).toBeAllclose(Array.from(expected), { rtol: 1e-4, atol: 1e-5 });
    expect(Array.from(await run(asInputs, feedsIn))).toBeAllclose(Array.from(expected), { rtol: 1e-4, atol: 1e-5 });
  });
});
