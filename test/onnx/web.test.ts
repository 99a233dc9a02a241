/**
 * The same ONNX files run in a browser: an ST stack exported as an inference graph (fp32, and
 * int8 with DynamicQuantizeMatMul) is run by onnxruntime-web (wasm SIMD, with threads: the page
 * is served cross-origin isolated) in Debian's headless Chromium, driven by playwright-core,
 * and must give onnxruntime-node's outputs. A tiny node:http server on 127.0.0.1 serves exactly
 * the files named below and nothing else. Skipped, with a message, where /usr/bin/chromium is
 * missing (`apt-get install -y chromium`); no browser is ever downloaded.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice, makeJaxpr, makeKey, random, tree, type Array as JArray, type JsTree } from "../../src/core/index.js";
import { initSTStack, stStack, type STStackParams } from "../../src/nn/st-block.js";
import { exportJaxpr } from "../../src/onnx/export.js";
import { OnnxSession, type HostTensor } from "../../src/onnx/runtime.js";
import { toHost } from "./parity.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`test/onnx/web.test.ts: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`);

const here = dirname(fileURLToPath(import.meta.url));
const ortWebDist = dirname(createRequire(import.meta.url).resolve("onnxruntime-web/webgpu")); // .../onnxruntime-web/dist

/** Serve exactly `files` (URL path → bytes) on 127.0.0.1, cross-origin isolated so wasm threads work. */
function serve(files: Map<string, { body: Uint8Array; type: string }>): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const file = files.get(new URL(req.url ?? "/", "http://x").pathname);
    if (!file || req.method !== "GET") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "content-type": file.type,
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
    });
    res.end(file.body);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

let server: Server | undefined;

beforeAll(async () => {
  await initDevice();
});

afterAll(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

describe.skipIf(!hasChromium)("onnxruntime-web in Chromium", () => {
  it("runs the exported fp32 and int8 ST stack and matches onnxruntime-node", async () => {
    const params = initSTStack(makeKey(5), { dim: 32, heads: 2, mlpHidden: 64, layers: 2 });
    const [leaves, def] = tree.flatten(params as unknown as JsTree<JArray>);
    const x = random.normal(random.key(6), [1, 4, 16, 32]);
    const f = (...args: JArray[]) => stStack(tree.unflatten(def, args.slice(0, -1)) as unknown as STStackParams, args[args.length - 1]);
    const { jaxpr } = makeJaxpr(f)(...(leaves as JArray[]), x);
    const inputNames = [...leaves.map((_, i) => `p${i}`), "x"];
    const constants: Record<string, HostTensor<Float32Array>> = {};
    for (const [i, l] of (leaves as JArray[]).entries()) constants[`p${i}`] = (await toHost(l)) as HostTensor<Float32Array>;
    const models = {
      fp32: exportJaxpr(jaxpr, { inputNames, outputNames: ["y"], constants }),
      int8: exportJaxpr(jaxpr, { inputNames, outputNames: ["y"], constants, quantize: "int8" }),
    };
    jaxpr.dispose();
    const input = await toHost(x);

    const files = new Map<string, { body: Uint8Array; type: string }>([
      ["/", { body: readFileSync(join(here, "web", "index.html")), type: "text/html" }],
      ["/model-fp32.onnx", { body: models.fp32, type: "application/octet-stream" }],
      ["/model-int8.onnx", { body: models.int8, type: "application/octet-stream" }],
    ]);
    for (const name of ["ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs"]) {
      files.set(`/${name}`, { body: readFileSync(join(ortWebDist, name)), type: "text/javascript" });
    }
    files.set("/ort-wasm-simd-threaded.asyncify.wasm", { body: readFileSync(join(ortWebDist, "ort-wasm-simd-threaded.asyncify.wasm")), type: "application/wasm" });
    const served = await serve(files);
    server = served.server;

    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${served.url}/`);
      await page.waitForFunction(() => (globalThis as { ortReady?: boolean }).ortReady === true, undefined, { timeout: 30_000 });
      for (const kind of ["fp32", "int8"] as const) {
        const session = await OnnxSession.create(models[kind], { threads: 1 });
        const expected = (await session.run({ x: input })).y;
        await session.dispose();
        const web = (await page.evaluate(
          ([url, data, shape]) => (globalThis as any).runOnnx(url, { x: { data, shape } }, "wasm"),
          [`/model-${kind}.onnx`, Array.from(input.data), input.shape] as const,
        )) as { outputs: Record<string, { data: number[]; shape: number[] }>; ep: string; threads: number; isolated: boolean };
        expect(errors).toEqual([]);
        expect(web.ep).toBe("wasm");
        expect(web.isolated).toBe(true); // so onnxruntime-web may use its wasm threads
        expect(web.outputs.y.shape).toEqual(expected.shape);
        // fp32: same graph, different kernels; int8: the same quantized weights, activations
        // quantized at run time by both, so only rounding of the fp32 parts differs.
        const tol = kind === "fp32" ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-3, atol: 1e-3 };
        expect(web.outputs.y.data).toBeAllclose(Array.from(expected.data), tol);
      }
    } finally {
      await browser.close();
    }
  });
});
