#!/usr/bin/python3
"""A strict fake of the AWS APIs the rollback-sidecar's AWS actuators and credential chain call.

Run with Debian's /usr/bin/python3 (python3-botocore):
    fake_aws.py --ready-file F [--region eu-west-1]
It binds 127.0.0.1 on a free port and writes {"port": P, "pid": PID} to F once it serves.

Strict, in AWS's own terms:
- every signed call's SigV4 signature is recomputed with botocore's signer from the request as
  received (method, path, query, the signed headers, the body); mismatches, unknown keys, missing
  or wrong session tokens, expired temporary keys, a wrong region or service in the credential
  scope, and a clock skew over 5 minutes are refused with AWS's error codes for the protocol
  (InvalidSignatureException / SignatureDoesNotMatch, UnrecognizedClientException /
  InvalidClientTokenId, ExpiredTokenException / ExpiredToken, IncompleteSignature...);
- every request is decoded by the protocol's rules and validated against botocore's service model
  (unknown or missing required members, wrong types: ValidationException, or ValidationError for
  the Query protocol); JSON 1.1 needs the right Content-Type and X-Amz-Target;
- replies are the output shapes (JSON, or XML serialised from botocore's output shape).

Services: aps (Amazon Managed Service for Prometheus query API: GET/POST
/workspaces/WS/api/v1/query, signed for service "aps"; answers a Prometheus JSON vector with
config aps_value, default "42"; an unknown workspace (config aps_workspaces, default
["ws-fake"]) is ResourceNotFoundException 404), lambda (GetAlias, UpdateAlias), elbv2 (DescribeListeners, ModifyListener, DescribeRules,
ModifyRule), codedeploy (ListDeployments, GetDeployment, StopDeployment), ecs (DescribeServices,
UpdateService), sts (AssumeRole, signed: the caller's key must be known; AssumeRoleWithWebIdentity,
unsigned), sso (GetRoleCredentials: GET /federation/credentials, REST-JSON, unsigned, the access
token in the x-amz-sso_bearer_token header), ECS container credentials (GET /_ecs/creds), EC2
IMDSv2 (/latest/...).

Control (unsigned), JSON bodies:
  POST /_fake/reset     {"state": {...}, "keys": {AKID: SECRET}, "config": {...}}  replaces everything
  POST /_fake/faults    {"operation": OP, "error": CODE, "status": N, "message": M, "times": N}
                        or {"operation": "UpdateAlias", "race": {alias fields}} (another writer
                        changes the alias just before the call), {"operation": "StopDeployment",
                        "race": "stop"} (another sidecar stops the deployment first)
  GET  /_fake/state     the state;   GET /_fake/calls   every call: operation, status, code, key
config: web_identity_token, role_arn, container_token, cred_ttl_seconds (default 3600),
        rollback_delay_polls (GetDeployment calls before rollbackInfo shows, default 1),
        roles ({ROLE_ARN: {"external_id": X}}: the roles AssumeRole may assume, and the ExternalId
        each one's trust policy requires; absent: any role, no ExternalId),
        sso_tokens ({ACCESS_TOKEN: ["ACCOUNT/ROLE", ...]}: valid SSO access tokens and the
        account roles each may get credentials for)
"""
import argparse
import datetime
import hmac
import json
import os
import re
import secrets
import threading
import urllib.parse
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from botocore.validate import ParamValidator



class ExactSigV4Auth(SigV4Auth):
    """AWS checks exactly the headers a client lists in SignedHeaders; botocore's signer leaves
    user-agent (and expect, x-amzn-trace-id) out of what it signs itself, so a client that signs
    its User-Agent (libcurl signs every header it sends) would be refused by the stock signer."""

    def headers_to_sign(self, request):
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            if name.lower() not in header_map:
                header_map[name.lower()] = value
        return header_map


SESSION = botocore.session.get_session()
MODELS = {name: SESSION.get_service_model(name) for name in ("lambda", "elbv2", "codedeploy", "ecs", "sts", "sso")}
JSON_TARGETS = {MODELS[n].metadata["targetPrefix"]: n for n in ("codedeploy", "ecs")}
SKEW = datetime.timedelta(minutes=5)

LOCK = threading.RLock()
REGION = "eu-west-1"
ACCOUNT = "123456789012"
STATE = {}
KEYS = {}     # access key id -> {"secret", "token", "expires" (datetime or None), "arn" (the caller)}
CONFIG = {}
FAULTS = []
CALLS = []
COUNTER = [0]
IMDS_TOKENS = set()


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def reset(body):
    with LOCK:
        STATE.clear()
        STATE.update(body.get("state", {}))
        for k in ("aliases", "listeners", "rules", "target_groups", "deployments", "services", "task_definitions",
                  "deployment_groups"):
            STATE.setdefault(k, {} if k not in ("target_groups", "task_definitions") else [])
        KEYS.clear()
        for akid, secret in body.get("keys", {"AKIDFAKEEXAMPLE00001": "fake/secret/key/0001"}).items():
            KEYS[akid] = {"secret": secret, "token": "", "expires": None,
                          "arn": "arn:aws:iam::%s:user/sidecar" % ACCOUNT}
        CONFIG.clear()
        CONFIG.update({"cred_ttl_seconds": 3600, "rollback_delay_polls": 1})
        CONFIG.update(body.get("config", {}))
        FAULTS.clear()
        CALLS.clear()
        IMDS_TOKENS.clear()


