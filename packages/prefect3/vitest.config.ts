import { defineConfig } from "vitest/config";

// The backend tests start a real Prefect server on a loaded 2-core machine: generous limits.
export default defineConfig({ test: { testTimeout: 240_000, hookTimeout: 300_000 } });
