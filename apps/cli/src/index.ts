// Programmatic entry: run the `sierra` command line in-process; the SIERRA it hands
// pipelines to (the managed environment's spec) and our SIERRA plugin set.

export { builtinRegistry } from "./builtins.js";
export { main } from "./main.js";
export { SIERRA_SPEC, SIERRA_VERSION } from "./sierra-install.js";
export { SIERRA_PLUGINS_DIR } from "./sierra-plugins.js";
