/**
 * The fast path against jax-js, at one thread count (WORLDKIT_THREADS; jax-js and onnxruntime
 * get the same). Run by bench/run.ts; prints one JSON line.
 *
 * - train: ST-stack training step (MSE loss, AdamW, clipping) tokens/s at the tokenizer-like
 *   and dynamics-like shapes. jax-js's jit allocates every intermediate of a program at once
 *   and wasm memory stops at 4 GiB, so jax-js runs JAX_BATCH, found to fit over repeated steps
 *   (a first step may fit where the next does not; a failed allocation is retried at half the
 *   batch, but can also surface outside the call and end the process); onnxruntime runs the
 *   full batch and that batch. Each jax-js step runs in a fresh child process of this script,
 *   since wasm memory is never returned and fragments across shapes.
 *   `achieved` is the step's matmul FLOPs over its time.
 * - matmul: 1024³ GFLOP/s, jax-js vs onnxruntime fp32 vs int8 (weight constant): the peak.
 * - inference: dynamics-like ST stack forward (B=1, 6 layers), fp32 vs int8 (median of 10
 *   alternating runs), with the int8 output's relative RMS error against fp32.
 */
import { spawnSync } from "node:child_process";
import { initDevice, jit, makeJaxpr, np, random, tree, type Array as JArray, type JsTree } from "../src/core/index.js";
import { adamwInit } from "../src/nn/optim.js";
import { stStack, type STStackParams } from "../src/nn/st-block.js";
import { exportJaxpr } from "../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../src/onnx/runtime.js";
import {
  DYNAMICS_LIKE,
  TOKENIZER_LIKE,
  loadAverage,
  makeSetup,
  makeStackStep,
  ortTrainStep,
  timeIt,
  toHost,
  tokensOf,
  type STShape,
} from "./st-common.js";

const threads = Number(process.env.WORLDKIT_THREADS ?? 1);
/** jax-js batches that fit in 4 GiB step after step (tokenizer-like 8 and dynamics-like 2 fit once, then fail). */
const JAX_BATCH: Record<string, number> = { "tokenizer-like": 4, "dynamics-like": 1 };

/** Matmul FLOPs of one training step (forward ×3): projections 24·D² and attention 4·(N+T)·D per token and layer. */
const stepFlops = (s: STShape, B: number) => 3 * s.L * B * s.T * s.N * (24 * s.D * s.D + 4 * (s.N + s.T) * s.D);

async function jaxStepMs(s: STShape): Promise<{ B: number; ms: number }> {
  for (let B = JAX_BATCH[s.name]; B >= 1; B = Math.floor(B / 2)) {
    const { step, dispose } = makeStackStep();
    let { params, batch } = makeSetup(s, B);
    let opt = adamwInit(tree.ref(params as unknown as JsTree<JArray>) as never);
    const lr = np.array(1e-3);
    try {
      const ms = await timeIt(async () => {
        const r = step(params, opt as never, tree.ref(batch as unknown as JsTree<JArray>) as never, lr.ref);
        await r.loss.data();
        params = r.params;
        opt = r.optState as never;
        r.gradNorm.dispose();
        tree.dispose(r.aux);
      });
      return { B, ms };
    } catch (e) {
      if (!String(e).includes("4 GiB")) throw e;
    } finally {
      dispose();
      try {
        tree.dispose([params, opt, batch, lr] as unknown as JsTree<JArray>);
      } catch {
        // A step that failed to allocate may have consumed some of them already.
      }
    }
  }
  throw new Error("bench/ort.ts: no jax-js batch fits");
}

async function ortStepMs(s: STShape, B: number): Promise<number> {
  const st = await ortTrainStep(makeSetup(s, B), threads);
  const ms = await timeIt(() => st.step());
  await st.dispose();
  return ms;
}

/** `jaxStepMs(s)` in a fresh process (same flags and threads as this one). */
function jaxStepMsInChild(s: STShape): { B: number; ms: number } {
  const res = spawnSync(process.execPath, [...process.execArgv, process.argv[1]], {
    env: { ...process.env, ORT_BENCH_JAX_SHAPE: s.name },
    encoding: "utf8",
    timeout: 5 * 60_000,
  });
  const line = res.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (res.status !== 0 || !line) throw new Error(`bench/ort.ts: jax-js step at ${s.name} failed:\n${res.stderr}`);
  return JSON.parse(line) as { B: number; ms: number };
}

async function train(s: STShape) {
  process.stderr.write(`bench/ort.ts: ${s.name} jax-js (threads=${threads})\n`);
  const jax = jaxStepMsInChild(s);
  process.stderr.write(`bench/ort.ts: ${s.name} jax-js B=${jax.B} ${jax.ms.toFixed(0)} ms; onnxruntime\n`);
  const ortFull = await ortStepMs(s, s.B);
  const ortSame = jax.B === s.B ? ortFull : await ortStepMs(s, jax.B);
  const row = (backend: string, B: number, ms: number) => ({
    backend,
    B,
    ms,
    tokensPerSec: (tokensOf(s) * B) / s.B / (ms / 1000),
    achievedGflops: stepFlops(s, B) / ms / 1e6,
  });
  return {
    name: s.name,
    shape: `${s.B},${s.T},${s.N},${s.D},${s.L}`,
    rows: [row("jax-js", jax.B, jax.ms), row("onnxruntime", jax.B, ortSame), row("onnxruntime", s.B, ortFull)],
    load: await loadAverage(),
  };
}

