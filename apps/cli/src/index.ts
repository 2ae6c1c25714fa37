// Programmatic entry: run the `sierra` command line in-process.

export { builtinRegistry } from "./builtins.js";
export { main } from "./main.js";
