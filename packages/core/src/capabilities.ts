// What an execenv can do, declared once in its definition, and the one place where the
// options of an invocation are checked against it: asking for something the execenv
// cannot do is a usage error, never a silent no-op.
import { z } from "zod";
import type { CoreOptions } from "./core-options.js";
import { SierraError } from "./errors.js";
import { toFlag } from "./option-flags.js";

export const capabilitiesSchema = z.object({
  resume: z
    .boolean()
    .default(true)
    .describe(
      "A batch may run only part of its runs again, selected from earlier records (--exec-resume): the backend keeps no run state of its own that this would contradict",
    ),
  strictStop: z
    .boolean()
    .default(true)
    .describe(
      "When the core aborts `ctx.signal` after a failure, execute starts no new run and stops the running ones at once (--exec-strict)",
    ),
  cancellation: z
    .boolean()
    .default(true)
    .describe(
      "Stopping a run (SIGINT, SIGTERM, --exec-strict) reaches every process it started, its children and theirs, and reports the run's end",
    ),
  perRunLogs: z
    .boolean()
    .default(true)
    .describe(
      "Each run's stdout and stderr are written to the run's files (`run.stdout`, `run.stderr`); without it only --exec-devnull is possible",
    ),
  remote: z
    .boolean()
    .default(false)
    .describe(
      "Runs execute on other hosts (that share the batch root), so their processes cannot be seen from this one",
    ),
});

/** Declared in `defineExecEnv({ capabilities })`; what is left out takes its default. */
export type Capabilities = z.output<typeof capabilitiesSchema>;
export type CapabilityName = keyof Capabilities;

/** Which core option asks for which capability, and with which value. */
const REQUIREMENTS: ReadonlyArray<{
  capability: CapabilityName;
  option: keyof CoreOptions;
  /** The option's value that needs the capability. */
  when: boolean;
}> = [
  { capability: "resume", option: "execResume", when: true },
  { capability: "strictStop", option: "execStrict", when: true },
  { capability: "perRunLogs", option: "execDevnull", when: false },
];

/**
 * Throws a SierraError (exit status 2) naming the option and the execenv when `core`
 * asks for a capability that `execenv` does not declare.
 */
export function assertCapabilities(
  execenv: { name: string; capabilities: Capabilities },
  core: CoreOptions,
): void {
  for (const { capability, option, when } of REQUIREMENTS) {
    if (core[option] !== when || execenv.capabilities[capability]) continue;
    const flag = toFlag(option);
    throw new SierraError(
      when
        ? `${flag} is not supported by execenv ${execenv.name} (it lacks capability ${capability}): leave out ${flag} or choose another execenv`
        : `execenv ${execenv.name} cannot run without ${flag} (it lacks capability ${capability}): add ${flag}`,
    );
  }
}
