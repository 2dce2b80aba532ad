/** An error a Task reports to Step Functions: `name` is what Retry/Catch match, `message` the Cause. */
export class StatesError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}
