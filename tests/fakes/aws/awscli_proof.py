#!/usr/bin/python3
"""Proves tests/fakes/aws/fake_aws.py faithful: Debian's real awscli (/usr/bin/aws) makes every call
the AWS actuators and the credential chain's profiles (STS AssumeRole, SSO GetRoleCredentials)
make against it and gets answers it accepts, and the fake refuses what AWS refuses
(bad signature, wrong region / service in the scope, clock skew, unknown and missing members).
Exit 0 when every check passes; prints one line per check."""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import seed  # noqa: E402

AWS = "/usr/bin/aws"
failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + detail))
    if not ok:
        failures.append(name)


def main():
    tmp = tempfile.mkdtemp(prefix="fake-aws-proof-")
    ready = os.path.join(tmp, "ready.json")
    log = open(os.path.join(tmp, "fake.log"), "w")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_aws.py"), "--ready-file", ready],
                            stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(ready):
                break
            time.sleep(0.05)
        else:
            print("FAIL fake did not start: " + open(log.name).read())
            return 1
        port = json.load(open(ready))["port"]
        url = "http://127.0.0.1:%d" % port
        post(url + "/_fake/reset", {"state": seed.state(), "keys": {seed.KEY_ID: seed.SECRET}})
        env = dict(os.environ, AWS_ACCESS_KEY_ID=seed.KEY_ID, AWS_SECRET_ACCESS_KEY=seed.SECRET,
                   AWS_DEFAULT_REGION="eu-west-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
            env.pop(k, None)

        def aws(*args, expect_ok=True, environ=None):
            r = subprocess.run([AWS, "--endpoint-url", url, "--output", "json"] + list(args),
                               env=environ or env, capture_output=True, text=True, timeout=60)
            out = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else None
            return r.returncode, out, r.stderr

        # ---- lambda
        rc, out, err = aws("lambda", "get-alias", "--function-name", "checkout", "--name", "live")
        check("lambda get-alias", rc == 0 and out["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.25}, err)
        rev = out["RevisionId"] if out else ""
        rc, out, err = aws("lambda", "update-alias", "--function-name", "checkout", "--name", "live",
                           "--function-version", "1", "--routing-config", '{"AdditionalVersionWeights":{}}',
                           "--revision-id", rev)
        check("lambda update-alias (RevisionId, weights cleared)", rc == 0 and "RoutingConfig" not in out, err)
        rc, out, err = aws("lambda", "update-alias", "--function-name", "checkout", "--name", "live",
                           "--function-version", "1", "--revision-id", rev)
        check("lambda update-alias with a stale RevisionId -> PreconditionFailedException",
              rc != 0 and "PreconditionFailedException" in err, err)
        # ---- elbv2
        rc, out, err = aws("elbv2", "describe-listeners", "--listener-arns", seed.LISTENER)
        actions = out["Listeners"][0]["DefaultActions"] if rc == 0 else []
        check("elbv2 describe-listeners", rc == 0 and actions[1]["ForwardConfig"]["TargetGroups"][1]["Weight"] == 20
              and actions[0]["AuthenticateOidcConfig"]["AuthenticationRequestExtraParams"]["display"] == "page", err)
        if actions:
            actions[0]["AuthenticateOidcConfig"]["UseExistingClientSecret"] = True
            actions[1]["ForwardConfig"]["TargetGroups"] = [{"TargetGroupArn": seed.TG_STABLE, "Weight": 100},
                                                           {"TargetGroupArn": seed.TG_CANARY, "Weight": 0}]
        rc, out, err = aws("elbv2", "modify-listener", "--listener-arn", seed.LISTENER, "--default-actions",
                           json.dumps(actions))
        check("elbv2 modify-listener (whole action list, weights changed)",
              rc == 0 and out["Listeners"][0]["DefaultActions"][1]["ForwardConfig"]["TargetGroups"][1]["Weight"] == 0
              and out["Listeners"][0]["DefaultActions"][1]["ForwardConfig"]["TargetGroupStickinessConfig"]["Enabled"], err)
        rc, out, err = aws("elbv2", "describe-rules", "--rule-arns", seed.RULE)
        rule_actions = out["Rules"][0]["Actions"] if rc == 0 else []
        check("elbv2 describe-rules", rc == 0 and rule_actions[0]["TargetGroupArn"] == seed.TG_CANARY, err)
        rc, out, err = aws("elbv2", "modify-rule", "--rule-arn", seed.RULE, "--actions", json.dumps(
            [{"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": seed.TG_CANARY, "Weight": 0}, {"TargetGroupArn": seed.TG_STABLE, "Weight": 100}]}}]))
        check("elbv2 modify-rule", rc == 0 and len(out["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]) == 2, err)
        # ---- codedeploy
        rc, out, err = aws("deploy", "list-deployments", "--application-name", "shop", "--deployment-group-name", "prod",
                           "--include-only-statuses", "Created", "Queued", "InProgress", "Ready")
        check("deploy list-deployments", rc == 0 and out["deployments"] == ["d-BAD000001"], err)
        rc, out, err = aws("deploy", "stop-deployment", "--deployment-id", "d-BAD000001", "--auto-rollback-enabled")
        check("deploy stop-deployment --auto-rollback-enabled", rc == 0 and out["status"] == "Pending", err)
        rc, out, err = aws("deploy", "get-deployment", "--deployment-id", "d-BAD000001")
        check("deploy get-deployment (rollback not visible on the first poll)",
              rc == 0 and out["deploymentInfo"]["status"] == "Stopped"
              and "rollbackDeploymentId" not in out["deploymentInfo"]["rollbackInfo"], err)
        rc, out, err = aws("deploy", "get-deployment", "--deployment-id", "d-BAD000001")
        check("deploy get-deployment (rollbackInfo.rollbackDeploymentId)",
              rc == 0 and out["deploymentInfo"]["rollbackInfo"]["rollbackDeploymentId"].startswith("d-ROLLBACK")
              and isinstance(out["deploymentInfo"]["completeTime"], str), err)
        # ---- ecs
        rc, out, err = aws("ecs", "describe-services", "--cluster", "prod", "--services", "web")
        check("ecs describe-services", rc == 0 and out["services"][0]["deployments"][0]["status"] == "PRIMARY", err)
        rc, out, err = aws("ecs", "describe-services", "--cluster", "prod", "--services", "nope")
        check("ecs describe-services (missing service -> failures MISSING)",
              rc == 0 and out["failures"][0]["reason"] == "MISSING", err)
        rc, out, err = aws("ecs", "update-service", "--cluster", "prod", "--service", "web", "--task-definition", "web:6")
        check("ecs update-service", rc == 0 and out["service"]["deployments"][0]["taskDefinition"] == seed.TD + "6", err)
        rc, out, err = aws("ecs", "update-service", "--cluster", "prod", "--service", "blue-green",
                           "--task-definition", "web:6")
        check("ecs update-service on a CODE_DEPLOY service -> InvalidParameterException",
              rc != 0 and "InvalidParameterException" in err, err)

        # ---- sts AssumeRole (role_arn profiles) and sso GetRoleCredentials (SSO profiles)
        role = "arn:aws:iam::123456789012:role/deployer"
        sso_token = "aoaAAAAA-fake-sso-access-token"
        post(url + "/_fake/config", {"roles": {role: {}}, "sso_tokens": {sso_token: ["123456789012/Deployer"]}})
        rc, out, err = aws("sts", "assume-role", "--role-arn", role, "--role-session-name", "proof",
                           "--duration-seconds", "900")
        creds = out["Credentials"] if rc == 0 else {}
        check("sts assume-role (signed, Query protocol, XML reply)",
              rc == 0 and creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
              and out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/deployer/proof", err)
        if creds:
            temp = dict(env, AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                        AWS_SESSION_TOKEN=creds["SessionToken"])
            rc, _, err = aws("lambda", "get-alias", "--function-name", "checkout", "--name", "live", environ=temp)
            check("assumed-role credentials (with X-Amz-Security-Token) sign a call the fake accepts", rc == 0, err)
        rc, _, err = aws("sts", "assume-role", "--role-arn", "arn:aws:iam::123456789012:role/other",
                         "--role-session-name", "proof")
        check("sts assume-role of a role that does not trust the caller -> AccessDenied",
              rc != 0 and "AccessDenied" in err and "is not authorized to perform: sts:AssumeRole" in err, err)
        rc, _, err = aws("sts", "assume-role", "--role-arn", role, "--role-session-name", "proof",
                         environ=dict(env, AWS_SECRET_ACCESS_KEY="not-the-secret"))
        check("sts assume-role with a wrong secret -> SignatureDoesNotMatch", rc != 0 and "SignatureDoesNotMatch" in err,
              err)
        rc, out, err = aws("sso", "get-role-credentials", "--access-token", sso_token, "--account-id", "123456789012",
                           "--role-name", "Deployer")
        rc_creds = out["roleCredentials"] if rc == 0 else {}
        check("sso get-role-credentials (unsigned, x-amz-sso_bearer_token, REST-JSON, expiration in ms)",
              rc == 0 and rc_creds["accessKeyId"].startswith("ASIA") and isinstance(rc_creds["expiration"], int)
              and rc_creds["expiration"] > time.time() * 1000, err)
        rc, _, err = aws("sso", "get-role-credentials", "--access-token", "expired-token", "--account-id",
                         "123456789012", "--role-name", "Deployer")
        check("sso get-role-credentials with an unknown token -> UnauthorizedException",
              rc != 0 and "UnauthorizedException" in err, err)
        rc, _, err = aws("sso", "get-role-credentials", "--access-token", sso_token, "--account-id", "123456789012",
                         "--role-name", "Admin")
        check("sso get-role-credentials for a role not assigned -> ForbiddenException",
              rc != 0 and "ForbiddenException" in err, err)

        # ---- refusals, in AWS's terms
        bad = dict(env, AWS_SECRET_ACCESS_KEY="not-the-secret")
        rc, _, err = aws("lambda", "get-alias", "--function-name", "checkout", "--name", "live", environ=bad)
        check("wrong secret -> InvalidSignatureException (lambda)", rc != 0 and "InvalidSignatureException" in err, err)
        rc, _, err = aws("elbv2", "describe-listeners", "--listener-arns", seed.LISTENER, environ=bad)
        check("wrong secret -> SignatureDoesNotMatch (elbv2)", rc != 0 and "SignatureDoesNotMatch" in err, err)
        rc, _, err = aws("ecs", "describe-services", "--cluster", "prod", "--services", "web",
                         environ=dict(env, AWS_ACCESS_KEY_ID="AKIDUNKNOWN000000000"))
        check("unknown key -> UnrecognizedClientException", rc != 0 and "UnrecognizedClientException" in err, err)
        rc, _, err = aws("lambda", "get-alias", "--function-name", "checkout", "--name", "live",
                         environ=dict(env, AWS_DEFAULT_REGION="us-east-2"))
        check("wrong region in the scope -> refused", rc != 0 and "scoped to a valid region" in err, err)
        check_botocore(url)
    finally:
        proc.terminate()
        proc.wait(10)
    print("%d check(s) failed" % len(failures) if failures else "all checks passed")
    return 1 if failures else 0


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def check_botocore(url):
    """What awscli never sends: stale dates, a wrong service, unknown and missing members."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError

    creds = Credentials(seed.KEY_ID, seed.SECRET)

    def raw(service, target, body, when=None):
        req = AWSRequest("POST", url + "/", data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target})
        signer = SigV4Auth(creds, service, "eu-west-1")
        if when is None:
            signer.add_auth(req)
        else:
            # Sign as of `when` (botocore's add_auth uses the current time).
            req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
            req.headers["X-Amz-Date"] = req.context["timestamp"]
            cr = signer.canonical_request(req)
            sig = signer.signature(signer.string_to_sign(req, cr), req)
            req.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
                seed.KEY_ID, signer.credential_scope(req), signer.signed_headers(signer.headers_to_sign(req)), sig)
        prepared = req.prepare()
        r = urllib.request.Request(prepared.url, data=prepared.body, method="POST", headers=dict(prepared.headers))
        try:
            return 200, urllib.request.urlopen(r, timeout=10).read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    target = "CodeDeploy_20141006.GetDeployment"
    status, body = raw("codedeploy", target, {"deploymentId": "d-GOOD00001"})
    check("botocore-signed call accepted", status == 200, body)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
    status, body = raw("codedeploy", target, {"deploymentId": "d-GOOD00001"}, when=old)
    check("clock skew 6 min -> InvalidSignatureException Signature expired",
          status == 403 and "InvalidSignatureException" in body and "Signature expired" in body, body)
    near = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)
    status, body = raw("codedeploy", target, {"deploymentId": "d-GOOD00001"}, when=near)
    check("clock skew 4 min accepted", status == 200, body)
    status, body = raw("ecs", target, {"deploymentId": "d-GOOD00001"})
    check("wrong service in the scope -> InvalidSignatureException", status == 403 and "correct service" in body, body)

    for name, body, expect in [
            ("unknown member -> ValidationException", {"deploymentId": "d-GOOD00001", "bogus": 1}, "Unknown parameter"),
            ("missing required member -> ValidationException", {}, "Missing required parameter"),
            ("wrong type -> ValidationException", {"deploymentId": 7}, "Invalid type")]:
        status, text = raw("codedeploy", target, body)
        check(name, status == 400 and "ValidationException" in text and expect in text, text)

    role = "arn:aws:iam::123456789012:role/deployer"
    for name, form, expect in [
            ("sts AssumeRole unknown member -> ValidationError",
             "RoleArn=%s&RoleSessionName=proof&Bogus=1" % role, "Bogus"),
            ("sts AssumeRole missing RoleSessionName -> ValidationError", "RoleArn=%s" % role, "RoleSessionName"),
            ("sts AssumeRole DurationSeconds below the model's 900 -> ValidationError",
             "RoleArn=%s&RoleSessionName=proof&DurationSeconds=60" % role, "DurationSeconds")]:
        req = AWSRequest("POST", url + "/", data="Action=AssumeRole&Version=2011-06-15&" + form,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "sts", "eu-west-1").add_auth(req)
        prepared = req.prepare()
        try:
            urllib.request.urlopen(urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(
                prepared.body, str) else prepared.body, method="POST", headers=dict(prepared.headers)), timeout=10)
            check(name, False, "accepted")
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            check(name, e.code == 400 and "<Code>ValidationError</Code>" in text and expect in text
                  and "https://sts.amazonaws.com/doc/2011-06-15/" in text, text)

    req = AWSRequest("POST", url + "/", data="Action=ModifyListener&Version=2015-12-01&ListenerArn=%s"
                     "&DefaultActions.member.1.Type=forward&DefaultActions.member.1.Weight=3" % seed.LISTENER,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(creds, "elasticloadbalancing", "eu-west-1").add_auth(req)
    prepared = req.prepare()
    try:
        urllib.request.urlopen(urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(
            prepared.body, str) else prepared.body, method="POST", headers=dict(prepared.headers)), timeout=10)
        check("elbv2 unknown member -> ValidationError", False, "accepted")
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        check("elbv2 unknown member -> ValidationError", e.code == 400 and "<Code>ValidationError</Code>" in text
              and "DefaultActions.member.1.Weight" in text, text)


if __name__ == "__main__":
    sys.exit(main())
