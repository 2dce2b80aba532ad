// The command line. `uploader-agent` (uploader-agent.cts) sizes libuv's thread pool, then runs
// this module and everything it imports bundled into one file (agent.bundle.js).
import { Command, CommanderError, Option } from 'commander';
import { readDatabaseClock } from '../state/queries/database-clock.js';
import type { AgentConfig } from '../config/schema.js';
import { redactSecrets } from '../errors.js';
import { uncountedMetrics } from '../health/metrics-api.js';
import { LOG_FORMATS, LOG_LEVELS, createLogger } from '../logging/logger.js';
import { runCycle } from '../scheduler.js';
import { SESSION_STATES, type SessionStatus } from '../state/states.js';
import { CliExit, EXIT } from './exit-codes.js';
import { openRuntime, openStateDb, readConfig, shareFor } from './runtime.js';
import { agentVersion } from './version.js';

// Each command loads only what it uses: start-up time is paid by every scan-once.
const runCommands = () => import('./run-command.js');
const operatorCommands = () => import('./operator-commands.js');

// The SDK's notice that it will require Node 22 in 2027 is for us (the image ships Node 22),
// not for operators reading stderr; it is emitted when a client is created.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// `uploader-agent status | head`: a reader that stops early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? EXIT.ok);
});

const configOption = () => new Option('-c, --config <file>', 'agent configuration (YAML)').makeOptionMandatory();
const examples = (...lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}`;

function program(): Command {
  const cmd = new Command('uploader-agent')
    .description('Moves finished lab sessions from NFS shares into S3, exactly once and intact, and signals downstream ETL with a _COMPLETE object.')
    .version(agentVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `\nExit codes: 0 success · 1 a session failed in this cycle · 2 usage or configuration error · 3 state DB or S3 unavailable at start