async function matmul() {
  const n = 1024;
  const flops = 2 * n ** 3;
  const a = random.normal(random.key(1), [n, n]);
  const b = random.normal(random.key(2), [n, n]);
  const mm = jit((x: JArray, y: JArray) => np.matmul(x, y));
  const jaxMs = await timeIt(async () => void (await mm(a.ref, b.ref).data()), { minRuns: 5 });
  mm.dispose();
  const { jaxpr } = makeJaxpr((x: JArray, y: JArray) => np.matmul(x, y))(a, b);
  const [ha, hb] = [await toHost(a), await toHost(b)];
  const fp32 = exportJaxpr(jaxpr, { inputNames: ["a", "b"] });
  const int8 = exportJaxpr(jaxpr, { inputNames: ["a", "b"], constants: { b: hb as HostTensor<Float32Array> }, quantize: "int8" });
  jaxpr.dispose();
  const time = async (model: Uint8Array, feeds: Record<string, HostTensor>) => {
    const s = await OnnxSession.create(model, { threads });
    const ms = await timeIt(() => s.run(feeds), { minRuns: 5 });
    await s.dispose();
    return ms;
  };
  const ortMs = await time(fp32, { a: ha, b: hb });
  const int8Ms = await time(int8, { a: ha });
  const g = (ms: number) => flops / ms / 1e6;
  return { n, jax: g(jaxMs), ortFp32: g(ortMs), ortInt8: g(int8Ms), load: await loadAverage() };
}

async function inference() {
  const s = DYNAMICS_LIKE;
  const { params, batch } = makeSetup(s, 1);
  tree.dispose(batch.y);
  const [leaves, def] = tree.flatten(params as unknown as JsTree<JArray>);
  const f = (...args: JArray[]) => stStack(tree.unflatten(def, args.slice(0, -1)) as unknown as STStackParams, args[args.length - 1]);
  const { jaxpr } = makeJaxpr(f)(...(leaves as JArray[]), batch.x);
  const inputNames = [...leaves.map((_, i) => `p${i}`), "x"];
  const constants: Record<string, HostTensor<Float32Array>> = {};
  for (const [i, l] of (leaves as JArray[]).entries()) constants[`p${i}`] = (await toHost(l)) as HostTensor<Float32Array>;
  const x = await toHost(batch.x);
  // Both sessions open, runs alternating, medians: other processes on the machine then slow
  // fp32 and int8 alike instead of whichever ran during a busy spell.
  const sessions = {
    fp32: await OnnxSession.create(exportJaxpr(jaxpr, { inputNames, outputNames: ["y"], constants }), { threads, spinning: false }),
    int8: await OnnxSession.create(exportJaxpr(jaxpr, { inputNames, outputNames: ["y"], constants, quantize: "int8" }), { threads, spinning: false }),
  };
  const out: Record<string, { ms: number; y: Float32Array<ArrayBufferLike> }> = {};
  const times: Record<string, number[]> = { fp32: [], int8: [] };
  for (let round = 0; round < 12; round++) {
    for (const kind of ["fp32", "int8"] as const) {
      const t0 = performance.now();
      const y = (await sessions[kind].run({ x })).y.data as Float32Array;
      if (round >= 2) times[kind].push(performance.now() - t0); // two warm-up rounds
      out[kind] = { ms: 0, y };
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const kind of ["fp32", "int8"] as const) {
    out[kind].ms = median(times[kind]);
    await sessions[kind].dispose();
  }
  jaxpr.dispose();
  const ref = out.fp32.y;
  const relErr = Math.sqrt(out.int8.y.reduce((acc, v, i) => acc + (v - ref[i]) ** 2, 0) / ref.reduce((acc, v) => acc + v * v, 0));
  return { shape: `1,${s.T},${s.N},${s.D},${s.L}`, fp32Ms: out.fp32.ms, int8Ms: out.int8.ms, relErr, load: await loadAverage() };
}

await initDevice();
const childShape = process.env.ORT_BENCH_JAX_SHAPE;
if (childShape) {
  const shape = [TOKENIZER_LIKE, DYNAMICS_LIKE].find((s) => s.name === childShape);
  if (!shape) throw new Error(`bench/ort.ts: unknown ORT_BENCH_JAX_SHAPE "${childShape}"`);
  console.log(JSON.stringify(await jaxStepMs(shape)));
  process.exit(0);
}
// ORT_BENCH_PARTS=matmul,inference runs a subset (the training steps take minutes).
const parts = (process.env.ORT_BENCH_PARTS ?? "matmul,inference,train").split(",");
const result = {
  threads,
  matmul: parts.includes("matmul") ? await matmul() : null,
  inference: parts.includes("inference") ? await inference() : null,
  train: parts.includes("train") ? [await train(TOKENIZER_LIKE), await train(DYNAMICS_LIKE)] : [],
};
console.log(JSON.stringify(result));
process.exit(0);
