// prefect.localserver against the whole execution contract (@sierra-exec/execenv-testkit),
// on a real Prefect 3 server per batch: slower, so longer runs and deadlines.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import prefectLocal from "../src/index.js";

describeExecEnvConformance(prefectLocal, { timeout: 240_000, runSeconds: 3 });
