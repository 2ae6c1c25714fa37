import { defineConfig } from "vitest/config";

// The conformance suite starts real processes; raise the limits for a slow backend.
export default defineConfig({ test: { testTimeout: 60_000, hookTimeout: 60_000 } });
