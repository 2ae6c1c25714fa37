// sierra-exec's Prefect 3 backend: everything the Prefect 3 execenvs (prefect.localserver,
// prefect.server) share, so that each of them is only its options and the order it starts
// things in. Not an execenv itself: execenvs never import each other, they import this.
export { connect, type FlowRun, must, type PrefectClient } from "./api.js";
export { type DrainEvent, EventsFollower, outcomeOf, parseEvents } from "./drain-events.js";
export {
  type DrainBackend,
  type DrainInfo,
  type DrainSettings,
  Drains,
  type DrainsView,
  drainParameters,
} from "./drains.js";
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
export { PrefectServer, startPrefect } from "./server.js";
export {
  type Deployment,
  deploymentPayload,
  FLOW_DIR,
  FLOW_NAME,
  setUpDeployment,
  workPoolPayload,
} from "./setup-api.js";
export { isTerminal } from "./states.js";
export { setContent, WorkDir } from "./work-dir.js";
export { startWorker } from "./worker.js";
