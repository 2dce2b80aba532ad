// Preloaded into the agent (`NODE_OPTIONS=--require=…`) by entrypoint.sh, which passes the
// agent's secrets as NAME=value lines on the pipe that UPLOADER_SECRETS_FD names instead of in
// its environment. Set here, they live in the process's memory only: /proc/<pid>/environ shows
// the environment the process was started with, and no command line carries them.
// CommonJS and synchronous on purpose: the launcher sizes libuv's thread pool before its
// first use, which an ES module preload (loaded through that pool) would pre-empt.
// The image build compiles this file with esbuild (see the Dockerfile).
import { closeSync, readFileSync } from 'node:fs';

const fd = Number(process.env.UPLOADER_SECRETS_FD);
// Processes the agent starts inherit NODE_OPTIONS but not the pipe: for them this is a no-op.
delete process.env.UPLOADER_SECRETS_FD;
if (Number.isInteger(fd) && fd > 2) {
  let text: string;
  try {
    text = readFileSync(fd, 'utf8');
    closeSync(fd);
  } catch (err) {
    throw new Error(`agent-secrets: cannot read the secrets pipe on fd ${fd}: ${(err as Error).message}`, { cause: err });
  }
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) process.env[line.slice(0, eq)] = line.slice(eq + 1);
  }
}
