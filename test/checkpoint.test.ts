import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostRng, initDevice, np, tree } from "../src/core/index.js";
import { countLeaks, startLeakCount } from "../src/core/leaks.js";
import { encodeSafetensors } from "../src/core/safetensors.js";
import type { ParamTree } from "../src/core/tree-names.js";
import { namedLeaves, tensorsToTree, treeToTensors } from "../src/core/tree-names.js";
import {
  checkpointPath,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from "../src/core/checkpoint.js";
import { floatsFor, intsFor } from "./helpers/ckpt-writer.js";

let dir: string;

beforeAll(async () => {
  await initDevice();
  await startLeakCount();
  dir = await mkdtemp(join(tmpdir(), "worldkit-ckpt-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Float32 values with the awkward bit patterns (-0, NaN, infinities, subnormals) plus random ones. */
function awkwardFloats(n: number, seed: number): Float32Array {
  const rng = hostRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng() - 0.5) * 10 ** Math.floor(rng() * 20 - 10);
  out.set([-0, NaN, Infinity, -Infinity, 1e-45, -1.1754942e-38, 3.4028235e38], 0);
  return out;
}

function randomInts(n: number, seed: number): Int32Array {
  const rng = hostRng(seed);
  const out = Int32Array.from({ length: n }, () => Math.floor(rng() * 2 ** 32) | 0);
  out.set([-2147483648, 2147483647, 0, -1], 0);
  return out;
}

/** A nested tree of float32 and int32 arrays, big enough to be realized buffers (>= 1024 elements). */
function makeParams(seed: number) {
  return {
    enc: {
      layers: [
        { wq: np.array(awkwardFloats(64 * 32, seed), { shape: [64, 32] }), count: np.array(randomInts(1024, seed + 1)) },
        { wq: np.array(awkwardFloats(64 * 32, seed + 2), { shape: [64, 32] }), count: np.array(randomInts(1024, seed + 3)) },
      ],
      scale: np.array(new Float32Array([0.125])).reshape([]), // (1,) -> (): a scalar
    },
    head: { bias: np.array(awkwardFloats(1536, seed + 4), { shape: [2, 3, 256] }) },
  };
}

async function rawBytes(x: np.Array): Promise<number[]> {
  const d = await x.ref.data();
  return Array.from(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
}

/** Leaves of a tree by dotted path, with the keys seen at every level (to compare structure and order). */
function describeTree(t: unknown, path = ""): string[] {
  if (t instanceof np.Array) return [`${path}:${t.dtype}[${t.shape.join(",")}]`];
  if (Array.isArray(t)) return [`${path}:list(${t.length})`, ...t.flatMap((c, i) => describeTree(c, `${path}.${i}`))];
  const obj = t as Record<string, unknown>;
  return [`${path}:{${Object.keys(obj).join(",")}}`, ...Object.entries(obj).flatMap(([k, c]) => describeTree(c, `${path}.${k}`))];
}

async function expectSameBits(a: ParamTree, b: ParamTree): Promise<void> {
  expect(describeTree(b)).toEqual(describeTree(a));
  const la = tree.leaves(a) as np.Array[];
  const lb = tree.leaves(b) as np.Array[];
  for (let i = 0; i < la.length; i++) expect(await rawBytes(lb[i])).toEqual(await rawBytes(la[i]));
}

describe("tree names", () => {
  it("flattens to dotted names in tree order and rebuilds from names alone", async () => {
    const t = { enc: { layers: [{ wq: np.zeros([2, 2]) }, { wq: np.ones([2]) }] }, idx: np.array(new Int32Array([1, 2, 3])) };
    expect(namedLeaves(t, "params").map(([n]) => n)).toEqual(["params.enc.layers.0.wq", "params.enc.layers.1.wq", "params.idx"]);
    const tensors = await treeToTensors(t);
    expect(Object.keys(tensors)).toEqual(["enc.layers.0.wq", "enc.layers.1.wq", "idx"]);
    expect(tensors.idx).toEqual({ dtype: "I32", shape: [3], data: new Int32Array([1, 2, 3]) });
    const back = tensorsToTree(tensors) as typeof t;
    expect(Array.isArray(back.enc.layers)).toBe(true);
    expect(back.enc.layers[1].wq.shape).toEqual([2]);
    expect(Array.from(await back.idx.ref.data())).toEqual([1, 2, 3]);
    tree.dispose([t, back] as unknown as ParamTree);
  });

  it("refuses keys and leaves that would not come back the same", () => {
    const x = np.zeros([2]);
    expect(() => namedLeaves({ a: { "0": x } } as never)).toThrow(/key "0" under "a" .*looks like an array index/);
    expect(() => namedLeaves({ "a.b": x } as never)).toThrow(/key "a\.b" under "\(root\)"/);
    expect(() => namedLeaves({ a: { lr: 3 } } as never)).toThrow(/"a\.lr" is a number, not an array/);
    x.dispose();
  });
});

describe("checkpoints", () => {
  it("round-trips a nested float32/int32 tree and optimizer state bit-exactly, with step, config and extra", async () => {
    const params = makeParams(1);
    const optState = {
      mu: makeParams(10),
      nu: makeParams(20),
      count: np.array(7, { dtype: np.int32 }), // a scalar, as AdamW keeps its step count
      flags: np.array(new Uint32Array([1, 2 ** 32 - 1])),
      empty: [],
      none: {},
    };
    const path = checkpointPath(dir, 500);
    expect(path.endsWith("ckpt-000500.safetensors")).toBe(true);
    const config = { model: { layers: 2, width: 32 }, lr: 3e-4, name: "tiny" };
    const extra = { loaderPosition: { shard: 3, offset: 1234 }, seed: 42 };
    const before = params.enc.layers[0].wq.refCount;
    await saveCheckpoint(path, { params, optState, step: 500, config, extra });
    expect(params.enc.layers[0].wq.refCount).toBe(before); // the caller's tree is not consumed

    const loaded = await loadCheckpoint(path);
    expect(loaded.step).toBe(500);
    expect(loaded.config).toEqual(config);
    expect(loaded.extra).toEqual(extra);
    await expectSameBits(params, loaded.params);
    await expectSameBits(optState as unknown as ParamTree, loaded.optState!);
    expect((loaded.optState as { empty: unknown }).empty).toEqual([]);

    // With templates (arrays for params, specs for the optimizer) the same bits come back.
    const specs = tree.map((x: np.Array) => ({ shape: x.shape, dtype: x.dtype }), optState as unknown as ParamTree);
    const again = await loadCheckpoint(path, { template: params, optTemplate: specs as never });
    await expectSameBits(params, again.params);
    await expectSameBits(optState as unknown as ParamTree, again.optState!);
    const noOpt = await loadCheckpoint(path, { loadOptState: false });
    expect(noOpt.optState).toBeNull();
    for (const t of [loaded, again, noOpt]) tree.dispose([t.params, t.optState] as ParamTree);
    tree.dispose([params, optState] as unknown as ParamTree);
  });

  it("saving leaks no arrays", async () => {
    const params = makeParams(2);
    const leaked = await countLeaks(async () => {
      await saveCheckpoint(join(dir, "leak.safetensors"), { params, step: 1, config: null });
    });
    expect(leaked).toBe(0);
    tree.dispose(params as unknown as ParamTree);
  });

  it("rejects truncated, foreign and non-worldkit files with an error naming the file", async () => {
    const params = makeParams(3);
    const good = join(dir, "good.safetensors");
    await saveCheckpoint(good, { params, step: 3, config: {} });
    tree.dispose(params as unknown as ParamTree);
    const bytes = await readFile(good);

    const byOne = join(dir, "truncated-1.safetensors");
    await writeFile(byOne, bytes.subarray(0, bytes.length - 1));
    await expect(loadCheckpoint(byOne)).rejects.toThrow(/truncated-1\.safetensors: .*truncated/);
    const byHalf = join(dir, "truncated-half.safetensors");
    await writeFile(byHalf, bytes.subarray(0, bytes.length >> 1));
    await expect(loadCheckpoint(byHalf)).rejects.toThrow(/truncated-half\.safetensors: .*truncated/);
    const tiny = join(dir, "tiny.safetensors");
    await writeFile(tiny, bytes.subarray(0, 5));
    await expect(loadCheckpoint(tiny)).rejects.toThrow(/tiny\.safetensors: not a safetensors file/);

    const png = join(dir, "picture.png");
    const pngBytes = new Uint8Array(300);
    pngBytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
    await writeFile(png, pngBytes);
    await expect(loadCheckpoint(png)).rejects.toThrow(/picture\.png: not a safetensors file/);

    const bare = join(dir, "bare.safetensors");
    await writeFile(bare, encodeSafetensors({ w: { dtype: "F32", shape: [2], data: new Float32Array(2) } }));
    await expect(loadCheckpoint(bare)).rejects.toThrow(/bare\.safetensors: a safetensors file, but not a worldkit checkpoint/);

    await expect(loadCheckpoint(join(dir, "nope.safetensors"))).rejects.toThrow(/no checkpoint at .*nope\.safetensors/);
  });

  it("reports the first difference from a template by name", async () => {
    const path = join(dir, "template.safetensors");
    const params = { a: np.zeros([4, 3]), b: { c: np.zeros([2], { dtype: np.int32 }), d: np.zeros([5]) } };
    await saveCheckpoint(path, { params, step: 1, config: {} });
    tree.dispose(params as unknown as ParamTree);
    const spec = (shape: number[], dtype = "float32") => ({ shape, dtype }) as { shape: number[]; dtype: np.DType };
    const good = { a: spec([4, 3]), b: { c: spec([2], "int32"), d: spec([5]) } };
    const ok = await loadCheckpoint(path, { template: good });
    tree.dispose(ok.params);

    const load = (template: object) => loadCheckpoint(path, { template: template as never });
    await expect(load({ ...good, e: spec([1]) })).rejects.toThrow(/template\.safetensors: .*missing key "params\.e"; /);
    await expect(load({ a: good.a, b: { c: good.b.c } })).rejects.toThrow(/: unexpected key "params\.b\.d"; /);
    await expect(load({ ...good, a: spec([3, 4]) })).rejects.toThrow(/: "params\.a" has shape \[4,3\] but the model expects \[3,4\]; /);
    await expect(load({ ...good, b: { c: spec([2], "float32"), d: good.b.d } })).rejects.toThrow(/: "params\.b\.c" has dtype int32 but the model expects float32; /);
    // Two differences: the first in tree order is named, the other counted.
    await expect(load({ a: spec([4, 4]), b: { c: good.b.c } })).rejects.toThrow(
      /: "params\.a" has shape \[4,3\] but the model expects \[4,4\] \(and 1 more difference\)/,
    );
  });

  it("finds the latest checkpoint and prunes old ones and dead writers' temp files, never live ones", async () => {
    const d = await mkdtemp(join(dir, "prune-"));
    expect(await latestCheckpoint(d)).toBeNull();
    for (const name of [
      "ckpt-000002.safetensors",
      "ckpt-000010.safetensors",
      "ckpt-000009.safetensors",
      "ckpt-000011.safetensors.tmp-999999999-abc123",
      `ckpt-000012.safetensors.tmp-${process.pid}-def456`,
      "notes.txt",
    ]) {
      await writeFile(join(d, name), "x");
    }
    expect(await latestCheckpoint(d)).toBe(join(d, "ckpt-000010.safetensors"));
    expect((await listCheckpoints(d)).map((c) => c.step)).toEqual([2, 9, 10]);
    const deleted = await pruneCheckpoints(d, 2);
    expect(deleted.sort()).toEqual([join(d, "ckpt-000002.safetensors"), join(d, "ckpt-000011.safetensors.tmp-999999999-abc123")]);
    expect((await readdir(d)).sort()).toEqual([
      "ckpt-000009.safetensors",
      "ckpt-000010.safetensors",
      `ckpt-000012.safetensors.tmp-${process.pid}-def456`,
      "notes.txt",
    ]);
    expect(await latestCheckpoint(join(dir, "does-not-exist"))).toBeNull();
  });

  it("a writer killed mid-save always leaves one whole checkpoint", async () => {
    const INTS = 4_000_000; // 16 MB
    const FLOATS = 1_000_000; // 4 MB
    const rng = hostRng(2024);
    let killedMidWrite = 0;
    for (let run = 0; run < 5; run++) {
      const d = await mkdtemp(join(dir, `kill-${run}-`));
      const path = join(d, "ckpt-000001.safetensors");
      const delayMs = run === 0 ? 0 : Math.floor(rng() * 40);
      const leftTemp = await killDuringSave(d, path, INTS, FLOATS, delayMs);
      if (leftTemp) killedMidWrite++;

      expect(await latestCheckpoint(d)).toBe(path);
      const loaded = await loadCheckpoint(path);
      const step = loaded.step;
      expect(step).toBeGreaterThanOrEqual(1);
      expect(loaded.config).toEqual({ step });
      expect(loaded.extra).toEqual({ step });
      const p = loaded.params as { ints: np.Array; nested: { layers: { w: np.Array }[] } };
      const ints = (await p.ints.data()) as Int32Array;
      const floats = (await p.nested.layers[0].w.data()) as Float32Array;
      expect(Buffer.from(ints.buffer, ints.byteOffset, ints.byteLength).equals(Buffer.from(intsFor(step, INTS).buffer))).toBe(true);
      expect(Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).equals(Buffer.from(floatsFor(step, FLOATS).buffer))).toBe(true);
      expect((await stat(path)).size).toBeGreaterThan(20_000_000);
      // The dead writer's temp file is cleaned up; the checkpoint stays.
      await pruneCheckpoints(d, 1);
      expect(await readdir(d)).toEqual(["ckpt-000001.safetensors"]);
    }
    // Run 0 kills as soon as a temp file appears, so at least that one was cut mid-write.
    expect(killedMidWrite).toBeGreaterThanOrEqual(1);
  });
});

/**
 * Start the writer, let it finish one save, wait until its next temp file appears, wait `delayMs`
 * and SIGKILL it. Returns whether a temp file was left behind (the kill landed mid-write).
 */
async function killDuringSave(d: string, path: string, ints: number, floats: number, delayMs: number): Promise<boolean> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--import", "./src/core/worker-shim.ts", "test/helpers/ckpt-writer.ts", path, String(ints), String(floats)],
    { cwd: join(import.meta.dirname, ".."), env: { ...process.env, WORLDKIT_THREADS: "1" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => b.toString().includes("saved") && resolve());
      child.on("exit", (code) => reject(new Error(`writer exited (${code}) before saving: ${stderr}`)));
    });
    const isTemp = (n: string) => n.includes(".tmp-");
    const started = Date.now();
    while (!(await readdir(d)).some(isTemp)) {
      if (Date.now() - started > 30_000) throw new Error(`writer never started a second save: ${stderr}`);
    }
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
  return (await readdir(d)).some((n) => n.includes(".tmp-"));
}
