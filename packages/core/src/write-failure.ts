// Writing records and logs to a disk that may fill or refuse: whole writes, and one-line
// errors that name the file (the batch stops on them, exit 2).
import { writeSync } from "node:fs";
import { SierraError } from "./errors.js";

/** A failure to write `file` (ENOSPC, EACCES, EIO, ...): one line naming the file and the error. */
export function writeFailure(file: string, error: unknown): SierraError {
  const { code, message } = error as NodeJS.ErrnoException;
  const why = code ? `${code} (${message.replace(/^\w+: /, "").replace(/, \w+( '.*')?$/, "")})` : message;
  return new SierraError(`cannot write ${file}: ${why}`);
}

/** Writes all of `text`: a write to a filling disk may write part of it, then fail. */
export function writeAll(fd: number, text: string): void {
  let buffer = Buffer.from(text);
  while (buffer.length > 0) buffer = buffer.subarray(writeSync(fd, buffer));
}
