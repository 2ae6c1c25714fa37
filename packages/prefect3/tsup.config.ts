import { defineConfig } from "tsup";
import { base } from "../../tsup.base.js";

// The test cluster is a second entry: prefect.server's tests start clusters with it.
export default defineConfig({ ...base, entry: ["src/index.ts", "src/test-cluster.ts"] });
