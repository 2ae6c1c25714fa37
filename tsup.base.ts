// The build every package shares: ESM with type declarations, for the Node versions in `engines`.
import type { Options } from "tsup";

export const base: Options = {
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  clean: true,
  target: "node20",
};
