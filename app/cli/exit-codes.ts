export const EXIT = {
  ok: 0,
  sessionFailed: 1,
  usage: 2,
  infrastructure: 3,
} as const;

/** An error that ends the command with a given exit code and a message for stderr. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    /** A dependency that may come back (unreachable, refusing): `run` waits for it instead of exiting. */
    readonly waitable = false,
    /** The AgentError code behind it, when there is one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
