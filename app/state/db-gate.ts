/**
 * A first-come, first-served lock. The embedded database has one backend: the agent's own
 * queries and a command's queries arriving on the local socket must take turns by whole
 * statements and transactions, never by protocol message.
 */
export class DbGate {
  private tail: Promise<void> = Promise.resolve();

  /** Resolves, once the gate is ours, with the function that opens it again. */
  acquire(): Promise<() => void> {
    let open = (): void => undefined;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    const previous = this.tail;
    this.tail = previous.then(() => opened);
    return previous.then(() => open);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const open = await this.acquire();
    try {
      return await fn();
    } finally {
      open();
    }
  }
}
