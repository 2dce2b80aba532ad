import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ASL_FILE,
  PATTERN_FILE,
  PLATFORM,
  ROOT,
  arr,
  block,
  blocksOf,
  isObj,
  obj,
  onPath,
  parseTerraform,
  placeholders,
  policyStatements,
  sub,
  templatefileOf,
  walk,
  type Obj,
  type TfFile,
} from './support.js';
import { TerraformWorkdir, countRunBlocks, terraformSkipReason } from './terraform-cli.js';

const hasTerraform = onPath('terraform');
if (!hasTerraform) console.warn('tests/deploy: SKIPPING terraform fmt -check: no terraform binary on PATH');
const BUCKET_ARN = '${aws_s3_bucket.data.arn}';
const UNDER_PREFIX = '${aws_s3_bucket.data.arn}/${local.key_prefix}*';

let tf: TfFile[];
const resource = (type: string, name: string) => block(tf, 'resource', type, name);
const policy = (name: string) => policyStatements(block(tf, 'data', 'aws_iam_policy_document', name));
// moved/removed blocks name addresses that no longer (or not yet) exist by design.
const allText = () => JSON.stringify(tf.map((f) => Object.fromEntries(Object.entries(f.body).filter(([k]) => k !== 'moved' && k !== 'removed'))));

beforeAll(async () => {
  tf = await parseTerraform();
});

describe('platform/ Terraform', () => {
  it.skipIf(!hasTerraform)(
    hasTerraform ? 'is formatted (terraform fmt -check -recursive platform)' : 'terraform fmt -check: SKIPPED, no terraform binary on PATH',
    () => {
      const r = spawnSync('terraform', ['fmt', '-check', '-recursive', 'platform'], { cwd: ROOT, encoding: 'utf8' });
      expect(r.stdout.trim(), 'files terraform fmt would rewrite').toBe('');
      expect(r.status).toBe(0);
    },
  );

  it('parses every .tf file (hcl2json)', () => {
    expect(tf.map((f) => f.path)).toEqual(expect.arrayContaining(['s3.tf', 'events.tf', 'stepfunctions.tf', 'ecs.tf', 'iam.tf']));
    for (const f of tf) expect(Object.keys(f.body).length, f.path).toBeGreaterThan(0);
  });

  it('refers only to declared resources, data sources, variables and locals', () => {
    const declared = new Set<string>();
    for (const f of tf) {
      for (const kind of ['resource', 'data'] as const) {
        for (const [type, byName] of Object.entries(isObj(f.body[kind]) ? f.body[kind] : {})) {
          for (const name of Object.keys(obj(byName))) declared.add(`${kind === 'data' ? 'data.' : ''}${type}.${name}`);
        }
      }
      for (const name of Object.keys(isObj(f.body.variable) ? f.body.variable : {})) declared.add(`var.${name}`);
      for (const locals of (f.body.locals as Obj[] | undefined) ?? []) for (const name of Object.keys(locals)) declared.add(`local.${name}`);
    }
    const text = allText();
    const refs = new Set<string>();
    for (const expr of text.match(/\$\{(?:[^{}]|\{[^{}]*\})*\}/g) ?? []) {
      for (const m of expr.matchAll(/(?<![\w.])((?:data\.)?(?:aws|random)_[a-z0-9_]+\.[a-z0-9_]+|var\.[a-z0-9_]+|local\.[a-z0-9_]+)/g)) {
        refs.add(m[1] ?? '');
      }
    }
    expect(refs.size).toBeGreaterThan(30);
    expect([...refs].filter((r) => !declared.has(r)).sort()).toEqual([]);
  });

  it('sets every required variable in each tfvars file (image_tag comes from the workflow) and nothing undeclared', async () => {
    const variables = obj(tf.find((f) => f.path === 'variables.tf')?.body.variable);
    const required = Object.entries(variables)
      .filter(([, v]) => !('default' in obj(arr(v)[0])))
      .map(([k]) => k)
      .filter((k) => k !== 'image_tag');
    const tfvars = await parseTerraform('.tfvars');
    expect(tfvars.map((f) => f.path).sort()).toEqual(['vars/dev.tfvars', 'vars/prod.tfvars']);
    for (const f of tfvars) {
      expect(
        Object.keys(f.body).filter((k) => !(k in variables)),
        f.path,
      ).toEqual([]);
      expect(
        required.filter((k) => !(k in f.body)),
        f.path,
      ).toEqual([]);
    }
  });

  it('uses a partial S3 backend', () => {
    const terraform = obj(arr(tf.find((f) => f.path === 'versions.tf')?.body.terraform)[0]);
    expect(obj(terraform.backend).s3).toEqual([{}]);
    for (const env of ['dev', 'prod']) {
      expect(readFileSync(join(PLATFORM, `vars/${env}.s3.tfbackend`), 'utf8')).toMatch(/^key\s*=\s*".+"/m);
    }
  });
});

