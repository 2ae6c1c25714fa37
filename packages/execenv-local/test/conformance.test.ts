// The local execenv against the whole execution contract (@sierra-exec/execenv-testkit).
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import local from "../src/index.js";

describeExecEnvConformance(local, { options: { killGrace: 0.5 } });
