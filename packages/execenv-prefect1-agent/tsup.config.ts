import { defineConfig } from "tsup";
import { base } from "../../tsup.base.js";

// The embedded backend is an entry of its own: tests and the benchmark import it.
export default defineConfig({ ...base, entry: ["src/index.ts", "src/backend/index.ts"] });
