import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The worker shim must be installed before @jax-js/jax is imported by any test.
    setupFiles: ["./test/setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores: run test files one at a time so jax-js gets both wasm threads.
    fileParallelism: false,
    pool: "forks",
    // jax-js must be one module instance for the app and for src/core/leaks.ts.
    server: { deps: { external: [/@jax-js/] } },
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
