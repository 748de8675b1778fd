// An ECS (Fargate) service "web", the rollback-sidecar as its own one-task service beside it, and
// the alarm plumbing: CloudWatch alarm (web's 5xx) -> EventBridge rule -> API destination (API key
// connection) -> https://DOMAIN/api/v1/cloudwatch on the sidecar, which rolls "web" back to its
// previous task definition (aws-ecs actuator). Rules over Amazon Managed Service for Prometheus
// are signed with SigV4 (prometheus.sigv4).
import * as cdk from 'aws-cdk-lib';
import { Construct } from 'constructs';
import * as aps from 'aws-cdk-lib/aws-aps';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

export interface SidecarStackProps extends cdk.StackProps {
  sidecarImage: string;   // the rollback-sidecar image (docker/Dockerfile, target sidecar)
  appImage: string;       // the guarded service's image
  sidecarDomain: string;  // DNS name of the load balancer, for the API destination (https)
  certificateArn: string; // ACM certificate for sidecarDomain
}

const SIDECAR_PORT = 9107;
const ALARM_NAME = 'web-5xx';

// The sidecar's config; ${...} are filled by CloudFormation (cluster, service, workspace).
export function sidecarConfig(p: { region: string; workspaceUrl: string; cluster: string; service: string }): string {
  return `# rollback-sidecar config (docs/configuration.md, docs/aws.md)
prometheus:
  url: ${p.workspaceUrl}
  sigv4: {region: ${p.region}}
listen: 0.0.0.0:${SIDECAR_PORT}
deployment: {name: web, stage: prod, strategy: canary}
rules:
  - name: web-error-rate
    query: sum(rate(http_requests_total{service="web",code=~"5.."}[2m])) / sum(rate(http_requests_total{service="web"}[2m]))
    above: 0.05
    for: 2m
    action: rollback
actuators:
  - type: aws-ecs
    cluster: ${p.cluster}
    service: ${p.service}
    region: ${p.region}
    mode: previous-task-definition
api: {bearer_token_file: /run/sidecar/token}
cloudwatch:
  match: {alarm: '${ALARM_NAME}'}
  api_key_file: /run/sidecar/api-key
  api_key_header: X-Api-Key
state_file: /tmp/rollback-sidecar-state.json
`;
}

