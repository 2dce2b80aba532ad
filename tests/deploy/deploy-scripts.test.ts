import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, onPath } from './support.js';

const SCRIPTS = join(ROOT, '.github/scripts');
const CHECK = join(SCRIPTS, 'ecs-deployment-check.sh');
const PUSH = join(SCRIPTS, 'push-image.sh');
const NEW_TD = 'arn:aws:ecs:ca-central-1:111111111111:task-definition/lab-data-uploader-dev:8';
const OLD_TD = 'arn:aws:ecs:ca-central-1:111111111111:task-definition/lab-data-uploader-dev:7';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const REPO = '111111111111.dkr.ecr.ca-central-1.amazonaws.com/lab-data-uploader-dev';
const hasShellcheck = onPath('shellcheck');

describe('.github/scripts', () => {
  it.skipIf(!hasShellcheck)(hasShellcheck ? 'pass shellcheck' : 'shellcheck: SKIPPED, no shellcheck binary on PATH (CI installs it)', () => {
    const r = spawnSync('shellcheck', [CHECK, PUSH], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

/** Runs the deploy scripts against stub `aws` and `skopeo` that answer from STUB_* variables and log their calls. */
describe('deploy scripts with stubbed aws and skopeo', () => {
  let dir: string;
  let calls: string;

  const stub = (name: string, body: string) => {
    const file = join(dir, 'bin', name);
    writeFileSync(file, `#!/usr/bin/env bash\necho "${name} $*" >>"${calls}"\n${body}\n`);
    chmodSync(file, 0o755);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'deploy-scripts-'));
    calls = join(dir, 'calls.log');
    mkdirSync(join(dir, 'bin'));
    stub(
      'aws',
      [
        'case "$1 $2" in',
        '  "ecs wait") exit "${STUB_WAIT_STATUS:-0}" ;;',
        '  "ecs describe-services") printf "%s\\t%s\\n" "$STUB_ROLLOUT" "$STUB_PRIMARY_TD" ;;',
        '  "ecr get-login-password") echo ecr-token ;;',
        // After skopeo copied, the repository holds the pushed digest.
        '  "ecr describe-images") if [[ -f "$STUB_DIR/pushed" ]]; then cat "$STUB_DIR/pushed"; elif [[ -n "${STUB_EXISTING:-}" ]]; then echo "$STUB_EXISTING"; else echo "An error occurred (ImageNotFoundException)" >&2; exit 254; fi ;;',
        '  *) exit 99 ;;',
        'esac',
      ].join('\n'),
    );
    stub('skopeo', 'case "$1" in login) cat >/dev/null ;; copy) echo "${STUB_PUSHED_DIGEST:-$STUB_EXPECTED}" >"$STUB_DIR/pushed" ;; esac');
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(script: string, args: string[], env: Record<string, string>) {
    const r = spawnSync(script, args, {
      encoding: 'utf8',
      env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`, STUB_DIR: dir, ...env },
    });
    return { status: r.status, out: r.stdout + r.stderr, calls: existsSync(calls) ? readFileSync(calls, 'utf8') : '' };
  }

  const check = (env: Record<string, string>) => run(CHECK, ['cluster', 'agent', NEW_TD], env);

  it('ecs-deployment-check: passes when the primary deployment completed with the new task definition', () => {
    const r = check({ STUB_ROLLOUT: 'COMPLETED', STUB_PRIMARY_TD: NEW_TD });
    expect(r.out).toContain('rollout COMPLETED');
    expect(r.status).toBe(0);
    expect(r.calls).toMatch(/^aws ecs wait services-stable --cluster cluster --services agent$/m);
  });

  it('ecs-deployment-check: fails after a circuit-breaker rollback, though the service is stable', () => {
    const r = check({ STUB_ROLLOUT: 'COMPLETED', STUB_PRIMARY_TD: OLD_TD });
    expect(r.status).toBe(1);
    expect(r.out).toContain('rolled back');
  });

  it.each(['IN_PROGRESS', 'FAILED'])('ecs-deployment-check: fails while the rollout is %s', (state) => {
    const r = check({ STUB_ROLLOUT: state, STUB_PRIMARY_TD: NEW_TD });
    expect(r.status).toBe(1);
    expect(r.out).toContain(`is ${state}, not COMPLETED`);
  });

  it('ecs-deployment-check: fails when the service never becomes stable, without asking further', () => {
    const r = check({ STUB_WAIT_STATUS: '255', STUB_ROLLOUT: 'COMPLETED', STUB_PRIMARY_TD: NEW_TD });
    expect(r.status).toBe(1);
    expect(r.calls).not.toContain('describe-services');
  });

  it('push-image: copies the archive with its digest preserved and checks what ECR holds', () => {
    const r = run(PUSH, ['/tmp/agent-image.tar', REPO, 'abc123', DIGEST], { STUB_EXPECTED: DIGEST });
    expect(r.status, r.out).toBe(0);
    expect(r.calls).toContain(`skopeo copy --preserve-digests oci-archive:/tmp/agent-image.tar docker://${REPO}:abc123`);
    expect(r.calls).toContain('skopeo login --username AWS --password-stdin 111111111111.dkr.ecr.ca-central-1.amazonaws.com');
  });

  it('push-image: fails when ECR ends up with another digest', () => {
    const r = run(PUSH, ['/tmp/agent-image.tar', REPO, 'abc123', DIGEST], { STUB_EXPECTED: DIGEST, STUB_PUSHED_DIGEST: `sha256:${'b'.repeat(64)}` });
    expect(r.status).toBe(1);
    expect(r.out).toContain(`not the built ${DIGEST}`);
  });

  it('push-image: a re-run reuses the tag only when it names the same digest', () => {
    const same = run(PUSH, ['/tmp/agent-image.tar', REPO, 'abc123', DIGEST], { STUB_EXISTING: DIGEST });
    expect(same.status).toBe(0);
    expect(same.calls).not.toContain('skopeo copy');
    const other = run(PUSH, ['/tmp/agent-image.tar', REPO, 'abc123', DIGEST], { STUB_EXISTING: `sha256:${'c'.repeat(64)}` });
    expect(other.status).toBe(1);
    expect(other.calls).not.toContain('skopeo copy');
  });

  it('push-image: refuses anything but a sha256 digest', () => {
    const r = run(PUSH, ['/tmp/agent-image.tar', REPO, 'abc123', 'latest'], {});
    expect(r.status).toBe(1);
    expect(r.calls).toBe('');
  });
});
