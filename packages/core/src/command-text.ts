// A cmdfile line as a string that keeps its exact bytes: UTF-8, with each byte that is not
// part of valid UTF-8 as a lone surrogate U+DC80..U+DCFF (Python's surrogateescape). Matching
// and selecting work on the text; `bash -c` gets the bytes back (commandBytes), so it runs what
// the cmdfile holds, as xargs and GNU parallel do, UTF-8 or not; records show displayCommand.

const strict = new TextDecoder("utf-8", { fatal: true });
const ESCAPE_BASE = 0xdc00;

/** Length of the valid UTF-8 sequence at `i` (Unicode's table of well-formed sequences), or 0. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i] as number;
  if (lead < 0x80) return 1;
  const continuation = (at: number, low = 0x80, high = 0xbf) => {
    const byte = bytes[at];
    return byte !== undefined && byte >= low && byte <= high;
  };
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(i + 1) ? 2 : 0;
  if (lead >= 0xe0 && lead <= 0xef) {
    // No overlong forms (E0 80..9F) and no encoded surrogates (ED A0..BF).
    const [low, high] = lead === 0xe0 ? [0xa0, 0xbf] : lead === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return continuation(i + 1, low, high) && continuation(i + 2) ? 3 : 0;
  }
  if (lead >= 0xf0 && lead <= 0xf4) {
    const [low, high] = lead === 0xf0 ? [0x90, 0xbf] : lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return continuation(i + 1, low, high) && continuation(i + 2) && continuation(i + 3) ? 4 : 0;
  }
  return 0;
}

/** The command string of a line's bytes: lossless (see the module's comment). */
export function decodeCommand(bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    let text = "";
    let start = 0;
    for (let i = 0; i < bytes.length; ) {
      const length = sequenceLength(bytes, i);
      if (length > 0) {
        i += length;
        continue;
      }
      text +=
        strict.decode(bytes.subarray(start, i)) + String.fromCharCode(ESCAPE_BASE + (bytes[i] as number));
      i += 1;
      start = i;
    }
    return text + strict.decode(bytes.subarray(start));
  }
}

const ESCAPED = /[\udc80-\udcff]/u;

/** The exact bytes of a command string (the inverse of decodeCommand). */
export function commandBytes(command: string): Buffer {
  if (!ESCAPED.test(command)) return Buffer.from(command, "utf8");
  const parts: Buffer[] = [];
  for (const piece of command.split(/([\udc80-\udcff])/u)) {
    const code = piece.codePointAt(0) ?? 0;
    parts.push(
      piece.length === 1 && code >= 0xdc80 && code <= 0xdcff
        ? Buffer.of(code - ESCAPE_BASE)
        : Buffer.from(piece, "utf8"),
    );
  }
  return Buffer.concat(parts);
}

/** A command as records and messages show it: each byte that is not UTF-8 as U+FFFD. */
export const displayCommand = (command: string): string => command.replace(/\p{Cs}/gu, "\ufffd");
