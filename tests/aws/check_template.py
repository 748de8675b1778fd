#!/usr/bin/python3
"""Checks the CDK example's synthesized template: the sidecar image and its config, the IAM
actions the actuator and SigV4 queries need, and the alarm -> EventBridge rule -> API destination
plumbing. Writes the sidecar's config (CloudFormation references replaced by sample values) to
CONFIG_OUT for `rollback-sidecar check`.
    check_template.py TEMPLATE CONFIG_OUT"""
import json
import sys

template_path, config_out = sys.argv[1], sys.argv[2]
t = json.load(open(template_path))
resources = t["Resources"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def of_type(kind):
    return {k: v for k, v in resources.items() if v["Type"] == kind}


SAMPLE = {"Ref": "sample", "Fn::GetAtt": "sample", "AWS::Region": "eu-west-1"}


def render(value):
    """A CloudFormation string expression with sample values for what is known only at deploy."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(render(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        return {"AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"}.get(ref, "sample-" + ref.lower())
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "sample-" + "-".join(value["Fn::GetAtt"]).lower()
    raise SystemExit("cannot render %r" % (value,))


# The sidecar container: its image and its config.
containers = [c for td in of_type("AWS::ECS::TaskDefinition").values() for c in td["Properties"]["ContainerDefinitions"]]
sidecar = [c for c in containers if c["Name"] == "rollback-sidecar"]
check(len(sidecar) == 1, "one container named rollback-sidecar")
config = ""
if sidecar:
    c = sidecar[0]
    check(c["Image"] == "ghcr.io/example/rollback-sidecar:0.1.0", "the sidecar image (got %r)" % c.get("Image"))
    env = {e["Name"]: e["Value"] for e in c.get("Environment", [])}
    check("SIDECAR_CONFIG" in env, "SIDECAR_CONFIG in the sidecar's environment")
    if "SIDECAR_CONFIG" in env:
        config = render(env["SIDECAR_CONFIG"])
    for needed in ("cloudwatch:", "match: {alarm: 'web-5xx'}", "type: aws-ecs", "sigv4: {region: eu-west-1}",
                   "aps-workspaces.eu-west-1.amazonaws.com/workspaces/"):
        check(needed in config, "the sidecar config contains %r" % needed)
    secrets = {s["Name"] for s in c.get("Secrets", [])}
    check({"SIDECAR_API_TOKEN", "CLOUDWATCH_API_KEY"} <= secrets, "token and API key as ECS secrets (got %s)" % secrets)
    check("rollback-sidecar --config /run/sidecar/config.yml" in " ".join(c.get("Command", [])), "the sidecar's command")

# IAM: the aws-ecs actuator and the SigV4-signed AMP queries.
actions = set()
for policy in of_type("AWS::IAM::Policy").values():
    for st in policy["Properties"]["PolicyDocument"]["Statement"]:
        a = st["Action"]
        actions.update(a if isinstance(a, list) else [a])
for needed in ("ecs:DescribeServices", "ecs:UpdateService", "iam:PassRole", "aps:QueryMetrics"):
    check(needed in actions, "IAM action " + needed)

# Alarm -> EventBridge rule -> API destination (API key connection) -> /api/v1/cloudwatch.
alarms = of_type("AWS::CloudWatch::Alarm")
check(any(a["Properties"].get("AlarmName") == "web-5xx" for a in alarms.values()), "a CloudWatch alarm named web-5xx")
rules = of_type("AWS::Events::Rule")
check(len(rules) == 1, "one EventBridge rule")
destinations = of_type("AWS::Events::ApiDestination")
check(len(destinations) == 1, "one API destination")
for rule in rules.values():
    pattern = rule["Properties"]["EventPattern"]
    check(pattern.get("source") == ["aws.cloudwatch"], "rule source aws.cloudwatch")
    check(pattern.get("detail-type") == ["CloudWatch Alarm State Change"], "rule detail-type")
    check(list(alarms)[0] in json.dumps(pattern.get("resources")), "rule matches the alarm's ARN")
    targets = rule["Properties"]["Targets"]
    check(any(list(destinations)[0] in json.dumps(tg["Arn"]) for tg in targets), "rule targets the API destination")
for d in destinations.values():
    check(d["Properties"]["InvocationEndpoint"].endswith("/api/v1/cloudwatch"), "API destination endpoint /api/v1/cloudwatch")
    check(d["Properties"]["HttpMethod"] == "POST", "API destination POST")
connections = of_type("AWS::Events::Connection")
check(any(c["Properties"]["AuthorizationType"] == "API_KEY" and
          c["Properties"]["AuthParameters"]["ApiKeyAuthParameters"]["ApiKeyName"] == "X-Api-Key"
          for c in connections.values()), "an API_KEY connection sending X-Api-Key")

if failures:
    for f in failures:
        print("FAIL: template lacks " + f, file=sys.stderr)
    sys.exit(1)
with open(config_out, "w") as f:
    f.write(config)
print("template ok: %d resources" % len(resources))
