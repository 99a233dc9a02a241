/**
 * Child process for the checkpoint kill test: saves a checkpoint of about `4 * (ints + floats)`
 * bytes to the same path over and over, the data a pure function of the step, and prints
 * "saved <step>" after each save. The test SIGKILLs it mid-write and checks the file.
 *
 *   node --import tsx --import ./src/core/worker-shim.ts test/helpers/ckpt-writer.ts PATH INTS FLOATS
 */
import { initDevice, np } from "../../src/core/index.js";
import { saveCheckpoint } from "../../src/core/checkpoint.js";

/** The int32 tensor of a step: every element depends on the step, so a mixed file cannot pass. */
export function intsFor(step: number, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = (step * 7919 + i * 31) | 0;
  return out;
}

export function floatsFor(step: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = step + (i % 4096) / 4096;
  return out;
}

async function main(): Promise<void> {
  const [path, ints, floats] = process.argv.slice(2);
  if (!path || !ints || !floats) throw new Error("usage: ckpt-writer.ts PATH INTS FLOATS");
  await initDevice();
  for (let step = 1; ; step++) {
    const params = {
      ints: np.array(intsFor(step, Number(ints))),
      nested: { layers: [{ w: np.array(floatsFor(step, Number(floats))) }] },
    };
    await saveCheckpoint(path, { params, step, config: { step }, extra: { step } });
    params.ints.dispose();
    params.nested.layers[0].w.dispose();
    process.stdout.write(`saved ${step}\n`);
  }
}

// Only when run as a script: the test imports intsFor/floatsFor from here.
if (process.argv[1]?.endsWith("ckpt-writer.ts")) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
}
