// Prefect 1's state classes as the backend and the plugin need them: the class hierarchy
// (a TriggerFailed is a Failed is a Finished) and states serialized in Prefect's format.

export const CORE_VERSION = "1.4.1";

// prefect/engine/state.py: each state class and its base class.
const PARENT: Record<string, string> = {
  Pending: "State",
  Scheduled: "Pending",
  Paused: "Scheduled",
  Resume: "Scheduled",
  Retrying: "Scheduled",
  _MetaState: "State",
  ClientFailed: "_MetaState",
  Submitted: "_MetaState",
  Queued: "_MetaState",
  Running: "State",
  Cancelling: "Running",
  Finished: "State",
  Looped: "Finished",
  Success: "Finished",
  Cached: "Success",
  Mapped: "Success",
  Skipped: "Success",
  Cancelled: "Finished",
  Failed: "Finished",
  TimedOut: "Failed",
  TriggerFailed: "Failed",
  ValidationFailed: "Failed",
};

/** Is a state of type `type` an instance of class `base` (e.g. `isA("TriggerFailed", "Failed")`)? */
export function isA(type: string | null | undefined, base: string): boolean {
  for (let current = type ?? undefined; current; current = PARENT[current]) if (current === base) return true;
  return false;
}

/** Server 1's SCHEDULED_STATES: every Scheduled and Queued class, the states an agent picks up. */
export const SCHEDULED_STATES = Object.keys(PARENT).filter(
  (type) => isA(type, "Scheduled") || isA(type, "Queued"),
);

export interface SerializedState {
  type: string;
  message?: string | null;
  start_time?: string | null;
  [key: string]: unknown;
}

/** A state as Prefect 1.4.1 serializes it, e.g. `{"type":"Scheduled","message":...,"_result":...}`. */
export function serializedState(
  type: string,
  message: string,
  extra: Record<string, unknown> = {},
): SerializedState {
  return {
    type,
    message,
    context: {},
    cached_inputs: {},
    _result: { type: "NoResultType", __version__: CORE_VERSION },
    __version__: CORE_VERSION,
    ...extra,
  };
}
