// How the backend's task-run states become run starts and ends. The task of a run finishes
// with its outcome (exit status, signal, times) in its state message; the exit status of
// the flow-run process says nothing (it is 0 even when the flow fails).
import type { RunOutcome } from "@sierra-exec/core";
import type { TaskRunProgress } from "./server1-api.js";
import { isA } from "./states.js";

/** Mirrors OUTCOME_PREFIX in python/sierra_prefect1.py. */
export const OUTCOME_PREFIX = "sierra-exec outcome: ";

interface ReportedOutcome {
  exitCode: number | null;
  signal: string | null;
  startedAt: number;
  finishedAt: number;
  error?: string;
}

export type TaskRunView =
  | { kind: "waiting" }
  | { kind: "running"; since: Date }
  | { kind: "ended"; outcome: RunOutcome }
  /** Finished without an outcome of ours: cancelled, or Prefect failed around the task. */
  | { kind: "finished-unreported"; state: string; message: string };

export function parseOutcome(message: string | null): RunOutcome | undefined {
  if (!message?.startsWith(OUTCOME_PREFIX)) return undefined;
  const reported = JSON.parse(message.slice(OUTCOME_PREFIX.length)) as ReportedOutcome;
  return {
    exitCode: reported.exitCode,
    signal: reported.signal,
    startedAt: new Date(reported.startedAt),
    finishedAt: new Date(reported.finishedAt),
    ...(reported.error ? { error: reported.error } : {}),
  };
}

export function viewTaskRun(taskRun: TaskRunProgress): TaskRunView {
  const outcome = parseOutcome(taskRun.state_message);
  if (outcome) return { kind: "ended", outcome };
  if (isA(taskRun.state, "Running")) {
    return { kind: "running", since: new Date(taskRun.state_timestamp ?? Date.now()) };
  }
  if (isA(taskRun.state, "Finished")) {
    return { kind: "finished-unreported", state: taskRun.state ?? "", message: taskRun.state_message ?? "" };
  }
  return { kind: "waiting" };
}
