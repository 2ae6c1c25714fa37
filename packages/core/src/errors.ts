// Errors that end a command with status 2 and one line for the user: bad input or an
// unusable environment. Anything else is a bug and keeps its stack for --verbose.

/** A usage, input or environment problem: exit status 2, `message` says what is wrong and how to fix it. */
export class SierraError extends Error {
  override readonly name = "SierraError";
  readonly exitCode = 2;
}

export function isSierraError(error: unknown): error is SierraError {
  return error instanceof Error && error.name === "SierraError";
}
