// Public surface of @sierra-exec/execenv-testkit: the conformance suite, and the helpers
// it is made of, for an author's own tests of the same kind.
export { makeBatch } from "./batch-fixture.js";
export { type ConformanceOptions, describeExecEnvConformance, MARKER_VARIABLE } from "./conformance.js";
export { maxOverlap, readInterval, timedSleep } from "./overlap.js";
export { commandLine, waitFor } from "./processes.js";
export { type ContractRecord, contractRecordSchema, readRecords } from "./records.js";
