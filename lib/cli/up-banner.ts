/**
 * What `mlops up` prints once the platform is ready: every URL once, grouped the way a console
 * groups them — the gateway and the protocols behind it (Seldon v1, OIP v2, MLflow, Feast), then
 * the AWS endpoints, the Athena work group and database, and where state and logs are.
 *
 * The first line keeps the words "local platform ready": bench/local and tests wait for them.
 */
import { catalogFromAssembly } from '../local/athena';
import type { LocalPlatform } from '../local/platform';

/** Phase timings of one start (see `UpTimings` in up.ts). */
export interface BannerTimings {
  readonly synthMs: number;
  readonly enginesMs: number;
  readonly startupMs: number;
  readonly readyMs: number;
}

/** The gateway's template routes, labelled by the protocol their path belongs to. */
const PROTOCOLS: readonly (readonly [RegExp, string])[] = [
  [/^\/(ajax-)?api\/2\.0\/mlflow\//, 'MLflow'],
  [/^\/(get-online-features|push|write-to-online-store|materialize|api\/v1\/)/, 'Feast'],
  [/^\/health$/, 'health'],
];

const LABEL_WIDTH = 16;
const row = (label: string, value: string) => `${label.padEnd(LABEL_WIDTH)}${value}`;
const sub = (label: string, value: string) => row(`  ${label}`, value);

export function upBanner(platform: LocalPlatform, t: BannerTimings, logFile: string): string {
  const url = platform.gatewayUrl;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const lines: string[] = [
    '',
    `mlops-kit local platform ready in ${s(t.readyMs)} (synthesis ${s(t.synthMs)}, engines ${s(t.enginesMs)}, start-up ${s(t.startupMs)})`,
    '',
    ...(platform.consoleUrl ? [row('console', platform.consoleUrl)] : []),
    row('gateway', url),
  ];

  const deployments = platform.serving.deployments;
  const served = (d: (typeof deployments)[number]) => `  (${d.modelName} v${d.version})`;
  if (deployments.length === 0) {
    lines.push(sub('Seldon v1', `POST ${url}/seldon/<namespace>/<deployment>/api/v1.0/predictions  (no model served yet)`));
    lines.push(sub('OIP v2', `POST ${url}/v2/models/<model>/infer  (no model served yet)`));
    lines.push(sub('metrics', `GET  ${url}/seldon/<namespace>/<deployment>/metrics  (no model served yet)`));
  } else {
    deployments.forEach((d, i) =>
      lines.push(
        sub(i === 0 ? 'Seldon v1' : '', `POST ${url}/seldon/${d.namespace}/${d.deployment}/api/v1.0/predictions${served(d)}`),
      ),
    );
    deployments.forEach((d, i) => {
      const model = `${url}/v2/models/${encodeURIComponent(d.modelName)}`;
      lines.push(sub(i === 0 ? 'OIP v2' : '', `POST ${model}/infer${served(d)}`));
      lines.push(sub('', `GET  ${model}/ready  ·  GET ${model}  (metadata)`));
    });
    // Prometheus text: per-version mlops_model_* series (what CloudWatch gets on EKS).
    deployments.forEach((d, i) =>
      lines.push(sub(i === 0 ? 'metrics' : '', `GET  ${url}/seldon/${d.namespace}/${d.deployment}/metrics${served(d)}`)),
    );
  }

  const groups = new Map<string, string[]>();
  for (const r of platform.routes) {
    const label = PROTOCOLS.find(([re]) => re.test(r.resourcePath))?.[1] ?? 'API';
    const line = `${r.method.padEnd(4)} ${url}${r.resourcePath}`;
    const group = groups.get(label) ?? [];
    if (!group.includes(line)) group.push(line);
    groups.set(label, group);
  }
  for (const [label, group] of groups) group.forEach((line, i) => lines.push(sub(i === 0 ? label : '', line)));

  const { workGroups, databases } = catalogFromAssembly(platform.stage);
  lines.push(
    row('AWS endpoint', `${platform.info.awsEndpoint}  (Step Functions, Athena, EventBridge, Lambda: --endpoint-url)`),
    row('S3', platform.info.s3Endpoint),
    row('DynamoDB', platform.info.dynamodbEndpoint),
    row(
      'Athena',
      `work group ${workGroups.map((w) => w.name).join(', ') || 'none'}, database ${databases.join(', ') || 'none'}`,
    ),
    row('state dir', platform.stateDir),
    row('log file', `${logFile}  (function and bundler output; --verbose shows it here)`),
  );

  const machines = platform.sfn.machines.map((m) => m.name);
  machines.forEach((m, i) => lines.push(row(i === 0 ? 'state machines' : '', `${m}${i === 0 ? '  (npx mlops run <name>)' : ''}`)));
  lines.push('', 'Ctrl-C stops the platform; its state stays in the state dir (npx mlops reset clears it).', '');
  return lines.join('\n');
}
