// sierra-exec's Prefect 3 backend: everything the Prefect 3 execenvs (prefect.localserver,
// prefect.server) share, so that each of them is only its options and the order it starts
// things in. Not an execenv itself: execenvs never import each other, they import this.
export { connect, must, type PrefectClient } from "./api.js";
export { type DrainBackend, type DrainInfo, type DrainSettings, Drains, type DrainsView } from "./drains.js";
export { Engines } from "./engine.js";
export {
  findPrefect,
  inTestedRange,
  PREFECT_RANGE,
  PREFECT_RANGE_TEXT,
  PREFECT_SPEC,
  PREFECT_VERSION,
  type PrefectInstall,
  prefectSpec,
  TESTED_PREFECTS,
  type TestedPrefect,
  templateDatabase,
} from "./prefect-install.js";
export { PrefectServer } from "./server.js";
export { deploymentPayload, FLOW_DIR, FLOW_NAME, setUpDeployment, workPoolPayload } from "./setup-api.js";
