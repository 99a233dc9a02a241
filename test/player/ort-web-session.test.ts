/**
 * The browser player's backend, checked in Node: WorldSession's ort backend handed onnxruntime-web
 * (its wasm build, which Node can run too) samples exactly the tokens onnxruntime-node does and
 * decodes the same pixels, on the player's tiny test world. The page itself is driven in
 * browser.test.ts; this pins the numbers without a browser.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ortWeb from "onnxruntime-web";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDevice } from "../../src/core/index.js";
import type { OrtModule } from "../../src/onnx/runtime-core.js";
import { disposeWorld, loadWorld } from "../../src/world/dynamics-io.js";
import type { LoadedWorld } from "../../src/world/dynamics-io.js";
import { WorldSession } from "../../src/world/session.js";
import type { SessionOptions, StepResult } from "../../src/world/session.js";
import { writeTestWorld } from "./test-world.js";

const root = mkdtempSync(join(tmpdir(), "wk-ortweb-"));
let world: LoadedWorld;

/** Start from two 16×16 RGB-D frames, then one step per action; every frame returned. */
async function rollout(opts: SessionOptions, actions: number[]): Promise<StepResult[]> {
  const s = new WorldSession(world, { seed: 3, temperature: 1, ...opts });
  const frames = Float32Array.from({ length: 2 * 16 * 16 * 4 }, (_, i) => ((i * 37) % 101) / 100);
  const out = [await s.start({ frames, count: 2 })];
  for (const a of actions) out.push(await s.step(a));
  s.dispose();
  return out;
}

beforeAll(async () => {
  await initDevice();
  await writeTestWorld(root);
  world = await loadWorld(root);
  ortWeb.env.wasm.numThreads = 1;
});
afterAll(() => {
  disposeWorld(world);
  rmSync(root, { recursive: true, force: true });
});

describe("WorldSession on onnxruntime-web", () => {
  it("samples the same tokens as onnxruntime-node and decodes the same pixels (fp32)", async () => {
    const actions = [0, 1, 2, 3, 1, 1];
    const node = await rollout({ backend: "ort", threads: 1 }, actions);
    const web = await rollout({ backend: "ort", ort: ortWeb as unknown as OrtModule }, actions);
    expect(web).toHaveLength(actions.length + 1);
    web.forEach((w, t) => {
      expect(Array.from(w.tokens), `frame ${t}`).toEqual(Array.from(node[t].tokens));
      expect(Array.from(w.pixels)).toBeAllclose(Array.from(node[t].pixels), { rtol: 1e-4, atol: 1e-5 });
    });
  });
});
