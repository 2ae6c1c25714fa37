import { defineConfig } from "vitest/config";

// Tests start the real Prefect 1.4.1 agent and flow runner; the first run provisions them (~30 s).
export default defineConfig({ test: { testTimeout: 180_000, hookTimeout: 180_000 } });
