// Holds the execenv to the whole sierra-exec execution contract, with real processes.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import execenv from "../src/index.js";

describeExecEnvConformance(execenv, { options: { killGrace: 0.5 } });
