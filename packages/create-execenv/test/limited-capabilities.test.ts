// The testkit on an execenv that declares capabilities false (the template's, restricted):
// what it lacks must be refused, and everything else still holds, outputs discarded.
import { describeExecEnvConformance } from "@sierra-exec/execenv-testkit";
import execenv from "../template/src/index.js";

describeExecEnvConformance(
  {
    ...execenv,
    name: "limited",
    capabilities: { ...execenv.capabilities, resume: false, strictStop: false, perRunLogs: false },
  },
  { options: { killGrace: 0.5 } },
);
