import { defineConfig } from "vitest/config";

// The backend tests run a real Prefect server with workers on test hosts, on a loaded 2-core machine.
export default defineConfig({ test: { testTimeout: 240_000, hookTimeout: 300_000 } });
