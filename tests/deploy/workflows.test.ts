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

const allRun = (wf: Obj) =>
  steps(wf)
    .map((s) => s.run ?? '')
    .join('\n');

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
    for (const cmd of [
      'npm ci',
      'npm run lint',
      'npm run typecheck',
      'npm test',
      'terraform fmt -check -recursive',
      'terraform init -backend=false',
      'terraform validate',
      'shellcheck entrypoint.sh',
    ]) {
      expect(run, cmd).toContain(cmd);
    }
    expect(
      steps(ci)
        .filter((s) => s.run?.startsWith('terraform'))
        .every((s) => s.cwd === 'platform'),
    ).toBe(true);
    expect(steps(ci).some((s) => s.uses?.startsWith('docker/build-push-action') && s.with?.file === 'Dockerfile')).toBe(true);
  });

  it('ci.yml runs the terraform plan tests for dev and prod and shellchecks the deploy scripts', () => {
    const run = allRun(workflows['ci.yml']);
    for (const env of ENVIRONMENTS) expect(run).toContain(`terraform test -var-file=vars/${env}.tfvars`);
    expect(run).toMatch(/shellcheck .*\.github\/scripts\/\*\.sh/);
  });

  it('deploy.yml: deploys only a commit whose ci passed on main, never on a bare push', () => {
    const deploy = workflows['deploy.yml'];
    const on = obj(deploy.on);
    expect(Object.keys(on).sort()).toEqual(['pull_request', 'workflow_run']);
    expect(obj(on.workflow_run)).toEqual({ workflows: ['ci'], types: ['completed'], branches: ['main'] });
    expect(obj(workflows['ci.yml'].on).push).toEqual({ branches: ['main'] });
    expect(workflows['ci.yml'].name).toBe('ci');
    const jobs = obj(deploy.jobs);
    const build = obj(jobs.build);
    expect(build.if).toContain("github.event.workflow_run.conclusion == 'success'");
    expect(build.if).toContain("github.event.workflow_run.event == 'push'");
    for (const name of ['dev', 'prod']) {
      const job = obj(jobs[name]);
      expect(arr([job.needs].flat())).toContain('build');
      expect(obj(job.with).ref).toBe('${{ github.event.workflow_run.head_sha }}');
    }
    expect(arr([obj(jobs.prod).needs].flat())).toContain('dev');
    expect(steps(deploy).find((s) => s.uses?.startsWith('actions/checkout'))?.with?.ref).toBe('${{ github.event.workflow_run.head_sha }}');
  });

  it('builds the image once and promotes the same digest from dev to prod', () => {
    const deploy = workflows['deploy.yml'];
    const jobs = obj(deploy.jobs);
    const builds = Object.values(workflows).flatMap((wf) => steps(wf).filter((s) => /docker (buildx )?build/.test(s.run ?? '')));
    expect(builds.map((s) => s.job)).toEqual(['build']);
    expect(builds[0]?.run).toMatch(/--provenance=false/);
    expect(builds[0]?.run).toMatch(/type=oci/);
    expect(obj(obj(jobs.build).outputs).digest).toBe('${{ steps.build.outputs.digest }}');
    for (const name of ['dev', 'prod']) expect(obj(obj(jobs[name]).with).image_digest).toBe('${{ needs.build.outputs.digest }}');
    const run = allRun(workflows['deploy-env.yml']);
    expect(run).not.toMatch(/docker (buildx )?(build|push)/);
    expect(run).toContain('../.github/scripts/push-image.sh');
    expect(run).toMatch(
      /terraform apply -input=false -auto-approve -var-file="vars\/\$\{ENVIRONMENT\}\.tfvars" -var="image_tag=\$\{IMAGE_TAG\}" -var="image_digest=\$\{IMAGE_DIGEST\}"/,
    );
  });

  it('deploy-env.yml: pushes, applies, then fails unless the rollout completed with the new task definition', () => {
    const env = workflows['deploy-env.yml'];
    const s = steps(env);
    const order = s.map((x) => x.run ?? '').filter(Boolean);
    const idx = (needle: string) => order.findIndex((r) => r.includes(needle));
    expect(idx('push-image.sh')).toBeGreaterThanOrEqual(0);
    expect(idx('push-image.sh')).toBeLessThan(idx('-var="image_digest='));
    expect(idx('-var="image_digest=')).toBeLessThan(idx('ecs-deployment-check.sh'));
    const check = order[idx('ecs-deployment-check.sh')] ?? '';
    expect(check).toContain('terraform output -raw task_definition_arn');
    expect(readFileSync(join(ROOT, 'platform/outputs.tf'), 'utf8')).toMatch(/output "task_definition_arn"[\s\S]*?aws_ecs_task_definition\.agent\.arn/);
    expect(allRun(env)).not.toMatch(/aws ecs wait services-stable/); // only inside the check script, never alone
    expect(s.some((x) => x.uses?.startsWith('aws-actions/configure-aws-credentials') && String(x.with?.['role-to-assume']).includes('vars.'))).toBe(true);
  });

  it('pull-request plans: no forks, the read-only "<env>-plan" role, no apply, no secrets', () => {
    const deploy = workflows['deploy.yml'];
    const plan = obj(obj(deploy.jobs).plan);
    expect(plan.if).toBe("github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name == github.repository");
    expect(obj(plan.with)).toMatchObject({ apply: false, ref: '${{ github.event.pull_request.head.sha }}' });
    const job = obj(obj(workflows['deploy-env.yml'].jobs).terraform);
    expect(job.environment).toBe("${{ inputs.apply && inputs.environment || format('{0}-plan', inputs.environment) }}");
    const s = steps(workflows['deploy-env.yml']);
    const raw = obj(obj(workflows['deploy-env.yml'].jobs).terraform).steps as Obj[];
    s.forEach((step, i) => {
      const cond = String(raw[i]?.if ?? '');
      if (/terraform apply|push-image|ecs-deployment-check/.test(step.run ?? '')) expect(cond, step.run).toBe('inputs.apply');
      if (/terraform plan/.test(step.run ?? '')) expect(cond).toBe('${{ !inputs.apply }}');
    });
    expect(allRun(workflows['deploy-env.yml'])).toMatch(/terraform plan -input=false -lock=false/);
    for (const [name, wf] of Object.entries(workflows)) expect(JSON.stringify(wf), name).not.toMatch(/secrets\.|pull_request_target/);
    expect(obj(deploy.permissions)).toEqual({ contents: 'read' });
  });
});
