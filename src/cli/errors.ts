/** Errors the command reports as one line and an exit code. */

/** A problem a person can act on: printed as one line, then exit with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A usage error: bad flag, bad value. Exit code 2. */
export const usage = (message: string) => new CliError(message, 2);
/** A runtime failure: port in use, unreachable seed. Exit code 1. */
export const failure = (message: string) => new CliError(message, 1);