const tfSkip = terraformSkipReason();
if (tfSkip) console.warn(`tests/deploy: ${tfSkip}`);

// The plan tests in platform/tests/ run against mocked AWS: offline, no credentials, no state.
describe.skipIf(tfSkip !== null)(tfSkip ?? 'terraform init/validate/test with the offline provider mirror', () => {
  let wd: TerraformWorkdir;

  beforeAll(async () => {
    wd = new TerraformWorkdir();
    const init = await wd.init();
    expect(init.code, init.output).toBe(0);
  }, 120_000);

  afterAll(() => wd?.remove());

  it('terraform validate', async () => {
    const r = await wd.run(['validate', '-no-color']);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('The configuration is valid');
  }, 120_000);

  it.each(['dev', 'prod'])(
    'terraform test -var-file=vars/%s.tfvars: every run block passes',
    async (env) => {
      const r = await wd.test(env);
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(`Success! ${countRunBlocks()} passed, 0 failed.`);
    },
    300_000,
  );

  it('the plan tests catch a task role that may delete object versions', async () => {
    const mutant = new TerraformWorkdir();
    try {
      const iam = join(mutant.dir, 'iam.tf');
      const text = readFileSync(iam, 'utf8');
      const widened = text.replace('"s3:DeleteObject",', '"s3:DeleteObject", "s3:DeleteObjectVersion",');
      expect(widened).not.toBe(text);
      writeFileSync(iam, widened);
      expect((await mutant.init()).code).toBe(0);
      const r = await mutant.test('dev', 'tests/wiring.tftest.hcl');
      expect(r.code).not.toBe(0);
      expect(r.output).toContain("The task role's actions changed");
    } finally {
      mutant.remove();
    }
  }, 300_000);
});

