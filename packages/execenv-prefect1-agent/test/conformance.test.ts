// prefect1.localagent against the whole execution contract (@sierra-exec/execenv-testkit),
// on the real Prefect 1.4.1 agent and the embedded backend. Each batch starts an agent and
// a flow-run process (several seconds on a loaded machine): generous limits.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import prefect1 from "../src/index.js";

describeExecEnvConformance(prefect1, { options: { killGrace: 0.5 }, timeout: 150_000, runSeconds: 1.5 });
