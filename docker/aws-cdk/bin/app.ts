#!/usr/bin/env node
// The rollback-sidecar beside an ECS service: `cdk synth` / `cdk deploy` (see README.md).
import * as cdk from 'aws-cdk-lib';
import { SidecarStack } from '../lib/sidecar-stack';

const app = new cdk.App();
const ctx = (key: string): string => {
  const value = app.node.tryGetContext(key);
  if (typeof value !== 'string' || value === '') throw new Error(`context ${key} is required (cdk.json or -c ${key}=...)`);
  return value;
};
new SidecarStack(app, 'RollbackSidecarExample', {
  sidecarImage: ctx('sidecarImage'),
  appImage: ctx('appImage'),
  sidecarDomain: ctx('sidecarDomain'),
  certificateArn: ctx('certificateArn'),
  // The region comes from context (cdk.json, -c region=...): the CLI's default would be us-east-1.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: ctx('region') },
});
