/**
 * A problem with what the user gave us (a file, a flag, a dataset): reported as one line on stderr,
 * exit status 2, no stack trace. Anything else that escapes is a bug and keeps its stack.
 */
export class InputError extends Error {
  override readonly name = "InputError";

  /** `where` and `what` of inputError(), for reports that list several problems (data/check.ts). */
  constructor(
    message: string,
    readonly where?: string,
    readonly what?: string,
  ) {
    super(message);
  }
}

/** Formats `where: what` so that every message names the file or option at fault. */
export function inputError(where: string, what: string): InputError {
  return new InputError(`${where}: ${what}`, where, what);
}

/** The exit status of bad input, for every command and for a worker that met it while training. */
export const EXIT_INPUT_ERROR = 2;

/**
 * The machine refused (a full disk, a read-only or vanished filesystem): one line on stderr naming the path and
 * what was being written, exit status 1, no stack trace. Not the user's input and not a bug.
 */
export class EnvironmentError extends Error {
  override readonly name = "EnvironmentError";
}

const systemReasons: Record<string, string> = {
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only filesystem",
  EIO: "I/O error",
  EFBIG: "file too large for the filesystem",
};

/**
 * An fs error (ENOSPC and friends) as an EnvironmentError saying `path: <reason> while writing <what>`;
 * anything else is returned unchanged (a bug keeps its stack).
 */
export function asEnvironmentError(error: unknown, path: string, what: string): unknown {
  if (error instanceof EnvironmentError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== "string" || !(code in systemReasons)) return error;
  return new EnvironmentError(`${path}: ${systemReasons[code]} while writing ${what}`);
}
