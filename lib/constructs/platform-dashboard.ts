/**
 * One CloudWatch dashboard for a whole environment. Its body is rendered at synthesis by walking
 * the stage, so a function, state machine, API or table added by any stack appears without being
 * named here: the prediction API per route (requests, 4xx, 5xx, p50/p90/p99), the other APIs,
 * every Lambda function (errors, throttles, p99 duration, concurrency), every state machine
 * (started, succeeded, failed, timed out, duration), DynamoDB (throttles, consumed capacity), the
 * EKS cluster (Container Insights), the NLB's healthy/unhealthy hosts, and the drift, model-quality
 * and serving metrics of `lib/shared/operations.ts` (one line per model, found by search).
 *
 * @example
 * new PlatformDashboard(operationsStack, 'Dashboard', { stage, environmentName: 'staging' });
 */
import { CfnResource, Duration, Lazy, Stack, type Stage } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { DRIFT_METRICS, METRIC_NAMESPACES, QUALITY_METRICS, SERVING_METRICS } from '../shared/operations';

export interface PlatformDashboardProps {
  /** The stage whose resources the dashboard shows. */
  readonly stage: Stage;
  readonly environmentName: string;
  /**
   * The prediction API's routes (one widget row each).
   * @default - none
   */
  readonly predictionRoutes?: readonly string[];
  /**
   * Period of the graphs.
   * @default Duration.minutes(5)
   */
  readonly period?: Duration;
}

const WIDTH = 8;
const HEIGHT = 6;

export class PlatformDashboard extends Construct {
  readonly dashboard: cloudwatch.CfnDashboard;
  private readonly period: Duration;

  constructor(scope: Construct, id: string, private readonly props: PlatformDashboardProps) {
    super(scope, id);
    this.period = props.period ?? Duration.minutes(5);
    this.dashboard = new cloudwatch.CfnDashboard(this, 'Resource', {
      dashboardName: `mlops-kit-${props.environmentName}`,
      // Rendered when the template is: every stack of the stage is complete by then.
      dashboardBody: Lazy.string({ produce: () => this.render() }),
    });
  }