describe('S3 data bucket', () => {
  it('blocks all public access', () => {
    const pab = resource('aws_s3_bucket_public_access_block', 'data');
    expect(pab).toMatchObject({
      bucket: '${aws_s3_bucket.data.id}',
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
  });

  it('denies requests without TLS, to the bucket and its objects', () => {
    expect(resource('aws_s3_bucket_policy', 'data').policy).toBe('${data.aws_iam_policy_document.data_bucket.json}');
    const deny = policy('data_bucket').find((s) => s.effect === 'Deny');
    expect(deny?.actions).toEqual(['s3:*']);
    expect(deny?.resources.sort()).toEqual([BUCKET_ARN, `${BUCKET_ARN}/*`]);
    expect(deny?.conditions).toEqual([{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }]);
  });

  it('is versioned, encrypted (KMS or S3), aborts stale multipart uploads and notifies EventBridge', () => {
    expect(sub(resource('aws_s3_bucket_versioning', 'data'), 'versioning_configuration').status).toBe('Enabled');
    const sse = sub(sub(resource('aws_s3_bucket_server_side_encryption_configuration', 'data'), 'rule'), 'apply_server_side_encryption_by_default');
    expect(sse.sse_algorithm).toBe('${var.sse_kms ? "aws:kms" : "AES256"}');
    const rules = arr(resource('aws_s3_bucket_lifecycle_configuration', 'data').rule) as Obj[];
    expect(rules.some((r) => r.status === 'Enabled' && Array.isArray(r.abort_incomplete_multipart_upload))).toBe(true);
    expect(resource('aws_s3_bucket_notification', 'data').eventbridge).toBe(true);
  });
});

describe('EventBridge and Step Functions wiring', () => {
  it('sends _COMPLETE events to the validation state machine with retries and a dead-letter queue', () => {
    const target = resource('aws_cloudwatch_event_target', 'validate_session');
    expect(target.rule).toBe('${aws_cloudwatch_event_rule.session_complete.name}');
    expect(target.arn).toBe('${aws_sfn_state_machine.validate_session.arn}');
    expect(target.role_arn).toBe('${aws_iam_role.events.arn}');
    expect(Number(sub(target, 'retry_policy').maximum_retry_attempts)).toBeGreaterThan(0);
    expect(sub(target, 'dead_letter_config').arn).toBe('${aws_sqs_queue.events_dlq.arn}');
  });

  it('builds the rule from the pattern file the pattern tests check', () => {
    const { file, vars } = templatefileOf(resource('aws_cloudwatch_event_rule', 'session_complete').event_pattern);
    expect(file).toBe(PATTERN_FILE);
    expect(vars).toEqual(placeholders(readFileSync(file, 'utf8')));
  });

  it('builds the state machine from the ASL file the state machine tests check, with its role', () => {
    const sm = resource('aws_sfn_state_machine', 'validate_session');
    const { file, vars } = templatefileOf(sm.definition);
    expect(file).toBe(ASL_FILE);
    expect(vars).toEqual(placeholders(readFileSync(file, 'utf8')));
    expect(sm.role_arn).toBe('${aws_iam_role.state_machine.arn}');
  });

  it('lets EventBridge start only this state machine', () => {
    expect(resource('aws_iam_role_policy', 'events')).toMatchObject({
      role: '${aws_iam_role.events.id}',
      policy: '${data.aws_iam_policy_document.events.json}',
    });
    expect(policy('events').map((s) => [s.actions, s.resources])).toEqual([[['states:StartExecution'], ['${aws_sfn_state_machine.validate_session.arn}']]]);
  });

  it('lets the state machine only read the bucket (plus its table, its own executions, log delivery and the ETL target)', () => {
    const statements = policy('state_machine');
    const s3 = statements.filter((s) => s.actions.some((a) => a.startsWith('s3:')));
    expect(s3.flatMap((s) => s.actions).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    for (const s of s3) expect(s.resources.every((r) => r === UNDER_PREFIX || r === BUCKET_ARN)).toBe(true);
    const others = statements.filter((s) => !s3.includes(s));
    expect([...new Set(others.flatMap((s) => s.actions))].sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'kms:Decrypt',
      'logs:CreateLogDelivery',
      'logs:DeleteLogDelivery',
      'logs:DescribeLogGroups',
      'logs:DescribeResourcePolicies',
      'logs:GetLogDelivery',
      'logs:ListLogDeliveries',
      'logs:PutResourcePolicy',
      'logs:UpdateLogDelivery',
      'states:DescribeExecution',
      'states:StartExecution',
      'states:StopExecution',
    ]);
    // Log delivery actions have no resource-level permissions; nothing else gets '*'.
    for (const s of statements) if (s.resources.includes('*')) expect(s.actions.every((a) => a.startsWith('logs:'))).toBe(true);
    const own = statements.filter((s) => s.actions.some((a) => a === 'states:DescribeExecution' || a === 'states:StopExecution'));
    expect(own.flatMap((s) => s.resources)).toEqual(['${local.validate_session_executions}/*', '${local.validate_session_executions}:*']);
  });

  it("logs the state machine's errors to its own log group", () => {
    const logging = sub(resource('aws_sfn_state_machine', 'validate_session'), 'logging_configuration');
    expect(logging).toMatchObject({ level: 'ERROR', include_execution_data: true, log_destination: '${aws_cloudwatch_log_group.state_machine.arn}:*' });
  });
});

describe('IAM of the agent', () => {
  it('task role: writes, reads back and deletes leftover objects under the prefix only, no wildcards', () => {
    expect(resource('aws_iam_role_policy', 'task')).toMatchObject({ role: '${aws_iam_role.task.id}', policy: '${data.aws_iam_policy_document.task.json}' });
    const statements = policy('task');
    const actions = statements.flatMap((s) => s.actions);
    expect(actions.filter((a) => a.includes('*') || (/^s3:Delete/i.test(a) && a !== 's3:DeleteObject'))).toEqual([]);
    expect(statements.every((s) => s.effect === 'Allow')).toBe(true);
    for (const s of statements) {
      expect(s.resources, s.sid).not.toContain('*');
      for (const a of s.actions.filter((x) => x.startsWith('s3:'))) {
        const bucketLevel = a === 's3:ListBucket' || a === 's3:ListBucketMultipartUploads';
        expect(s.resources, `${a} resources`).toEqual([bucketLevel ? BUCKET_ARN : UNDER_PREFIX]);
      }
    }
    expect(actions.sort()).toEqual(
      [
        'kms:Decrypt',
        'kms:GenerateDataKey',
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:GetObject',
        's3:ListBucket',
        's3:ListBucketMultipartUploads',
        's3:ListMultipartUploadParts',
        's3:PutObject',
      ].sort(),
    );
    const list = statements.find((s) => s.actions.includes('s3:ListBucket'));
    expect(list?.conditions).toEqual([{ test: 'StringLike', variable: 's3:prefix', values: ['${local.key_prefix}*'] }]);
    const attachments = [...blocksOf(tf, 'resource', 'aws_iam_role_policy_attachment').values()];
    expect(attachments.filter((a) => String(a.role).includes('aws_iam_role.task.'))).toEqual([]);
  });

  it('execution role: its ECR repository, its log group, its two secrets; "*" only for ecr:GetAuthorizationToken', () => {
    const statements = policy('execution');
    for (const s of statements) {
      expect(
        s.actions.some((a) => a.includes('*')),
        s.sid,
      ).toBe(false);
      if (s.resources.includes('*')) expect(s.actions).toEqual(['ecr:GetAuthorizationToken']);
    }
    const secrets = statements.find((s) => s.actions.includes('secretsmanager:GetSecretValue'));
    expect(secrets?.actions).toEqual(['secretsmanager:GetSecretValue']);
    expect(secrets?.resources.sort()).toEqual(['${aws_secretsmanager_secret.database_url.arn}', '${aws_secretsmanager_secret.ts_authkey.arn}']);
    expect(statements.find((s) => s.actions.includes('ecr:BatchGetImage'))?.resources).toEqual(['${aws_ecr_repository.agent.arn}']);
    expect(statements.find((s) => s.actions.includes('logs:PutLogEvents'))?.resources).toEqual(['${aws_cloudwatch_log_group.agent.arn}:*']);
  });
});

// Container definitions, launch types and scaling are built with expressions: platform/tests/*.tftest.hcl
// asserts them on real plans (below); these checks only cover what must hold in the source.
describe('ECS service', () => {
  it('keeps secrets out of the source: no generated password, no secret value, no master password', () => {
    const text = allText();
    expect(text).not.toMatch(/random_password|secret_string|master_password"/);
    const terraform = obj(arr(tf.find((f) => f.path === 'versions.tf')?.body.terraform)[0]);
    expect(Object.keys(obj(arr(terraform.required_providers)[0]))).toEqual(['aws']);
  });

  it('leaves the desired count to Application Auto Scaling', () => {
    const service = resource('aws_ecs_service', 'agent');
    expect(sub(service, 'lifecycle').ignore_changes).toEqual(['${desired_count}']);
    const target = resource('aws_appautoscaling_target', 'agent');
    expect(target).toMatchObject({ min_capacity: '${var.min_tasks}', max_capacity: '${var.max_tasks}' });
  });

  it('creates the EC2 capacity only for launch_type EC2', () => {
    const ec2Only = ['aws_launch_template', 'aws_autoscaling_group', 'aws_ecs_capacity_provider', 'aws_ecs_cluster_capacity_providers'];
    for (const type of ec2Only) expect(resource(type, 'agent').count, type).toBe('${local.ec2 ? 1 : 0}');
    expect(resource('aws_iam_role', 'instance').count).toBe('${local.ec2 ? 1 : 0}');
    expect(resource('aws_security_group', 'instances').count).toBe('${local.ec2 ? 1 : 0}');
  });
});

describe('Aurora, ECR, observability', () => {
  it('Aurora Serverless v2 is encrypted, private, TLS-only and reachable from the agent only', () => {
    const cluster = resource('aws_rds_cluster', 'state');
    expect(cluster).toMatchObject({ engine: 'aurora-postgresql', storage_encrypted: true });
    expect(cluster.serverlessv2_scaling_configuration).toBeDefined();
    expect(cluster.vpc_security_group_ids).toEqual(['${aws_security_group.db.id}']);
    expect(resource('aws_rds_cluster_instance', 'state')).toMatchObject({ instance_class: 'db.serverless', publicly_accessible: false });
    expect(arr(resource('aws_rds_cluster_parameter_group', 'state').parameter)).toContainEqual({ name: 'rds.force_ssl', value: '1' });
    const ingress = [...blocksOf(tf, 'resource', 'aws_vpc_security_group_ingress_rule').values()];
    expect(ingress.filter((r) => r.security_group_id === '${aws_security_group.db.id}')).toEqual([
      expect.objectContaining({ referenced_security_group_id: '${aws_security_group.agent.id}', from_port: 5432, to_port: 5432 }),
    ]);
    expect(cluster.manage_master_user_password).toBe(true);
    expect(blocksOf(tf, 'resource', 'aws_secretsmanager_secret_version').size).toBe(0);
  });

  it('ECR scans on push and has a lifecycle policy', () => {
    expect(sub(resource('aws_ecr_repository', 'agent'), 'image_scanning_configuration').scan_on_push).toBe(true);
    expect(resource('aws_ecr_lifecycle_policy', 'agent').repository).toBe('${aws_ecr_repository.agent.name}');
  });

  it('alarms on session_failed / needs_attention log events and failed validations, to SNS', () => {
    const filters = [...blocksOf(tf, 'resource', 'aws_cloudwatch_log_metric_filter').values()];
    const patterns = filters.map((f) => String(f.pattern));
    expect(patterns).toEqual(expect.arrayContaining(['{ $.event = "session_failed" }', '{ $.to = "needs_attention" }']));
    for (const f of filters) expect(f.log_group_name).toBe('${aws_cloudwatch_log_group.agent.name}');
    const alarms = [...blocksOf(tf, 'resource', 'aws_cloudwatch_metric_alarm').values()];
    const metrics = filters.map((f) => sub(f, 'metric_transformation').name);
    for (const m of metrics)
      expect(
        alarms.some((a) => a.metric_name === m),
        `alarm on ${String(m)}`,
      ).toBe(true);
    const sfn = alarms.find((a) => a.namespace === 'AWS/States' && a.metric_name === 'ExecutionsFailed');
    expect(sfn?.dimensions).toEqual({ StateMachineArn: '${aws_sfn_state_machine.validate_session.arn}' });
    for (const a of alarms) expect(a.alarm_actions).toEqual(['${aws_sns_topic.alarms.arn}']);
  });

  it('has no leftover .tf files outside the root module', () => {
    expect(walk(PLATFORM, '.tf').every((f) => !f.slice(PLATFORM.length + 1).includes('/'))).toBe(true);
  });
});
