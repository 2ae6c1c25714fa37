import { defineConfig } from "tsup";
import { base } from "../../tsup.base.js";

// The test hosts are a second entry: execenvs' tests make worker hosts with them.
export default defineConfig({ ...base, entry: ["src/index.ts", "src/test-hosts.ts"] });
