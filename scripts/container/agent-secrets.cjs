// Preloaded into the agent (`NODE_OPTIONS=--require=…`) by entrypoint.sh, which passes the
// agent's secrets as NAME=value lines on the pipe that UPLOADER_SECRETS_FD names instead of in
// its environment. Set here, they live in the process's memory only: /proc/<pid>/environ shows
// the environment the process was started with, and no command line carries them.
// Synchronous on purpose: the launcher sizes libuv's thread pool before its first use.
'use strict';
const { closeSync, readFileSync } = require('node:fs');

const fd = Number(process.env.UPLOADER_SECRETS_FD);
// Processes the agent starts inherit NODE_OPTIONS but not the pipe: for them this is a no-op.
delete process.env.UPLOADER_SECRETS_FD;
if (Number.isInteger(fd) && fd > 2) {
  let text;
  try {
    text = readFileSync(fd, 'utf8');
    closeSync(fd);
  } catch (err) {
    throw new Error(`agent-secrets: cannot read the secrets pipe on fd ${fd}: ${err.message}`);
  }
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) process.env[line.slice(0, eq)] = line.slice(eq + 1);
  }
}
