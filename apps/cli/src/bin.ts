#!/usr/bin/env node
// The `sierra` executable.
import { main } from "./main.js";

process.exit(await main(process.argv.slice(2)));
