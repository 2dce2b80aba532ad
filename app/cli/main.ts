#!/usr/bin/env node
import { realpath } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { AgentConfig } from '../config/schema.js';
import { createLogger } from '../logging/logger.js';
import { manifestHash, prettyManifest } from '../pipeline/manifest.js';
import { manifestForFolder } from '../pipeline/manifest-for-folder.js';
import { ignoreMatcher } from '../pipeline/ignore.js';
import { listSessionFiles } from '../pipeline/session-files.js';
import { resolveSessionId } from '../pipeline/session-id.js';
import { contentProblem } from '../pipeline/upload-session.js';
import { runCycle } from '../scheduler.js';
import { findSessions, listEvents, listSessions, requeueSession } from '../state/queries/operator.js';
import { SESSION_STATES, type SessionStatus } from '../state/states.js';
import { CliExit, EXIT } from './exit-codes.js';
import { runCommand } from './run-command.js';
import { openRuntime, openStateDb, readConfig } from './runtime.js';
import { formatHistory, formatTable, sessionJson } from './status-command.js';
import { userInfo } from 'node:os';
import { systemClock } from '../clock.js';

// The SDK's notice that it will require Node 22 in 2027 is for us (the image ships Node 22),
// not for operators reading stderr; it is emitted when a client is created.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const configOption = () => new Option('-c, --config <file>', 'agent configuration (YAML)').makeOptionMandatory();

function program(): Command {
  const cmd = new Command('uploader-agent')
    .description('Moves finished lab sessions from NFS shares into S3, exactly once and intact, and signals downstream ETL with a _COMPLETE object.')
    .showHelpAfterError()
    .exitOverride();

  cmd
    .command('run')
    .description('cycle every scan_interval_seconds; serves GET /health and /metrics; SIGTERM drains within 25 s and exits 0')
    .addOption(configOption())
    .addHelpText('after', '\nExample:\n  DATABASE_URL=postgres://… uploader-agent run --config /etc/uploader/config.yaml')
    .action(async (o: { config: string }) => done(await runCommand(o.config)));

  cmd
    .command('scan-once')
    .description('one full cycle (scan, detect, upload what is ready, move, retry due failures), then exit; exit 1 when a session failed')
    .addOption(configOption())
    .addHelpText('after', '\nExample:\n  uploader-agent scan-once --config config.yaml')
    .action(async (o: { config: string }) => {
      const rt = await openRuntime(o.config, { stream: 'stdout', checkS3: true });
      try {
        const report = await runCycle(rt.deps, new AbortController().signal);
        rt.deps.logger.info({ event: 'cycle_completed', discovered: report.discovered, sessions: report.outcomes.length, failed: report.failed }, 'scan cycle completed');
        done(report.failed > 0 ? EXIT.sessionFailed : EXIT.ok);
      } finally {
        await rt.close();
      }
    });

  cmd
    .command('validate-config')
    .description('check a configuration file: prints a summary and exits 0, or lists every problem and exits 2')
    .addOption(configOption())
    .action(async (o: { config: string }) => {
      const config = await readConfig(o.config);
      process.stdout.write(summary(o.config, config));
      done(EXIT.ok);
    });

  cmd
    .command('print-manifest')
    .description('stdout: exactly the manifest.json that would be uploaded for DIR; stderr: its manifest hash')
    .requiredOption('-s, --session <dir>', 'session folder')
    .addOption(configOption())
    .addHelpText('after', '\nExample:\n  uploader-agent print-manifest --session /mnt/lab1/sessions/run-042 --config config.yaml | jq .file_count')
    .action(async (o: { session: string; config: string }) => done(await printManifest(o.session, o.config)));

  cmd
    .command('status')
    .description('the sessions in the state database (or one session with its history)')
    .argument('[session]', 'a session_id, folder name or row number: show its history')
    .addOption(configOption())
    .option('--json', 'machine-readable output')
    .addOption(new Option('--state <state...>', 'only sessions in these states').choices([...SESSION_STATES]))
    .action(async (ref: string | undefined, o: { config: string; json?: boolean; state?: SessionStatus[] }) => done(await status(o.config, ref, o)));

  cmd
    .command('retry')
    .description('put a failed or needs_attention session back in the queue (from the start of its stability window)')
    .argument('<session>', 'a session_id, folder name or row number')
    .addOption(configOption())
    .action(async (ref: string, o: { config: string }) => done(await retry(o.config, ref)));

  return cmd;
}

