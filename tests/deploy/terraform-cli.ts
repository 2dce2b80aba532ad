import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { PLATFORM, onPath, walk } from './support.js';

/** Where the offline hashicorp/aws provider mirror is (`terraform init -plugin-dir`). */
export const PLUGIN_DIR = process.env.TF_PLUGIN_DIR ?? '/opt/tf-plugins';

/**
 * Why the terraform validate/plan tests cannot run here, or null when they can. These are the
 * skip reasons a test list may allow; everything else about them must pass.
 */
export function terraformSkipReason(): string | null {
  if (!onPath('terraform')) return 'SKIPPED terraform validate/test: no terraform binary on PATH';
  if (!existsSync(join(PLUGIN_DIR, 'registry.terraform.io/hashicorp/aws'))) {
    return `SKIPPED terraform validate/test: no offline hashicorp/aws provider mirror in ${PLUGIN_DIR} (set TF_PLUGIN_DIR)`;
  }
  return null;
}

export interface TfResult {
  code: number;
  output: string;
}

/** A throwaway copy of platform/, so init writes nothing into the work tree and runs never share state. */
export class TerraformWorkdir {
  readonly dir: string;
  private readonly root: string;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'tf-platform-'));
    this.dir = join(this.root, 'platform');
    cpSync(PLATFORM, this.dir, { recursive: true, filter: (src) => basename(src) !== '.terraform' });
  }

  run(args: string[]): Promise<TfResult> {
    return new Promise((resolve) => {
      // CHECKPOINT_DISABLE: no version check against the internet from a test.
      const env = { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
      execFile('terraform', args, { cwd: this.dir, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      });
    });
  }

  init(): Promise<TfResult> {
    return this.run(['init', '-backend=false', '-input=false', '-no-color', `-plugin-dir=${PLUGIN_DIR}`]);
  }

  /** `terraform test` with one environment's tfvars, as the workflow runs it. */
  test(env: string, filter?: string): Promise<TfResult> {
    const args = ['test', '-no-color', `-var-file=vars/${env}.tfvars`];
    if (filter) args.push(`-filter=${filter}`);
    return this.run(args);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** How many run blocks the test files hold: `terraform test` must report them all passed. */
export function countRunBlocks(filter?: string): number {
  return walk(join(PLATFORM, 'tests'), '.tftest.hcl')
    .filter((f) => !filter || f.endsWith(filter))
    .reduce((n, f) => n + (readFileSync(f, 'utf8').match(/^run\s+"/gm) ?? []).length, 0);
}
