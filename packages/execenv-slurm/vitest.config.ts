import { defineConfig } from "vitest/config";

// The backend tests run a real Slurm cluster (slurmctld, 3 slurmd, munged) on a loaded 2-core machine.
export default defineConfig({ test: { testTimeout: 120_000, hookTimeout: 60_000 } });