function summary(file: string, c: AgentConfig): string {
  const roots = c.watch.session_roots.map((r) => `  - ${r.path} (profile ${r.profile})`).join('\n');
  return [
    `configuration ${file} is valid`,
    `machine_id: ${c.agent.machine_id}  lab_id: ${c.agent.lab_id}`,
    `scan every ${c.agent.scan_interval_seconds}s, stable after ${c.agent.stable_window_seconds}s, move after upload: ${c.agent.move_after_upload}`,
    `session roots:\n${roots}`,
    `upload to s3://${c.upload.s3_bucket}/${c.upload.s3_prefix} (${c.upload.s3_region}${c.upload.s3_endpoint ? `, endpoint ${c.upload.s3_endpoint}` : ''}); max_retries ${c.upload.max_retries}, backoff from ${c.upload.initial_backoff_seconds}s`,
    `manifests kept in ${c.storage.manifest_cache_dir}; logs in ${c.storage.log_dir}`,
    '',
  ].join('\n');
}

async function printManifest(sessionDir: string, configFile: string): Promise<number> {
  const config = await readConfig(configFile);
  const folder = await realpath(resolve(sessionDir)).catch(() => {
    throw new CliExit(EXIT.usage, `session folder ${sessionDir} does not exist`);
  });
  const root = await rootOf(config, folder);
  const profile = root ? config.profiles[root.profile] : undefined;
  const listing = await listSessionFiles(folder, ignoreMatcher(profile?.ignore_patterns ?? []));
  const problem = contentProblem(listing);
  if (problem) throw new CliExit(EXIT.sessionFailed, `${folder}: ${problem}`);
  const folderName = folder.slice(folder.lastIndexOf(sep) + 1);
  const { sessionId } = await resolveSessionId(folder, folderName, profile?.metadata_files ?? []).catch((err: Error) => {
    throw new CliExit(EXIT.sessionFailed, `${folder}: ${err.message}`);
  });
  const manifest = await manifestForFolder(config, { sessionId, folderPath: folder, listing }, new AbortController().signal);
  process.stdout.write(prettyManifest(manifest));
  process.stderr.write(`${manifestHash(manifest)}\n`);
  return EXIT.ok;
}

async function rootOf(config: AgentConfig, folder: string) {
  for (const root of config.watch.session_roots) {
    const real = await realpath(root.path).catch(() => resolve(root.path));
    if (dirname(folder) === real || folder.startsWith(real + sep)) return root;
  }
  return undefined;
}

async function status(configFile: string, ref: string | undefined, o: { json?: boolean; state?: SessionStatus[] }): Promise<number> {
  const config = await readConfig(configFile);
  const { logger, flush } = createLogger({ stream: 'stderr' });
  const db = await openStateDb(config, process.env, logger);
  try {
    if (ref) {
      const found = await findSessions(db, ref);
      if (found.length === 0) throw new CliExit(EXIT.usage, `no session matches ${ref}`);
      const withEvents = await Promise.all(found.map(async (s) => ({ s, events: await listEvents(db, s.pk) })));
      process.stdout.write(
        o.json
          ? `${JSON.stringify(withEvents.map(({ s, events }) => ({ ...sessionJson(s), history: events })), null, 2)}\n`
          : withEvents.map(({ s, events }) => formatHistory(s, events)).join('\n'),
      );
      return EXIT.ok;
    }
    const sessions = await listSessions(db, o.state);
    process.stdout.write(o.json ? `${JSON.stringify(sessions.map(sessionJson), null, 2)}\n` : formatTable(sessions));
    return EXIT.ok;
  } finally {
    await db.close();
    flush();
  }
}

async function retry(configFile: string, ref: string): Promise<number> {
  const config = await readConfig(configFile);
  const { logger, flush } = createLogger({ stream: 'stderr', logDir: config.storage.log_dir });
  const db = await openStateDb(config, process.env, logger);
  try {
    const found = await findSessions(db, ref);
    if (found.length === 0) throw new CliExit(EXIT.usage, `no session matches ${ref}`);
    const stuck = found.filter((s) => s.status === 'failed' || s.status === 'needs_attention');
    if (stuck.length === 0) {
      throw new CliExit(EXIT.sessionFailed, `${ref} is not failed or needs_attention (${found.map((s) => `row ${s.pk}: ${s.status}`).join(', ')})`);
    }
    if (stuck.length > 1) throw new CliExit(EXIT.usage, `${ref} matches several sessions (rows ${stuck.map((s) => s.pk).join(', ')}): name one by its row number`);
    const target = stuck[0] as (typeof stuck)[number];
    const who = `${userInfo().username}@cli`;
    const from = await requeueSession(db, target.pk, who, systemClock.now());
    if (!from) throw new CliExit(EXIT.sessionFailed, `${ref} is being worked on by an agent right now; try again shortly`);
    logger.info({ event: 'session_retry_requested', session_pk: target.pk, session_id: target.sessionId, from, to: 'waiting_for_stable', by: who }, 'session requeued');
    process.stdout.write(`session ${target.sessionId ?? target.folderName} (row ${target.pk}): ${from} → waiting_for_stable\n`);
    return EXIT.ok;
  } finally {
    await db.close();
    flush();
  }
}

let exitCode: number = EXIT.ok;
function done(code: number): void {
  exitCode = code;
}

async function main(argv: string[]): Promise<number> {
  try {
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