export class SidecarStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props: SidecarStackProps) {
    super(scope, id, props);

    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc });
    const lb = new elbv2.ApplicationLoadBalancer(this, 'Alb', { vpc, internetFacing: true });
    const https = lb.addListener('Https', {
      port: 443,
      certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)],
      defaultAction: elbv2.ListenerAction.fixedResponse(404),
    });

    // The guarded service.
    const webTask = new ecs.FargateTaskDefinition(this, 'WebTask', { cpu: 256, memoryLimitMiB: 512 });
    webTask.addContainer('web', {
      image: ecs.ContainerImage.fromRegistry(props.appImage),
      portMappings: [{ containerPort: 80 }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'web', logRetention: logs.RetentionDays.ONE_WEEK }),
    });
    const web = new ecs.FargateService(this, 'Web', { cluster, taskDefinition: webTask, desiredCount: 2 });
    const webTargets = https.addTargets('WebTargets', {
      port: 80,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [web],
      priority: 20,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/*'])],
    });

    // Metrics for the sidecar's rules: an AMP workspace, queried with SigV4 (service aps).
    const workspace = new aps.CfnWorkspace(this, 'Metrics', { alias: 'web-metrics' });
    const workspaceUrl = `https://aps-workspaces.${this.region}.amazonaws.com/workspaces/${workspace.attrWorkspaceId}`;

    // Secrets the sidecar reads from files: its bearer token and the API destination's key.
    const apiToken = new secretsmanager.Secret(this, 'SidecarApiToken', {
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });
    const apiKey = new secretsmanager.Secret(this, 'CloudWatchApiKey', {
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });

    // The sidecar: one task beside "web" (it must not be replaced by web's own rollback).
    const sidecarTask = new ecs.FargateTaskDefinition(this, 'SidecarTask', { cpu: 256, memoryLimitMiB: 512 });
    const config = sidecarConfig({
      region: this.region,
      workspaceUrl,
      cluster: cluster.clusterName,
      service: web.serviceName,
    });
    sidecarTask.addContainer('rollback-sidecar', {
      image: ecs.ContainerImage.fromRegistry(props.sidecarImage),
      // The config and the secrets arrive as environment variables and are written to files
      // (tmpfs-like task storage) before the sidecar starts.
      entryPoint: ['/bin/sh', '-c'],
      command: [
        'mkdir -p /run/sidecar && printf "%s" "$SIDECAR_CONFIG" > /run/sidecar/config.yml && ' +
          'printf "%s" "$SIDECAR_API_TOKEN" > /run/sidecar/token && printf "%s" "$CLOUDWATCH_API_KEY" > /run/sidecar/api-key && ' +
          'unset SIDECAR_API_TOKEN CLOUDWATCH_API_KEY && exec /usr/local/bin/rollback-sidecar --config /run/sidecar/config.yml',
      ],
      environment: { SIDECAR_CONFIG: config },
      secrets: {
        SIDECAR_API_TOKEN: ecs.Secret.fromSecretsManager(apiToken),
        CLOUDWATCH_API_KEY: ecs.Secret.fromSecretsManager(apiKey),
      },
      user: '0',  // writes /run/sidecar; drop to a dedicated user in production images
      portMappings: [{ containerPort: SIDECAR_PORT }],
      healthCheck: {
        command: ['CMD-SHELL', `curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:${SIDECAR_PORT}/healthz || exit 1`],
      },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'rollback-sidecar', logRetention: logs.RetentionDays.ONE_MONTH }),
    });
    const sidecar = new ecs.FargateService(this, 'Sidecar', { cluster, taskDefinition: sidecarTask, desiredCount: 1 });
    https.addTargets('SidecarApi', {
      port: SIDECAR_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [sidecar],
      priority: 10,
      conditions: [elbv2.ListenerCondition.pathPatterns(['/api/v1/cloudwatch'])],
      healthCheck: { path: '/healthz' },
    });

    // IAM for the actuator (docs/aws.md, aws-ecs) and for the SigV4-signed queries.
    const role = sidecarTask.taskRole;
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
      resources: [web.serviceArn],
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [webTask.taskRole.roleArn, webTask.obtainExecutionRole().roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['aps:QueryMetrics'],
      resources: [workspace.attrArn],
    }));

    // The alarm plumbing: alarm -> EventBridge rule -> API destination -> the sidecar.
    const alarm = new cloudwatch.Alarm(this, 'Web5xx', {
      alarmName: ALARM_NAME,
      metric: webTargets.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: cdk.Duration.minutes(1) }),
      threshold: 20,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const connection = new events.Connection(this, 'SidecarConnection', {
      authorization: events.Authorization.apiKey('X-Api-Key', apiKey.secretValue),
      description: 'rollback-sidecar POST /api/v1/cloudwatch',
    });
    const destination = new events.ApiDestination(this, 'SidecarDestination', {
      connection,
      endpoint: `https://${props.sidecarDomain}/api/v1/cloudwatch`,
      httpMethod: events.HttpMethod.POST,
      rateLimitPerSecond: 10,
    });
    new events.Rule(this, 'AlarmToSidecar', {
      description: 'CloudWatch alarm state changes of web -> rollback-sidecar',
      eventPattern: {
        source: ['aws.cloudwatch'],
        detailType: ['CloudWatch Alarm State Change'],
        resources: [alarm.alarmArn],
      },
      targets: [new targets.ApiDestination(destination, { retryAttempts: 10, maxEventAge: cdk.Duration.hours(1) })],
    });

    new cdk.CfnOutput(this, 'SidecarEndpoint', { value: `https://${props.sidecarDomain}/api/v1/cloudwatch` });
    new cdk.CfnOutput(this, 'LoadBalancerDns', { value: lb.loadBalancerDnsName });
  }
}
