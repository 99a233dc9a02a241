// Installed before any test file imports @jax-js/jax (see vitest.config.ts).
import "../src/core/worker-shim.js";
import { expect } from "vitest";
import { allcloseReport } from "./helpers/allclose.js";

expect.extend({
  toBeAllclose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts?: { rtol?: number; atol?: number }) {
    const report = allcloseReport(actual, expected, opts);
    return { pass: report.ok, message: () => report.message };
  },
});

declare module "vitest" {
  interface Assertion<T = any> {
    toBeAllclose(expected: ArrayLike<number>, opts?: { rtol?: number; atol?: number }): T;
  }
}