Environment: DATABASE_URL (PostgreSQL; embedded PGlite when unset), AWS credentials chain, AWS_ENDPOINT_URL_S3, PORT, LOG_LEVEL, LOG_FORMAT (json or pretty; unset: pretty at a terminal)`,
    );

  cmd
    .command('run')
    .description('cycle every scan_interval_seconds; serves GET /health and /metrics; SIGTERM drains within 25 s and exits 0')
    .addOption(configOption())
    .addHelpText('after', examples('DATABASE_URL=postgres://… uploader-agent run --config /etc/uploader/config.yaml', 'curl -s localhost:8000/health'))
    .action(async (o: { config: string }) => done(await (await runCommands()).runCommand(o.config)));

  cmd
    .command('scan-once')
    .description('one full cycle (scan, detect, upload what is ready, move, retry due failures), then exit; exit 1 when a session failed')
    .addOption(configOption())
    .option('--dry-run', 'show what the cycle would do; write nothing to S3, the share or the state database')
    .option('--json', 'with --dry-run: the plan as JSON')
    .addHelpText(
      'after',
      examples(
        'uploader-agent scan-once --config config.yaml',
        'uploader-agent scan-once --dry-run --config config.yaml',
        'uploader-agent scan-once --dry-run --json --config config.yaml | jq ".plan[] | select(.action==\\"upload\\")"',
      ),
    )
    .action(async (o: { config: string; dryRun?: boolean; json?: boolean }) =>
      done(o.dryRun ? await dryRun(o.config, o.json ?? false) : await scanOnce(o.config)),
    );

  cmd
    .command('validate-config')
    .description('check a configuration file: prints a summary and exits 0, or lists every problem and exits 2')
    .addOption(configOption())
    .addHelpText('after', examples('uploader-agent validate-config --config config.yaml'))
    .action(async (o: { config: string }) => {
      const config = await readConfig(o.config);
      process.stdout.write(summary(o.config, config));
      done(EXIT.ok);
    });

  cmd
    .command('print-manifest')
    .description('stdout: exactly the manifest.json that would be uploaded for DIR; stderr: "manifest-sha256: HASH", its manifest hash')
    .requiredOption('-s, --session <dir>', 'session folder')
    .addOption(configOption())
    .addHelpText('after', examples('uploader-agent print-manifest --session /mnt/lab1/sessions/run-042 --config config.yaml | jq .file_count'))
    .action(async (o: { session: string; config: string }) => done(await (await operatorCommands()).printManifest(o.session, o.config)));

  cmd
    .command('status')
    .description('the sessions in the state database, or one session with its history and file records')
    .argument('[session]', 'a session_id, folder name or row number')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .addOption(new Option('--state <state...>', 'only sessions in these states').choices([...SESSION_STATES]))
    .addHelpText(
      'after',
      examples(
        'uploader-agent status --config config.yaml',
        'uploader-agent status --state failed needs_attention --config config.yaml',
        'uploader-agent status BAT-2026-11-001 --config config.yaml',
        'uploader-agent status --json --config config.yaml | jq ".[] | {id, status}"',
      ),
    )
    .action(async (ref: string | undefined, o: { config: string; json?: boolean; state?: SessionStatus[] }) =>
      done(await (await operatorCommands()).status(o.config, ref, o)),
    );

  cmd
    .command('retry')
    .description('put a failed or needs_attention session back in the queue (from the start of its stability window, retries reset)')
    .argument('[session]', 'a session_id, folder name or row number')
    .addOption(configOption())
    .option('--all-needs-attention', 'requeue every needs_attention session')
    .addHelpText(
      'after',
      examples('uploader-agent retry BAT-2026-11-001 --config config.yaml', 'uploader-agent retry --all-needs-attention --config config.yaml'),
    )
    .action(async (ref: string | undefined, o: { config: string; allNeedsAttention?: boolean }) =>
      done(await (await operatorCommands()).retry(o.config, ref, o)),
    );

  cmd
    .command('dismiss')
    .description(
      'give up on a failed or needs_attention session whose folder is gone, for good: recorded with who and why, shown as dismissed, no longer counted as needs_attention',
    )
    .argument('<session>', 'a session_id, folder name or row number')
    .requiredOption('--reason <text>', 'why (recorded with your user and host)')
    .addOption(configOption())
    .addHelpText('after', examples('uploader-agent dismiss BAT-2026-11-001 --reason "folder deleted: test run, no data" --config config.yaml'))
    .action(async (ref: string, o: { config: string; reason: string }) => done(await (await import('./dismiss-command.js')).dismiss(o.config, ref, o.reason)));

  cmd
    .command('doctor')
    .description(
      'check everything before the first real bytes: config, roots (readable, writable, mounted), state DB and migrations, S3 write/read of a probe object, clock skew',
    )
    .addOption(configOption())
    .addHelpText('after', examples('uploader-agent doctor --config config.yaml'))
    .action(async (o: { config: string }) => {
      const { formatChecks, runDoctor } = await import('./doctor.js');
      const checks = await runDoctor(o.config, process.env);
      process.stdout.write(formatChecks(checks));
      done(checks.every((c) => c.ok) ? EXIT.ok : EXIT.sessionFailed);
    });

  return cmd;
}

async function scanOnce(configFile: string): Promise<number> {
  // At a terminal, a live progress line per session on stderr; the JSON lines stay on stdout.
  const rt = await openRuntime(await readConfig(configFile), {
    stream: 'stdout',
    checkS3: true,
    metrics: uncountedMetrics(),
    ...(process.stderr.isTTY ? { terminal: process.stderr } : {}),
  });
  try {
    const roundTrips0 = rt.deps.db.roundTrips;
    const report = await runCycle(rt.deps, new AbortController().signal);
    rt.deps.logger.info(
      {
        event: 'cycle_completed',
        discovered: report.discovered,
        sessions: report.outcomes.length,
        failed: report.failed,
        db_round_trips: rt.deps.db.roundTrips - roundTrips0,
      },
      'scan cycle completed',
    );
    return report.failed > 0 ? EXIT.sessionFailed : EXIT.ok;
  } finally {
    await rt.close();
  }
}

async function dryRun(configFile: string, json: boolean): Promise<number> {
  const config = await readConfig(configFile);
  const share = shareFor(config);
  const { logger, flush } = createLogger({ stream: 'stderr' });
  const db = await openStateDb(config, process.env, logger, { migrate: false, shareWithRunningAgent: true });
  try {
    const { formatPlan, planCycle } = await import('./dry-run.js');
    const { createS3Client } = await import('../s3/client.js');
    // Read only: whether a session's _COMPLETE is already there.
    const s3 = createS3Client(config.upload, process.env);
    // A one-shot command: Ctrl-C ends the process, nothing needs to be aborted.
    const result = await planCycle({ config, db, share }, await readDatabaseClock(db), new AbortController().signal, s3).finally(() => s3.destroy());
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatPlan(result));
    return EXIT.ok;
  } finally {
    await share.close();
    await db.close();
    flush();
  }
}

function summary(file: string, c: AgentConfig): string {
  const roots = c.watch.session_roots.map((r) => `  - ${r.path} (profile ${r.profile})`).join('\n');
  return [
    `configuration ${file} is valid`,
    `machine_id: ${c.agent.machine_id}  lab_id: ${c.agent.lab_id}`,
    `scan every ${c.agent.scan_interval_seconds}s, stable after ${c.agent.stable_window_seconds}s, move after upload: ${c.agent.move_after_upload}`,
    `session roots:\n${roots}`,
    `upload to s3://${c.upload.s3_bucket}/${c.upload.s3_prefix} (${c.upload.s3_region}${c.upload.s3_endpoint ? `, endpoint ${redactSecrets(c.upload.s3_endpoint)}` : ''}); max_retries ${c.upload.max_retries}, backoff from ${c.upload.initial_backoff_seconds}s`,
    `manifests kept in ${c.storage.manifest_cache_dir}; logs in ${c.storage.log_dir}`,
    '',
  ].join('\n');
}

let exitCode: number = EXIT.ok;
function done(code: number): void {
  exitCode = code;
}

/** pino throws on an unknown level from deep inside the first command that logs. */
function checkLogEnvironment(env: NodeJS.ProcessEnv): void {
  const level = env.LOG_LEVEL;
  if (level !== undefined && level !== '' && !LOG_LEVELS.includes(level)) {
    throw new CliExit(EXIT.usage, `LOG_LEVEL=${JSON.stringify(level)} is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
  }
  const format = env.LOG_FORMAT;
  if (format !== undefined && format !== '' && !LOG_FORMATS.some((f) => f === format)) {
    throw new CliExit(EXIT.usage, `LOG_FORMAT=${JSON.stringify(format)} is not a log format; use json or pretty (unset: pretty at a terminal, else json)`);
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    checkLogEnvironment(process.env);
    await program().parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliExit) {
      process.stderr.write(`uploader-agent: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`uploader-agent: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT.sessionFailed;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
