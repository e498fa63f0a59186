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
