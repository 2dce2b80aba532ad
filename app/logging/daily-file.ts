import { mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';

type Destination = ReturnType<typeof pino.destination>;

/**
 * `{dir}/agent.log`, rotated at the first write of each UTC day to `agent-YYYY-MM-DD.log`;
 * `keepDays` rotated files are kept. The file is opened synchronously so it can be flushed
 * at any moment, even a failed start a few milliseconds in.
 */
export class DailyLogFile {
  private readonly path: string;
  private day: string;
  private dest: Destination;

  constructor(
    private readonly dir: string,
    private readonly keepDays = 14,
    private readonly today: () => string = () => new Date().toISOString().slice(0, 10),
  ) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'agent.log');
    this.day = this.today();
    try {
      const written = statSync(this.path).mtime.toISOString().slice(0, 10);
      if (written !== this.day) this.rotate(written);
    } catch {
      // No log yet.
    }
    this.dest = this.open();
  }

  write(chunk: string): boolean {
    const day = this.today();
    if (day !== this.day) {
      this.dest.flushSync();
      this.dest.end();
      this.rotate(this.day);
      this.dest = this.open();
      this.day = day;
    }
    return this.dest.write(chunk);
  }

  flush(): void {
    this.dest.flushSync();
  }

  private open(): Destination {
    // Buffered: a write per line would queue behind file reads in libuv's thread pool (a
    // 5,000-file upload logs 5,000 lines). Lines reach the file within a second, at once on
    // flush() and at exit; stdout stays line by line.
    return pino.destination({ fd: openSync(this.path, 'a'), sync: false, minLength: 4096, periodicFlush: 1000 });
  }

  private rotate(day: string): void {
    try {
      renameSync(this.path, join(this.dir, `agent-${day}.log`));
    } catch {
      return;
    }
    const old = readdirSync(this.dir)
      .filter((f) => /^agent-\d{4}-\d{2}-\d{2}\.log$/.test(f))
      .sort()
      .reverse()
      .slice(this.keepDays);
    for (const f of old) unlinkSync(join(this.dir, f));
  }
}
