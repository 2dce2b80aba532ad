import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, arr, isObj, obj, type Obj } from './support.js';

const DIR = join(ROOT, '.github/workflows');
const load = (name: string) => obj(parse(readFileSync(join(DIR, name), 'utf8')), name);
const workflows = { 'ci.yml': load('ci.yml'), 'deploy.yml': load('deploy.yml'), 'deploy-env.yml': load('deploy-env.yml') };
const scripts = Object.keys(obj(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts));
const ENVIRONMENTS = ['dev', 'prod'];

interface Step {
  job: string;
  uses?: string;
  run?: string;
  with?: Obj;
  cwd: string;
}

function steps(wf: Obj): Step[] {
  return Object.entries(obj(wf.jobs)).flatMap(([job, j]) => {
    const jobObj = obj(j);
    const defaults = isObj(jobObj.defaults) && isObj(jobObj.defaults.run) ? String(jobObj.defaults.run['working-directory'] ?? '.') : '.';
    return ((jobObj.steps as Obj[] | undefined) ?? []).map((s) => ({
      job,
      uses: typeof s.uses === 'string' ? s.uses : undefined,
      run: typeof s.run === 'string' ? s.run : undefined,
      with: isObj(s.with) ? s.with : undefined,
      cwd: String(s['working-directory'] ?? defaults),
    }));
  });
}

const allRun = (wf: Obj) => steps(wf).map((s) => s.run ?? '').join('\n');

describe('GitHub workflows', () => {
  it.each(Object.entries(workflows))('%s parses, has triggers and jobs', (_, wf) => {
    expect(wf.on).toBeDefined();
    expect(Object.keys(obj(wf.jobs)).length).toBeGreaterThan(0);
  });

  it('reference files and directories that exist (per environment)', () => {
    const missing: string[] = [];
    for (const [name, wf] of Object.entries(workflows)) {
      for (const job of Object.values(obj(wf.jobs))) {
        const uses = obj(job).uses;
        if (typeof uses === 'string' && uses.startsWith('./') && !existsSync(join(ROOT, uses))) missing.push(`${name}: ${uses}`);
      }
      for (const step of steps(wf)) {
        if (!existsSync(join(ROOT, step.cwd))) missing.push(`${name}: working-directory ${step.cwd}`);
        for (const key of ['file', 'context'] as const) {
          const v = step.with?.[key];
          if (typeof v === 'string' && !existsSync(join(ROOT, step.cwd, v))) missing.push(`${name}: ${key} ${v}`);
        }
        for (const env of ENVIRONMENTS) {
          const text = (step.run ?? '').replace(/\$\{ENVIRONMENT\}|\$ENVIRONMENT|\$\{\{\s*(?:inputs|matrix)\.environment\s*\}\}/g, env);
          for (const m of text.matchAll(/(?:^|[\s="'])((?:\.\.?\/)?[\w.-]+(?:\/[\w.-]+)*\.(?:tfvars|tfbackend|sh|json|ya?ml))(?=$|[\s"'])/gm)) {
            const file = m[1] ?? '';
            if (!existsSync(join(ROOT, step.cwd, file))) missing.push(`${name} (${step.job}): ${file}`);
          }
        }
        for (const m of (step.run ?? '').matchAll(/docker build .*-f\s+(\S+)/g)) {
          if (!existsSync(join(ROOT, step.cwd, m[1] ?? ''))) missing.push(`${name}: docker build -f ${m[1]}`);
        }
        for (const m of (step.run ?? '').matchAll(/npm run (\w[\w:-]*)/g)) if (!scripts.includes(m[1] ?? '')) missing.push(`${name}: npm script ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('ci.yml: Node 20 and 22, npm ci, lint, typecheck, tests, terraform fmt/validate, shellcheck, docker build', () => {
    const ci = workflows['ci.yml'];
    const matrix = obj(obj(obj(obj(ci.jobs).node).strategy).matrix);
    expect(arr(matrix.node)).toEqual([20, 22]);
    const run = allRun(ci);
    for (const cmd of ['npm ci', 'npm run lint', 'npm run typecheck', 'npm test', 'terraform fmt -check -recursive', 'terraform init -backend=false', 'terraform validate', 'shellcheck entrypoint.sh']) {
      expect(run, cmd).toContain(cmd);
    }
    expect(steps(ci).filter((s) => s.run?.startsWith('terraform')).every((s) => s.cwd === 'platform')).toBe(true);
    expect(steps(ci).some((s) => s.uses?.startsWith('docker/build-push-action') && s.with?.file === 'Dockerfile')).toBe(true);
  });

  it('deploy: OIDC, plan on pull requests, build+push by SHA, apply on push and wait for ECS, dev before prod', () => {
    const deploy = workflows['deploy.yml'];
    const env = workflows['deploy-env.yml'];
    expect(obj(deploy.permissions)['id-token']).toBe('write');
    const jobs = obj(deploy.jobs);
    expect(obj(jobs.plan)).toMatchObject({ if: "github.event_name == 'pull_request'", with: { apply: false } });
    expect(obj(jobs.dev)).toMatchObject({ if: "github.event_name == 'push'", with: { environment: 'dev', apply: true } });
    expect(obj(jobs.prod)).toMatchObject({ needs: 'dev', with: { environment: 'prod', apply: true } });
    const s = steps(env);
    expect(s.some((x) => x.uses?.startsWith('aws-actions/configure-aws-credentials') && String(x.with?.['role-to-assume']).includes('vars.'))).toBe(true);
    const run = allRun(env);
    expect(run).toMatch(/docker build -t "\$\{repo\}:\$\{IMAGE_TAG\}"/);
    expect(run).toContain('docker push');
    expect(run).toContain('terraform plan');
    expect(run).toContain('terraform apply -input=false -auto-approve -var-file');
    expect(run).toContain('aws ecs wait services-stable');
    expect(String(obj(obj(obj(env.jobs).terraform).env).IMAGE_TAG)).toContain('github.sha');
    const order = s.map((x) => x.run ?? '').filter(Boolean);
    const idx = (needle: string) => order.findIndex((r) => r.includes(needle));
    expect(idx('docker push')).toBeLessThan(idx('terraform apply -input=false -auto-approve -var-file'));
    expect(idx('terraform apply -input=false -auto-approve -var-file')).toBeLessThan(idx('aws ecs wait services-stable'));
  });
});
