"""The state the AWS actuator tests and the awscli proof start from (tests/fakes/aws/fake_aws.py)."""
import json
import time

A = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
LISTENER = A + "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
RULE = A + "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
TG_STABLE = A + "targetgroup/web-stable/6d0ecf831eec9f09"
TG_CANARY = A + "targetgroup/web-canary/73e2d6bc24d8a067"
TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:"
KEY_ID, SECRET = "AKIDFAKEEXAMPLE00001", "fake/secret/key/0001"


def state():
    t = time.time()
    return {
        "aliases": {"checkout:live": {
            "AliasArn": "arn:aws:lambda:eu-west-1:123456789012:function:checkout:live", "Name": "live",
            "FunctionVersion": "1", "Description": "checkout live",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}, "RevisionId": "rev-0001"}},
        "versions": {"checkout": ["$LATEST", "1", "2", "3"]},
        "target_groups": [TG_STABLE, TG_CANARY],
        "listeners": {LISTENER: {
            "ListenerArn": LISTENER, "LoadBalancerArn": A + "loadbalancer/app/web/50dc6c495c0c9188", "Port": 443,
            "Protocol": "HTTPS", "SslPolicy": "ELBSecurityPolicy-2016-08",
            "DefaultActions": [
                {"Type": "authenticate-oidc", "Order": 1, "AuthenticateOidcConfig": {
                    "Issuer": "https://idp.example", "AuthorizationEndpoint": "https://idp.example/auth",
                    "TokenEndpoint": "https://idp.example/token", "UserInfoEndpoint": "https://idp.example/user",
                    "ClientId": "web", "SessionTimeout": 604800,
                    "AuthenticationRequestExtraParams": {"display": "page", "prompt": "login"}}},
                {"Type": "forward", "Order": 2, "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": TG_STABLE, "Weight": 80},
                                     {"TargetGroupArn": TG_CANARY, "Weight": 20}],
                    "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 3600}}}]}},
        "rules": {RULE: {
            "RuleArn": RULE, "Priority": "10", "IsDefault": False,
            "Conditions": [{"Field": "path-pattern", "Values": ["/api/*"]}],
            "Actions": [{"Type": "forward", "Order": 1, "TargetGroupArn": TG_CANARY,
                         "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG_CANARY, "Weight": 1}],
                                           "TargetGroupStickinessConfig": {"Enabled": False}}}]}},
        "deployment_groups": {"shop/prod": {"lastSuccessfulDeployment": "d-GOOD00001"}, "shop/first": {}},
        "deployments": {
            "d-GOOD00001": {"deploymentId": "d-GOOD00001", "applicationName": "shop", "deploymentGroupName": "prod",
                            "status": "Succeeded", "creator": "user", "createTime": t - 86400},
            "d-BAD000001": {"deploymentId": "d-BAD000001", "applicationName": "shop", "deploymentGroupName": "prod",
                            "status": "InProgress", "creator": "user", "createTime": t - 60},
            "d-FIRST0001": {"deploymentId": "d-FIRST0001", "applicationName": "shop", "deploymentGroupName": "first",
                            "status": "InProgress", "creator": "user", "createTime": t - 60}},
        "task_definitions": [TD + "6", TD + "7"],
        "services": {
            "prod/web": {
                "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/web", "serviceName": "web",
                "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod", "status": "ACTIVE",
                "desiredCount": 2, "runningCount": 2, "taskDefinition": TD + "7",
                "deploymentController": {"type": "ECS"},
                "deployments": [
                    {"id": "ecs-svc/0000000000000000002", "status": "PRIMARY", "taskDefinition": TD + "7",
                     "desiredCount": 2, "rolloutState": "IN_PROGRESS", "createdAt": t - 60},
                    {"id": "ecs-svc/0000000000000000001", "status": "ACTIVE", "taskDefinition": TD + "6",
                     "desiredCount": 2, "rolloutState": "COMPLETED", "createdAt": t - 86400}]},
            "prod/blue-green": {
                "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/blue-green",
                "serviceName": "blue-green", "status": "ACTIVE", "desiredCount": 2, "taskDefinition": TD + "7",
                "deploymentController": {"type": "CODE_DEPLOY"},
                "deployments": [{"id": "ecs-svc/0000000000000000009", "status": "PRIMARY",
                                 "taskDefinition": TD + "7", "desiredCount": 2}]}},
    }


if __name__ == "__main__":
    print(json.dumps({"state": state(), "keys": {KEY_ID: SECRET}}))
