// Signals by the names bash's `kill -l` gives them, as every execenv records them (core's
// python/sierra_runs.py names them so): SIGTERM, SIGRTMIN+1, SIGRTMAX-2, SIG32. The joblogs
// carry their numbers.
import { constants } from "node:os";

/** glibc's real-time signal range, as bash and Python report it on Linux (Node's constants lack it). */
const SIGRTMIN = 34;
const SIGRTMAX = 64;

const known = constants.signals as Record<string, number>;

export function signalNumber(name: string): number {
  const number = known[name];
  if (number !== undefined) return number;
  const realtime = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (realtime) return (realtime[1] === "MIN" ? SIGRTMIN : SIGRTMAX) + Number(realtime[2] ?? 0);
  return Number(/^SIG(\d+)$/.exec(name)?.[1] ?? 0);
}

export function signalName(number: number): string {
  if (number === SIGRTMIN) return "SIGRTMIN";
  if (number === SIGRTMAX) return "SIGRTMAX";
  if (number > SIGRTMIN && number < SIGRTMAX) {
    const offset = number - SIGRTMIN;
    return offset <= (SIGRTMAX - SIGRTMIN) / 2 ? `SIGRTMIN+${offset}` : `SIGRTMAX-${SIGRTMAX - number}`;
  }
  return Object.entries(known).find(([, value]) => value === number)?.[0] ?? `SIG${number}`;
}

/** The exit status of a process ended by `signal`, as shells report it: 128 + its number. */
export const signalExitStatus = (signal: string) => 128 + signalNumber(signal);
