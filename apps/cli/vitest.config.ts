import { defineConfig } from "vitest/config";

export default defineConfig({
  // maxConcurrency: the SIERRA pipeline tests run side by side, three at a time on 2 cores
  test: { testTimeout: 60_000, hookTimeout: 60_000, maxConcurrency: 3, setupFiles: ["test/setup.ts"] },
});