def issue_credentials(ttl_seconds=None, arn=None):
    with LOCK:
        COUNTER[0] += 1
        akid = "ASIAFAKETEMP%08d" % COUNTER[0]
        secret = secrets.token_urlsafe(30)
        token = "FakeSessionToken" + secrets.token_urlsafe(40)
        ttl = int(CONFIG.get("cred_ttl_seconds", 3600)) if ttl_seconds is None else int(ttl_seconds)
        expires = now() + datetime.timedelta(seconds=ttl)
        KEYS[akid] = {"secret": secret, "token": token, "expires": expires,
                      "arn": arn or "arn:aws:sts::%s:assumed-role/fake/session" % ACCOUNT}
        return akid, secret, token, expires


# ---------------------------------------------------------------- protocol helpers

def scalar_from_text(shape, text, key):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            return int(text)
        if t in ("double", "float"):
            return float(text)
        if t == "boolean":
            if text not in ("true", "false"):
                raise ValueError
            return text == "true"
    except ValueError:
        raise AwsError("ValidationError", "Value '%s' at '%s' failed to satisfy constraint: must be a %s" % (text, key, t))
    return text


def decode_query(shape, params, prefix, used):
    """Query-protocol form parameters -> the input value, by the model's shape."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            key = (prefix + "." if prefix else "") + member.serialization.get("name", name)
            v = decode_query(member, params, key, used)
            if v is not None:
                out[name] = v
        return out if (out or not prefix) else None
    if t == "list":
        if params.get(prefix) == "":
            used.add(prefix)
            return []
        out, i = [], 1
        flat = shape.serialization.get("flattened")
        while True:
            key = "%s.%d" % (prefix, i) if flat else "%s.member.%d" % (prefix, i)
            if not any(p == key or p.startswith(key + ".") for p in params):
                break
            out.append(decode_query(shape.member, params, key, used))
            i += 1
        return out if out else None
    if t == "map":
        out, i = {}, 1
        while ("%s.entry.%d.key" % (prefix, i)) in params:
            k = "%s.entry.%d" % (prefix, i)
            used.add(k + ".key")
            out[params[k + ".key"]] = decode_query(shape.value, params, k + ".value", used)
            i += 1
        return out if out else None
    if prefix in params:
        used.add(prefix)
        return scalar_from_text(shape, params[prefix], prefix)
    return None


def to_xml(shape, value, name):
    t = shape.type_name
    if t == "structure":
        inner = "".join(to_xml(m, value[k], m.serialization.get("name", k))
                        for k, m in shape.members.items() if k in value and value[k] is not None)
        return "<%s>%s</%s>" % (name, inner, name)
    if t == "list":
        return "<%s>%s</%s>" % (name, "".join(to_xml(shape.member, v, "member") for v in value), name)
    if t == "map":
        entries = "".join("<entry><key>%s</key>%s</entry>" % (escape(k), to_xml(shape.value, v, "value"))
                          for k, v in value.items())
        return "<%s>%s</%s>" % (name, entries, name)
    if t == "boolean":
        return "<%s>%s</%s>" % (name, "true" if value else "false", name)
    return "<%s>%s</%s>" % (name, escape(str(value)), name)


def validate(operation, params, protocol):
    report = ParamValidator().validate(params, operation.input_shape)
    if report.has_errors():
        code = "ValidationError" if protocol == "query" else "ValidationException"
        raise AwsError(code, "1 validation error detected: " + report.generate_report().replace("\n", "; "))


# ---------------------------------------------------------------- the handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    # -- plumbing
    def send(self, status, body, content_type="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Date", formatdate(usegmt=True))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_for(self, protocol, err, service=None):
        if protocol == "query":
            body = ('<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>'
                    '<RequestId>%s</RequestId></ErrorResponse>') % (
                MODELS[service or "elbv2"].metadata["xmlNamespace"], escape(err.code), escape(err.message), uuid.uuid4())
            self.send(err.status, body, "text/xml")
        elif protocol == "rest-json":
            self.send(err.status, json.dumps({"Type": "User", "message": err.message}), "application/json",
                      {"x-amzn-ErrorType": err.code})
        else:
            self.send(err.status, json.dumps({"__type": err.code, "message": err.message}), "application/x-amz-json-1.1")

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path.startswith("/_fake/"):
                return self.control(path)
            if path.startswith("/_ecs/"):
                return self.container_credentials()
            if path.startswith("/latest/"):
                return self.imds(path)
            if path == "/federation/credentials":
                return self.sso()
        except Exception as e:  # a bug in the fake: say so loudly
            return self.send(500, json.dumps({"fake_error": repr(e)}))
        if re.match(r"^/workspaces/[^/]+/api/v1/query$", path):
            return self.aps(path)
        protocol = ("json" if self.headers.get("X-Amz-Target") else
                    "rest-json" if path.startswith("/2015-03-31/") else "query")
        service, op_name, params = None, "?", None
        try:
            protocol, service, operation, params = self.decode()
            op_name = operation.name
            if op_name == "AssumeRoleWithWebIdentity":  # the one unsigned STS call (the token is the proof)
                validate(operation, params, protocol)
                result = STS_HANDLERS[op_name](params)
                return self.reply(protocol, service, operation, result, op_name, "")
            akid = self.verify_signature(protocol, service)
            with LOCK:
                self.caller = KEYS[akid]["arn"]
            validate(operation, params, protocol)
            self.inject_fault(op_name, protocol, params)
            handler = HANDLERS.get(op_name) or (
                (lambda p: STS_HANDLERS[op_name](p, self.caller)) if op_name in STS_HANDLERS else None)
            if handler is None:
                raise AwsError("UnknownOperationException" if protocol != "query" else "InvalidAction",
                               "The fake does not implement " + op_name)
            with LOCK:
                result = handler(params)
            self.reply(protocol, service, operation, result, op_name, akid)
        except AwsError as e:
            with LOCK:
                CALLS.append({"operation": op_name, "status": e.status, "code": e.code,
                              "key": getattr(self, "akid", "")})
            self.send_error_for(protocol, e, service or getattr(self, "service_hint", None))

    def reply(self, protocol, service, operation, result, op_name, akid):
        with LOCK:
            CALLS.append({"operation": op_name, "status": 200, "code": "", "key": akid})
        if protocol == "query":
            model = MODELS[service]
            wrapper = operation.output_shape.serialization.get("resultWrapper", op_name + "Result")
            inner = to_xml(operation.output_shape, result, wrapper) if operation.output_shape else ""
            body = '<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>' % (
                op_name, model.metadata["xmlNamespace"], inner, uuid.uuid4(), op_name)
            return self.send(200, body, "text/xml")
        ctype = "application/json" if protocol == "rest-json" else "application/x-amz-json-1.1"
        self.send(200, json.dumps(result), ctype)

    # -- request decoding per protocol
    def decode(self):
        path = urllib.parse.urlsplit(self.path).path
        target = self.headers.get("X-Amz-Target")
        if target:
            prefix, _, name = target.partition(".")
            service = JSON_TARGETS.get(prefix)
            if not service:
                raise AwsError("UnknownOperationException", "Unknown target prefix " + prefix)
            if self.command != "POST" or path != "/":
                raise AwsError("UnknownOperationException", "JSON 1.1 calls are POST /")
            if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/x-amz-json-1.1":
                raise AwsError("SerializationException", "Content-Type must be application/x-amz-json-1.1")
            model = MODELS[service]
            if name not in model.operation_names:
                raise AwsError("UnknownOperationException", "Unknown operation " + target)
            try:
                params = json.loads(self.body or b"{}")
            except ValueError:
                raise AwsError("SerializationException", "body is not JSON")
            if not isinstance(params, dict):
                raise AwsError("SerializationException", "body is not a JSON object")
            return "json", service, model.operation_model(name), params
        if path.startswith("/2015-03-31/"):
            model = MODELS["lambda"]
            for name in model.operation_names:
                op = model.operation_model(name)
                if op.http["method"] != self.command:
                    continue
                uri = op.http["requestUri"].split("?")[0]
                pattern = "^" + re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", uri) + "$"
                m = re.match(pattern, path)
                if not m:
                    continue
                params = {}
                by_location = {(mem.serialization.get("location"), mem.serialization.get("name", n)): n
                               for n, mem in op.input_shape.members.items()} if op.input_shape else {}
                for k, v in m.groupdict().items():
                    params[by_location[("uri", k)]] = urllib.parse.unquote(v)
                for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query):
                    if ("querystring", k) not in by_location:
                        raise AwsError("ValidationException", "Unknown query parameter " + k)
                    params[by_location[("querystring", k)]] = v
                if self.body:
                    try:
                        body = json.loads(self.body)
                    except ValueError:
                        raise AwsError("InvalidRequestContentException", "Could not parse request body into json")
                    for k in body:
                        member = op.input_shape.members.get(k)
                        if member is not None and member.serialization.get("location"):
                            raise AwsError("ValidationException", "%s belongs in the %s, not the body" % (
                                k, member.serialization["location"]))
                    params.update(body)
                return "rest-json", "lambda", op, params
            raise AwsError("ResourceNotFoundException", "No Lambda API at %s %s" % (self.command, path), 404)
        if self.command == "POST" and path == "/":
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != "application/x-www-form-urlencoded":
                raise AwsError("MalformedQueryString", "Content-Type must be application/x-www-form-urlencoded")
            form = dict(urllib.parse.parse_qsl(self.body.decode(), keep_blank_values=True))
            action, version = form.pop("Action", None), form.pop("Version", None)
            for service in ("elbv2", "sts"):
                model = MODELS[service]
                if action in model.operation_names:
                    self.service_hint = service  # errors from here on carry this service's XML namespace
                    if version != model.metadata["apiVersion"]:
                        raise AwsError("InvalidAction", "Version %s is not %s" % (version, model.metadata["apiVersion"]))
                    op = model.operation_model(action)
                    used = set()
                    params = decode_query(op.input_shape, form, "", used) if op.input_shape else {}
                    unknown = sorted(set(form) - used)
                    if unknown:
                        raise AwsError("ValidationError", "Unknown parameter(s): " + ", ".join(unknown))
                    return "query", service, op, params
            raise AwsError("InvalidAction", "The action %s is not valid for this web service." % action)
        raise AwsError("UnknownOperationException", "No AWS API at %s %s" % (self.command, path), 404)

    # -- Amazon Managed Service for Prometheus (data plane: the Prometheus query API)
    def aps(self, path):
        try:
            akid = self.verify_signature("rest-json", None, signing_name="aps")
            workspace = path.split("/")[2]
            with LOCK:
                workspaces = CONFIG.get("aps_workspaces", ["ws-fake"])
                value = str(CONFIG.get("aps_value", "42"))
            if workspace not in workspaces:
                raise AwsError("ResourceNotFoundException", "Workspace %s not found" % workspace, 404)
            params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if self.command == "POST":
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                if ctype != "application/x-www-form-urlencoded":
                    raise AwsError("ValidationException", "Content-Type must be application/x-www-form-urlencoded")
                params.update(urllib.parse.parse_qsl(self.body.decode()))
            if not params.get("query"):
                raise AwsError("ValidationException", "query is required")
            with LOCK:
                CALLS.append({"operation": "QueryMetrics", "status": 200, "code": "", "key": akid,
                              "query": params["query"]})
            t = float(params.get("time") or now().timestamp())
            body = {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {"workspace": workspace}, "value": [t, value]}]}}
            self.send(200, json.dumps(body))
        except AwsError as e:
            with LOCK:
                CALLS.append({"operation": "QueryMetrics", "status": e.status, "code": e.code,
                              "key": getattr(self, "akid", "")})
            self.send_error_for("rest-json", e)

    # -- SigV4, recomputed with botocore
    def verify_signature(self, protocol, service, signing_name=None):
        q = protocol == "query"
        auth = self.headers.get("Authorization") or ""
        if not auth:
            raise AwsError("MissingAuthenticationToken" if q else "MissingAuthenticationTokenException",
                           "Missing Authentication Token", 403)
        m = re.match(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                     r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$", auth)
        if not m:
            raise AwsError("IncompleteSignature", "Authorization header requires Credential, SignedHeaders and "
                           "Signature (AWS4-HMAC-SHA256): " + auth.split(" ")[0], 403)
        akid, date, region, svc, signed, signature = m.groups()
        self.akid = akid
        with LOCK:
            key = KEYS.get(akid)
        if key is None:
            raise AwsError("InvalidClientTokenId" if q else "UnrecognizedClientException",
                           "The security token included in the request is invalid.", 403)
        signed_list = signed.split(";")
        if key["token"]:
            if self.headers.get("X-Amz-Security-Token") != key["token"] or "x-amz-security-token" not in signed_list:
                raise AwsError("InvalidClientTokenId" if q else "UnrecognizedClientException",
                               "The security token included in the request is invalid.", 403)
            if key["expires"] <= now():
                raise AwsError("ExpiredToken" if q else "ExpiredTokenException",
                               "The security token included in the request is expired", 403 if q else 400)
        bad_sig = "SignatureDoesNotMatch" if q else "InvalidSignatureException"
        signing_name = signing_name or MODELS[service].signing_name
        if region != REGION:
            raise AwsError(bad_sig, "Credential should be scoped to a valid region. ", 403)
        if svc != signing_name:
            raise AwsError(bad_sig, "Credential should be scoped to correct service: '%s'. " % signing_name, 403)
        for required in ("host", "x-amz-date"):
            if required not in signed_list:
                raise AwsError(bad_sig if required == "host" else "IncompleteSignature",
                               "'%s' must be a signed header" % required, 403)
        amz_date = self.headers.get("X-Amz-Date") or ""
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise AwsError("IncompleteSignature", "X-Amz-Date '%s' is not ISO 8601 basic" % amz_date, 403)
        if abs(now() - when) > SKEW:
            raise AwsError(bad_sig, "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                amz_date, (now() - SKEW).strftime("%Y%m%dT%H%M%SZ"), now().strftime("%Y%m%dT%H%M%SZ")), 403)
        if amz_date[:8] != date:
            raise AwsError(bad_sig, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                           "from HTTP: '%s' != '%s'" % (date, amz_date[:8]), 403)
        headers = {}
        for h in signed_list:
            value = self.headers.get(h)
            if value is None:
                raise AwsError(bad_sig, "Signed header '%s' is missing from the request" % h, 403)
            headers[h] = value
        request = AWSRequest(method=self.command, url="http://%s%s" % (headers["host"], self.path),
                             data=self.body, headers=headers)
        request.context["timestamp"] = amz_date
        signer = ExactSigV4Auth(Credentials(akid, key["secret"], key["token"] or None), signing_name, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if signer.signed_headers(signer.headers_to_sign(request)) != signed or not hmac.compare_digest(expected, signature):
            raise AwsError(bad_sig, "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                           "for details.", 403)
        return akid

    def inject_fault(self, op_name, protocol, params):
        with LOCK:
            for f in FAULTS:
                if f["operation"] != op_name or f.get("times", 1) <= 0:
                    continue
                f["times"] = f.get("times", 1) - 1
                if "race" in f:
                    RACES[op_name](f["race"], params)
                    return
                code = f["error"]
                status = f.get("status") or (429 if code == "TooManyRequestsException" else
                                             403 if code.startswith("AccessDenied") else
                                             503 if code in ("ServiceUnavailable", "ServiceUnavailableException") else
                                             500 if code in ("InternalFailure", "ServerException") else 400)
                raise AwsError(code, f.get("message") or {
                    403: "User: arn:aws:iam::%s:user/sidecar is not authorized to perform: %s" % (ACCOUNT, op_name),
                    429: "Rate exceeded", 400: "Rate exceeded"}.get(status, "Service unavailable"), status)

    # -- control, container credentials, IMDS
    def control(self, path):
        body = json.loads(self.body or b"{}")
        with LOCK:
            if path == "/_fake/reset":
                reset(body)
                return self.send(200, "{}")
            if path == "/_fake/faults":
                FAULTS.append(body)
                return self.send(200, "{}")
            if path == "/_fake/config":
                CONFIG.update(body)
                return self.send(200, "{}")
            if path == "/_fake/state":
                return self.send(200, json.dumps(STATE, default=str))
            if path == "/_fake/calls":
                return self.send(200, json.dumps(CALLS))
        self.send(404, "{}")

    # -- IAM Identity Center portal: GetRoleCredentials (REST-JSON, unsigned, bearer token header)
    def sso(self):
        op = MODELS["sso"].operation_model("GetRoleCredentials")
        try:
            if self.command != op.http["method"]:
                raise AwsError("InvalidRequestException", "GetRoleCredentials is GET %s" % op.http["requestUri"])
            params = {}
            by_name = {m.serialization["name"]: n for n, m in op.input_shape.members.items()
                       if m.serialization.get("location") == "querystring"}
            for k, v in urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query, keep_blank_values=True):
                if k not in by_name:
                    raise AwsError("InvalidRequestException", "Unknown query parameter " + k)
                params[by_name[k]] = v
            token_header = op.input_shape.members["accessToken"].serialization["name"]
            if self.headers.get(token_header) is not None:
                params["accessToken"] = self.headers.get(token_header)
            if self.headers.get("Authorization"):
                raise AwsError("InvalidRequestException", "GetRoleCredentials is not SigV4-signed (auth: none)")
            report = ParamValidator().validate(params, op.input_shape)
            if report.has_errors():
                raise AwsError("InvalidRequestException", report.generate_report().replace("\n", "; "))
            with LOCK:
                allowed = CONFIG.get("sso_tokens", {}).get(params["accessToken"])
            if allowed is None:
                raise AwsError("UnauthorizedException", "Session token not found or invalid", 401)
            if "%s/%s" % (params["accountId"], params["roleName"]) not in allowed:
                raise AwsError("ForbiddenException", "No access", 403)
            self.inject_fault("GetRoleCredentials", "rest-json", params)
            akid, secret, token, expires = issue_credentials(
                arn="arn:aws:sts::%s:assumed-role/AWSReservedSSO_%s/sso-user" % (params["accountId"], params["roleName"]))
            with LOCK:
                CALLS.append({"operation": "GetRoleCredentials", "status": 200, "code": "", "key": ""})
            self.send(200, json.dumps({"roleCredentials": {
                "accessKeyId": akid, "secretAccessKey": secret, "sessionToken": token,
                "expiration": int(expires.timestamp() * 1000)}}))
        except AwsError as e:
            with LOCK:
                CALLS.append({"operation": "GetRoleCredentials", "status": e.status, "code": e.code, "key": ""})
            self.send_error_for("rest-json", e)

    def container_credentials(self):
        with LOCK:
            CALLS.append({"operation": "ContainerCredentials", "status": 200, "code": "", "key": ""})
            want = CONFIG.get("container_token", "")
        if want and self.headers.get("Authorization") != want:
            return self.send(401, json.dumps({"code": "InvalidToken", "message": "Authorization token is invalid"}))
        akid, secret, token, expires = issue_credentials()
        self.send(200, json.dumps({"AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                                   "Expiration": iso(expires), "RoleArn": "arn:aws:iam::%s:role/task" % ACCOUNT}))

    def imds(self, path):
        with LOCK:
            CALLS.append({"operation": "IMDS " + self.command + " " + path, "status": 200, "code": "", "key": ""})
        if path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if self.command != "PUT" or not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.send(400, "", "text/plain")
            token = secrets.token_urlsafe(32)
            IMDS_TOKENS.add(token)
            return self.send(200, token, "text/plain")
        if self.headers.get("X-aws-ec2-metadata-token") not in IMDS_TOKENS:
            return self.send(401, "", "text/plain")
        base = "/latest/meta-data/iam/security-credentials/"
        if path == base:
            return self.send(200, "fake-instance-role", "text/plain")
        if path == base + "fake-instance-role":
            akid, secret, token, expires = issue_credentials()
            return self.send(200, json.dumps({"Code": "Success", "LastUpdated": iso(now()), "Type": "AWS-HMAC",
                                              "AccessKeyId": akid, "SecretAccessKey": secret, "Token": token,
                                              "Expiration": iso(expires)}), "text/plain")
        self.send(404, "", "text/plain")


# ---------------------------------------------------------------- services

def alias_arn(fn, name):
    return "arn:aws:lambda:%s:%s:function:%s:%s" % (REGION, ACCOUNT, fn, name)


def get_alias_record(params):
    key = "%s:%s" % (params["FunctionName"], params["Name"])
    a = STATE["aliases"].get(key)
    if a is None:
        raise AwsError("ResourceNotFoundException", "Alias not found: " + alias_arn(params["FunctionName"], params["Name"]), 404)
    return a


def lambda_get_alias(params):
    return dict(get_alias_record(params))


def lambda_update_alias(params):
    a = get_alias_record(params)
    if "RevisionId" in params and params["RevisionId"] != a["RevisionId"]:
        raise AwsError("PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. "
                       "Call the GetFunction/GetAlias API to retrieve the latest Revision Id", 412)
    versions = STATE.get("versions", {}).get(params["FunctionName"])
    version = params.get("FunctionVersion", a["FunctionVersion"])
    weights = params.get("RoutingConfig", a.get("RoutingConfig", {})).get("AdditionalVersionWeights", {})
    for v in [version] + list(weights):
        if versions is not None and v not in versions:
            raise AwsError("ResourceNotFoundException", "Function not found: arn:aws:lambda:%s:%s:function:%s:%s" % (
                REGION, ACCOUNT, params["FunctionName"], v), 404)
    if version in weights:
        raise AwsError("InvalidParameterValueException", "Invalid function version %s: it is the alias's primary "
                       "version" % version)
    for v, w in weights.items():
        if not 0.0 <= w <= 1.0:
            raise AwsError("ValidationException", "weight of version %s must be in [0.0, 1.0]" % v)
    a["FunctionVersion"] = version
    if "Description" in params:
        a["Description"] = params["Description"]
    if "RoutingConfig" in params:
        if weights:
            a["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        else:
            a.pop("RoutingConfig", None)
    a["RevisionId"] = str(uuid.uuid4())
    return dict(a)


def race_update_alias(change, params):
    a = get_alias_record(params)
    a.update(change)
    if a.get("RoutingConfig") == {}:
        a.pop("RoutingConfig")
    a["RevisionId"] = str(uuid.uuid4())


def check_target_groups(actions):
    for a in actions:
        if a.get("Type") == "authenticate-oidc":
            oidc = a.get("AuthenticateOidcConfig", {})
            if not oidc.get("ClientSecret") and not oidc.get("UseExistingClientSecret"):
                raise AwsError("ValidationError", "A client secret must be specified (or UseExistingClientSecret)")
        if a.get("Type") != "forward":
            continue
        fc = a.get("ForwardConfig", {}).get("TargetGroups", [])
        if a.get("TargetGroupArn") and len(fc) > 1:
            raise AwsError("ValidationError", "You cannot specify both a target group ARN and a forward config with "
                           "more than one target group")
        if not a.get("TargetGroupArn") and not fc:
            raise AwsError("ValidationError", "A target group ARN or a forward config must be specified")
        for tg in fc + ([{"TargetGroupArn": a["TargetGroupArn"]}] if a.get("TargetGroupArn") else []):
            if tg["TargetGroupArn"] not in STATE["target_groups"]:
                raise AwsError("TargetGroupNotFound", "Target groups '%s' not found" % tg["TargetGroupArn"])
            if not 0 <= tg.get("Weight", 1) <= 999:
                raise AwsError("ValidationError", "weights must be between 0 and 999")


def elb_describe_listeners(params):
    arns = params.get("ListenerArns", [])
    for arn in arns:
        if arn not in STATE["listeners"]:
            raise AwsError("ListenerNotFound", "One or more listeners not found")
    return {"Listeners": [STATE["listeners"][a] for a in arns]}


def elb_modify_listener(params):
    arn = params["ListenerArn"]
    if arn not in STATE["listeners"]:
        raise AwsError("ListenerNotFound", "One or more listeners not found")
    if "DefaultActions" in params:
        check_target_groups(params["DefaultActions"])
        STATE["listeners"][arn]["DefaultActions"] = params["DefaultActions"]
    return {"Listeners": [STATE["listeners"][arn]]}


def elb_describe_rules(params):
    arns = params.get("RuleArns", [])
    for arn in arns:
        if arn not in STATE["rules"]:
            raise AwsError("RuleNotFound", "One or more rules not found")
    return {"Rules": [STATE["rules"][a] for a in arns]}


def elb_modify_rule(params):
    arn = params["RuleArn"]
    if arn not in STATE["rules"]:
        raise AwsError("RuleNotFound", "One or more rules not found")
    if "Actions" in params:
        check_target_groups(params["Actions"])
        STATE["rules"][arn]["Actions"] = params["Actions"]
    return {"Rules": [STATE["rules"][arn]]}


IN_PROGRESS = ("Created", "Queued", "InProgress", "Ready", "Baking")


def cd_list_deployments(params):
    if "deploymentGroupName" in params and "applicationName" not in params:
        raise AwsError("ApplicationNameRequiredException", "The minimum number of required application names was not specified.")
    apps = {d["applicationName"] for d in STATE["deployments"].values()} | {
        g.split("/")[0] for g in STATE["deployment_groups"]}
    if "applicationName" in params and params["applicationName"] not in apps:
        raise AwsError("ApplicationDoesNotExistException", "No application found for name: " + params["applicationName"])
    statuses = params.get("includeOnlyStatuses")
    out = [i for i, d in sorted(STATE["deployments"].items())
           if d["applicationName"] == params.get("applicationName", d["applicationName"])
           and d["deploymentGroupName"] == params.get("deploymentGroupName", d["deploymentGroupName"])
           and (statuses is None or d["status"] in statuses)]
    return {"deployments": out}


def cd_deployment(params):
    d = STATE["deployments"].get(params["deploymentId"])
    if d is None:
        raise AwsError("DeploymentDoesNotExistException", "The deployment %s could not be found." % params["deploymentId"])
    return d


def cd_get_deployment(params):
    d = cd_deployment(params)
    info = json.loads(json.dumps(d))
    pending = d.get("_rollback_polls_left", 0)
    if pending > 0:
        d["_rollback_polls_left"] = pending - 1
        info.get("rollbackInfo", {}).pop("rollbackDeploymentId", None)
    for k in [k for k in info if k.startswith("_")]:
        info.pop(k)
    return {"deploymentInfo": info}


def cd_stop(d, auto_rollback):
    if d["status"] not in IN_PROGRESS:
        raise AwsError("DeploymentAlreadyCompletedException", "The deployment %s has already completed." % d["deploymentId"])
    d["status"] = "Stopped"
    d["completeTime"] = now().timestamp()
    group = "%s/%s" % (d["applicationName"], d["deploymentGroupName"])
    can_roll_back = STATE["deployment_groups"].get(group, {}).get("lastSuccessfulDeployment")
    if auto_rollback and can_roll_back:
        COUNTER[0] += 1
        rid = "d-ROLLBACK%05d" % COUNTER[0]
        STATE["deployments"][rid] = {
            "deploymentId": rid, "applicationName": d["applicationName"],
            "deploymentGroupName": d["deploymentGroupName"], "status": "InProgress", "creator": "autoRollback",
            "createTime": now().timestamp(),
            "rollbackInfo": {"rollbackTriggeringDeploymentId": d["deploymentId"]}}
        d["rollbackInfo"] = {"rollbackDeploymentId": rid,
                             "rollbackMessage": "Automatic rollback triggered by stop to " + can_roll_back}
        d["_rollback_polls_left"] = int(CONFIG.get("rollback_delay_polls", 1))
    elif auto_rollback:
        d["rollbackInfo"] = {"rollbackMessage": "Automatic rollback not possible: no last successful deployment in " + group}


def cd_stop_deployment(params):
    d = cd_deployment(params)
    cd_stop(d, params.get("autoRollbackEnabled", False))
    return {"status": "Pending", "statusMessage": "Stopping Pending. Stopping to schedule commands in the deployment instances"}


def race_stop_deployment(_, params):
    d = STATE["deployments"].get(params.get("deploymentId"))
    if d is not None and d["status"] in IN_PROGRESS:
        cd_stop(d, True)
        d["_rollback_polls_left"] = 0


def ecs_resolve_td(td):
    for arn in STATE["task_definitions"]:
        if arn == td or arn.endswith("task-definition/" + td):
            return arn
    raise AwsError("ClientException", "TaskDefinition not found.")


def ecs_find(cluster, service):
    c = cluster.split("/")[-1]
    s = service.split("/")[-1]
    return STATE["services"].get("%s/%s" % (c, s))


def ecs_describe_services(params):
    out, failures = [], []
    for s in params["services"]:
        svc = ecs_find(params.get("cluster", "default"), s)
        if svc is None:
            failures.append({"arn": "arn:aws:ecs:%s:%s:service/%s/%s" % (REGION, ACCOUNT, params.get("cluster", "default"), s),
                             "reason": "MISSING"})
        else:
            out.append(svc)
    return {"services": out, "failures": failures}


def ecs_update_service(params):
    svc = ecs_find(params.get("cluster", "default"), params["service"])
    if svc is None:
        raise AwsError("ServiceNotFoundException", "Service not found.")
    if "taskDefinition" in params:
        controller = svc.get("deploymentController", {}).get("type", "ECS")
        if controller != "ECS":
            raise AwsError("InvalidParameterException", "Unable to update task definition on services with a %s "
                           "deployment controller. Use AWS CodeDeploy to trigger a new deployment." % controller)
        td = ecs_resolve_td(params["taskDefinition"])
        for d in svc["deployments"]:
            if d["status"] == "PRIMARY":
                d["status"] = "ACTIVE"
        COUNTER[0] += 1
        svc["deployments"].insert(0, {"id": "ecs-svc/%019d" % COUNTER[0], "status": "PRIMARY", "taskDefinition": td,
                                      "desiredCount": svc.get("desiredCount", 1), "rolloutState": "IN_PROGRESS",
                                      "createdAt": now().timestamp()})
        svc["taskDefinition"] = td
    return {"service": svc}


def sts_assume_role_with_web_identity(params):
    want = CONFIG.get("web_identity_token")
    if not want or params["WebIdentityToken"] != want:
        raise AwsError("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
    if CONFIG.get("role_arn") and params["RoleArn"] != CONFIG["role_arn"]:
        raise AwsError("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    akid, secret, token, expires = issue_credentials()
    return {"Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token,
                            "Expiration": iso(expires)},
            "AssumedRoleUser": {"AssumedRoleId": "AROAFAKE:" + params["RoleSessionName"],
                                "Arn": params["RoleArn"].replace(":role/", ":assumed-role/") + "/" + params["RoleSessionName"]},
            "SubjectFromWebIdentityToken": "system:serviceaccount:prod:sidecar", "Audience": "sts.amazonaws.com",
            "Provider": "oidc.example"}


def sts_assume_role(params, caller):
    roles = CONFIG.get("roles")
    role = params["RoleArn"]
    denied = AwsError("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s" % (
        caller, role), 403)
    if roles is not None:
        if role not in roles:
            raise denied
        if roles[role].get("external_id") is not None and params.get("ExternalId") != roles[role]["external_id"]:
            raise denied
    ttl = params.get("DurationSeconds")
    if ttl is None:
        ttl = int(CONFIG.get("cred_ttl_seconds", 3600))
    assumed = role.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/" + params["RoleSessionName"]
    akid, secret, token, expires = issue_credentials(ttl, assumed)
    return {"Credentials": {"AccessKeyId": akid, "SecretAccessKey": secret, "SessionToken": token,
                            "Expiration": iso(expires)},
            "AssumedRoleUser": {"AssumedRoleId": "AROAFAKE:" + params["RoleSessionName"], "Arn": assumed}}


HANDLERS = {
    "GetAlias": lambda_get_alias, "UpdateAlias": lambda_update_alias,
    "DescribeListeners": elb_describe_listeners, "ModifyListener": elb_modify_listener,
    "DescribeRules": elb_describe_rules, "ModifyRule": elb_modify_rule,
    "ListDeployments": cd_list_deployments, "GetDeployment": cd_get_deployment, "StopDeployment": cd_stop_deployment,
    "DescribeServices": ecs_describe_services, "UpdateService": ecs_update_service,
}
STS_HANDLERS = {"AssumeRoleWithWebIdentity": sts_assume_role_with_web_identity, "AssumeRole": sts_assume_role}
RACES = {"UpdateAlias": race_update_alias, "StopDeployment": race_stop_deployment}


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main():
    global REGION
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--region", default=REGION)
    args = parser.parse_args()
    REGION = args.region
    reset({})
    server = Server(("127.0.0.1", 0), Handler)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"port": server.server_address[1], "pid": os.getpid()}, f)
    os.rename(tmp, args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