  /** The widgets, in sections, for what the stage holds at synthesis. */
  widgets(): cloudwatch.IWidget[][] {
    const all = this.props.stage.node.findAll().filter(CfnResource.isCfnResource);
    const of = (type: string) => all.filter((r) => r.cfnResourceType === type && !isOperational(r));
    const m = (namespace: string, metricName: string, dimensionsMap: Record<string, string>, statistic = 'Sum', label?: string) =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap, statistic, period: this.period, ...(label ? { label } : {}) });
    const graph = (title: string, left: cloudwatch.IMetric[], right: cloudwatch.IMetric[] = []) =>
      new cloudwatch.GraphWidget({ title, left, right, width: WIDTH, height: HEIGHT });
    const sections: cloudwatch.IWidget[][] = [];
    const section = (title: string, widgets: cloudwatch.IWidget[]) => {
      if (widgets.length === 0) return;
      sections.push([new cloudwatch.TextWidget({ markdown: `## ${title}`, width: 24, height: 1 }), ...widgets]);
    };

    // APIs: one row per API stage; the prediction API also per route (resource + method dimensions).
    const apiWidgets = of('AWS::ApiGateway::Stage').flatMap((cfn) => {
      const stage = cfn.node.scope;
      if (!(stage instanceof apigw.Stage)) return [];
      const dims = { ApiName: stage.restApi.restApiName, Stage: stage.stageName };
      // One API per stack (Registry, FeatureStore, Serving): the stack names it.
      const name = `${Stack.of(stage).node.id} API`;
      const rows = [
        graph(`${name}: requests, 4xx, 5xx`, [m('AWS/ApiGateway', 'Count', dims, 'Sum', 'requests')], [
          m('AWS/ApiGateway', '4XXError', dims, 'Sum', '4xx'),
          m('AWS/ApiGateway', '5XXError', dims, 'Sum', '5xx'),
        ]),
        graph(`${name}: latency`, ['p50', 'p90', 'p99'].map((p) => m('AWS/ApiGateway', 'Latency', dims, p, p))),
      ];
      if (stage.node.path.includes('/Predictions/')) {
        // Per-method metrics (the stage's metricsEnabled): every prediction route is an ANY method.
        for (const route of this.props.predictionRoutes ?? []) {
          const routeDims = { ...dims, Resource: route, Method: 'ANY' };
          rows.push(
            graph(`ANY ${route}`, [m('AWS/ApiGateway', 'Count', routeDims, 'Sum', 'requests')], [
              m('AWS/ApiGateway', '4XXError', routeDims, 'Sum', '4xx'),
              m('AWS/ApiGateway', '5XXError', routeDims, 'Sum', '5xx'),
            ]),
            graph(`ANY ${route}: latency`, ['p50', 'p90', 'p99'].map((p) => m('AWS/ApiGateway', 'Latency', routeDims, p, p))),
          );
        }
      }
      return rows;
    });
    section('APIs', apiWidgets);

    section(
      'Serving, drift and model quality (per model)',
      [
        graph('Requests and errors per model version', [search(METRIC_NAMESPACES.serving, ['Model', 'ModelVersion'], SERVING_METRICS.requests, 'Sum', this.period)], [
          search(METRIC_NAMESPACES.serving, ['Model', 'ModelVersion'], SERVING_METRICS.errors, 'Sum', this.period),
        ]),
        graph('p99 latency per model version', [search(METRIC_NAMESPACES.serving, ['Model', 'ModelVersion'], SERVING_METRICS.latencyP99, 'Maximum', this.period)]),
        graph('Dataset drift (share of drifted features)', [search(METRIC_NAMESPACES.drift, ['Model'], DRIFT_METRICS.driftShare, 'Maximum', this.period)], [
          search(METRIC_NAMESPACES.drift, ['Model'], DRIFT_METRICS.datasetDrift, 'Maximum', this.period),
        ]),
        graph('Prediction drift and window rows', [search(METRIC_NAMESPACES.drift, ['Model'], DRIFT_METRICS.predictionDrift, 'Maximum', this.period)], [
          search(METRIC_NAMESPACES.drift, ['Model'], DRIFT_METRICS.windowRows, 'Sum', this.period),
        ]),
        graph('Feature drift scores', [search(METRIC_NAMESPACES.drift, ['Model', 'Feature'], DRIFT_METRICS.featureScore, 'Maximum', this.period)]),
        graph('Model quality: RMSE and MAE', [
          search(METRIC_NAMESPACES.quality, ['Model', 'ModelVersion'], QUALITY_METRICS.rmse, 'Average', this.period),
          search(METRIC_NAMESPACES.quality, ['Model', 'ModelVersion'], QUALITY_METRICS.mae, 'Average', this.period),
        ], [search(METRIC_NAMESPACES.quality, ['Model', 'ModelVersion'], QUALITY_METRICS.r2, 'Average', this.period)]),
        graph('Labeled predictions', [search(METRIC_NAMESPACES.quality, ['Model', 'ModelVersion'], QUALITY_METRICS.labeled, 'Sum', this.period)]),
      ],
    );

    section(
      'Lambda functions',
      of('AWS::Lambda::Function').flatMap((fn) => {
        const dims = { FunctionName: fn.ref };
        const name = readableName(fn);
        return [
          graph(`${name}: errors, throttles`, [m('AWS/Lambda', 'Errors', dims, 'Sum', 'errors'), m('AWS/Lambda', 'Throttles', dims, 'Sum', 'throttles')]),
          graph(`${name}: duration p99, concurrency`, [m('AWS/Lambda', 'Duration', dims, 'p99', 'duration p99')], [
            m('AWS/Lambda', 'ConcurrentExecutions', dims, 'Maximum', 'concurrent'),
          ]),
        ];
      }),
    );

    section(
      'State machines',
      of('AWS::StepFunctions::StateMachine').flatMap((machine) => {
        const dims = { StateMachineArn: machine.ref };
        const name = readableName(machine);
        return [
          graph(`${name}: executions`, ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut'].map((n) =>
            m('AWS/States', n, dims, 'Sum', n.replace('Executions', '').toLowerCase()),
          )),
          graph(`${name}: duration`, [m('AWS/States', 'ExecutionTime', dims, 'p99', 'p99'), m('AWS/States', 'ExecutionTime', dims, 'Average', 'average')]),
        ];
      }),
    );

    section(
      'DynamoDB',
      of('AWS::DynamoDB::Table').flatMap((table) => {
        const dims = { TableName: table.ref };
        const name = readableName(table);
        return [
          graph(`${name}: throttles`, [m('AWS/DynamoDB', 'ReadThrottleEvents', dims, 'Sum', 'read'), m('AWS/DynamoDB', 'WriteThrottleEvents', dims, 'Sum', 'write')]),
          graph(`${name}: consumed capacity`, [
            m('AWS/DynamoDB', 'ConsumedReadCapacityUnits', dims, 'Sum', 'read'),
            m('AWS/DynamoDB', 'ConsumedWriteCapacityUnits', dims, 'Sum', 'write'),
          ]),
        ];
      }),
    );

    const clusters = of('Custom::AWSCDK-EKS-Cluster').concat(of('AWS::EKS::Cluster'));
    section(
      'EKS (Container Insights)',
      clusters.flatMap((cluster) => {
        const dims = { ClusterName: cluster.ref };
        return [
          graph('Nodes: CPU and memory', [m('ContainerInsights', 'node_cpu_utilization', dims, 'Average', 'cpu %'), m('ContainerInsights', 'node_memory_utilization', dims, 'Average', 'memory %')], [
            m('ContainerInsights', 'cluster_node_count', dims, 'Average', 'nodes'),
            m('ContainerInsights', 'cluster_failed_node_count', dims, 'Maximum', 'failed nodes'),
          ]),
          graph('Pods: CPU, memory, restarts', [m('ContainerInsights', 'pod_cpu_utilization', dims, 'Average', 'cpu %'), m('ContainerInsights', 'pod_memory_utilization', dims, 'Average', 'memory %')], [
            m('ContainerInsights', 'pod_number_of_container_restarts', dims, 'Sum', 'restarts'),
          ]),
        ];
      }),
    );

    section(
      'Load balancers',
      of('AWS::ElasticLoadBalancingV2::TargetGroup').flatMap((cfn) => {
        const group = cfn.node.scope;
        if (!(group instanceof elbv2.NetworkTargetGroup)) return [];
        return [graph(`${group.node.id}: hosts`, [group.metrics.healthyHostCount({ label: 'healthy' }), group.metrics.unHealthyHostCount({ label: 'unhealthy' })])];
      }),
    );
    return sections;
  }

  private render(): string {
    const rows = this.widgets().map((widgets) => new cloudwatch.Row(...widgets));
    const column = new cloudwatch.Column(...rows);
    column.position(0, 0);
    return Stack.of(this).toJsonString({ widgets: column.toJson() });
  }
}

/** The kit's own operational resources (default alarms, dead-letter queues) are not graphed. */
function isOperational(r: CfnResource): boolean {
  return r.node.path.includes('/DeadLetters/');
}

/** A resource's name for a widget title: its construct id, or its owner's when it is a `Resource`. */
function readableName(r: CfnResource): string {
  const id = r.node.id === 'Resource' ? r.node.scope!.node.id : r.node.id;
  return `${Stack.of(r).node.id}/${id}`;
}

/** Every series of `metricName` in `namespace` with exactly these dimensions (one line per model, version, feature). */
function search(namespace: string, dimensions: string[], metricName: string, statistic: string, period: Duration): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${namespace},${dimensions.join(',')}} MetricName="${metricName}"', '${statistic}', ${period.toSeconds()})`,
    usingMetrics: {},
    label: '',
    period,
  });
}
