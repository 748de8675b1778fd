#!/usr/bin/python3
"""A strict fake Kubernetes API server for the kubernetes actuators' tests.

Serves HTTPS (TLS material generated with openssl into --dir: ca.crt, server.crt/key, and a
client certificate client.crt/key with CN=fake-admin for client-certificate auth), writes its
port to DIR/port and its PID to DIR/pid once it listens, and keeps typed objects in memory:

  core/v1 Service, Pod; apps/v1 Deployment (+ scale, status subresources);
  discovery.k8s.io/v1 EndpointSlice; gateway.networking.k8s.io/v1 HTTPRoute (+ status);
  argoproj.io/v1alpha1 Rollout (+ status, scale); plus ConfigMap, Secret, ServiceAccount,
  rbac Role/RoleBinding and monitoring.coreos.com PodMonitor as plain objects.

Like the real API server it:
  - authenticates a bearer token (or a client certificate, as user "cert:<CN>") against the
    rules in --tokens (JSON, re-read on every request, so a test can rotate tokens):
      {"<token>": {"user": "system:serviceaccount:shop:sidecar",
                   "rules": [{"verbs": ["get", "patch"], "resources": ["services", "deployments/scale"]}]}}
    unknown or missing credentials get 401, a rule that does not allow the verb 403 — both as a
    Status body worded like the API server's;
  - answers PATCH with application/merge-patch+json, application/json-patch+json, and
    application/strategic-merge-patch+json for built-in types only (415 for custom resources
    and for any other content type, with the API server's message);
  - treats metadata.resourceVersion in the patched object as a precondition: a patch made
    against an older version gets 409 Conflict ("the object has been modified");
  - ignores status changes on the main resource of types with a status subresource, and takes
    only status through .../status; .../scale reads and writes an autoscaling/v1 Scale;
  - bumps resourceVersion only when an object really changes; lists honour labelSelector;
  - validates what the actuators write (replicas >= 0, label values, backendRef weights) → 422;
  - runs tiny controllers: a Deployment's status follows spec.replicas, every Service gets an
    EndpointSlice of the Pods its selector selects, and an aborted Rollout becomes Degraded;
  - serves the discovery documents kubectl needs (/version, /api, /apis, /api/v1, /apis/G/V).

Test controls (no auth, plain JSON, paths under /_fake/): POST /_fake/objects creates or
replaces an object; POST /_fake/race {"path", "patch"} applies `patch` (merge) as a concurrent
writer right after the next GET of `path` is answered; POST /_fake/fail {"path", "status",
"count"} fails the next requests to `path`; POST /_fake/lag {"path", "reads"} keeps a
Deployment's readyReplicas at its old value for that many reads; GET /_fake/requests lists
what was asked (method, path, content type, body).
"""

import argparse
import copy
import datetime
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# (group, version, plural) -> kind, namespaced, subresources, builtin (strategic merge allowed)
TYPES = {
    ("", "v1", "services"): ("Service", True, {"status"}, True),
    ("", "v1", "pods"): ("Pod", True, {"status"}, True),
    ("", "v1", "configmaps"): ("ConfigMap", True, set(), True),
    ("", "v1", "secrets"): ("Secret", True, set(), True),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, set(), True),
    ("", "v1", "namespaces"): ("Namespace", False, {"status"}, True),
    ("apps", "v1", "deployments"): ("Deployment", True, {"status", "scale"}, True),
    ("discovery.k8s.io", "v1", "endpointslices"): ("EndpointSlice", True, set(), True),
    ("rbac.authorization.k8s.io", "v1", "roles"): ("Role", True, set(), True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"): ("RoleBinding", True, set(), True),
    ("gateway.networking.k8s.io", "v1", "httproutes"): ("HTTPRoute", True, {"status"}, False),
    ("argoproj.io", "v1alpha1", "rollouts"): ("Rollout", True, {"status", "scale"}, False),
    ("monitoring.coreos.com", "v1", "podmonitors"): ("PodMonitor", True, set(), False),
}
KIND_TO_TYPE = {v[0]: k for k, v in TYPES.items()}
PATCH_TYPES = {"application/merge-patch+json", "application/json-patch+json",
               "application/strategic-merge-patch+json"}
SHORT_NAMES = {"services": ["svc"], "pods": ["po"], "configmaps": ["cm"], "serviceaccounts": ["sa"],
               "namespaces": ["ns"], "deployments": ["deploy"], "rollouts": ["ro"], "podmonitors": ["pmon"]}
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def body(self):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": self.details, "code": self.code}


def gvr_prefix(group, version):
    return "/api/" + version if group == "" else "/apis/%s/%s" % (group, version)


def api_version(group, version):
    return version if group == "" else group + "/" + version


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strategic_merge_patch(target, patch):
    """Strategic merge for the shapes the fake's built-in types use: maps merge like a JSON
    merge patch; lists of objects that all have a `name` merge by name (containers, ports);
    other lists are replaced. $patch / $retainKeys / $setElementOrder directives are refused."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            raise ApiError(400, "BadRequest", "the fake API server does not implement the strategic merge directive %s" % k)
        if v is None:
            result.pop(k, None)
        elif isinstance(v, list) and isinstance(result.get(k), list) and v and all(
                isinstance(i, dict) and "name" in i for i in v + result[k]):
            merged = copy.deepcopy(result[k])
            for item in v:
                for i, old in enumerate(merged):
                    if old["name"] == item["name"]:
                        merged[i] = strategic_merge_patch(old, item)
                        break
                else:
                    merged.append(copy.deepcopy(item))
            result[k] = merged
        else:
            result[k] = strategic_merge_patch(result.get(k), v)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("JSON pointer %r does not start with /" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, tokens):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, list):
            cur = cur[int(t)]
        elif isinstance(cur, dict):
            cur = cur[t]
        else:
            raise KeyError(t)
    return cur


def json_patch(doc, ops):
    """RFC 6902: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        try:
            kind, path = op["op"], _pointer(op["path"])
            if kind == "test":
                cur = doc
                for t in path:
                    cur = cur[int(t)] if isinstance(cur, list) else cur[t]
                if cur != op["value"]:
                    raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: "
                                   "testing value %s failed: test failed" % op["path"])
                continue
            if kind in ("move", "copy"):
                src = _pointer(op["from"])
                sp = _parent(doc, src)
                value = copy.deepcopy(sp[int(src[-1])] if isinstance(sp, list) else sp[src[-1]])
                if kind == "move":
                    if isinstance(sp, list):
                        del sp[int(src[-1])]
                    else:
                        del sp[src[-1]]
                op = {"op": "add", "path": op["path"], "value": value}
                kind = "add"
            parent, last = _parent(doc, path), path[-1]
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(op["value"]))
                else:
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "replace":
                if isinstance(parent, list):
                    parent[int(last)] = copy.deepcopy(op["value"])
                else:
                    if last not in parent:
                        raise KeyError(last)
                    parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            else:
                raise ApiError(400, "BadRequest", "Unexpected kind: %s" % kind)
        except ApiError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: "
                           "jsonpatch %s operation does not apply: doc is missing path: %s (%s)"
                           % (op.get("op"), op.get("path"), e))
    return doc


def label_selector_matches(selector, labels):
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.objects = {}  # (group, plural, namespace, name) -> object
        self.rv = 1000
        self.races = []   # {"path", "patch"}
        self.failures = []  # {"path", "status", "count"}
        self.lags = {}    # deployment path -> {"reads": n, "ready": old}
        self.requests = []

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def put(self, group, version, plural, ns, obj, bump=True):
        kind, namespaced, _, _ = TYPES[(group, version, plural)]
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = api_version(group, version), kind
        md = obj.setdefault("metadata", {})
        if namespaced:
            md["namespace"] = ns
        else:
            ns = ""
            md.pop("namespace", None)
        old = self.objects.get((group, plural, ns, md["name"]))
        md.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        md.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else now())
        md["generation"] = (old["metadata"].get("generation", 1) +
                            (1 if old and old.get("spec") != obj.get("spec") else 0)) if old else 1
        md["resourceVersion"] = self.next_rv() if bump or not old else old["metadata"]["resourceVersion"]
        self.objects[(group, plural, ns, md["name"])] = obj
        return obj

    # --- controllers: run after every write, each writes only when something changes ---
    def reconcile(self):
        for (group, plural, ns, name), obj in list(self.objects.items()):
            if plural == "deployments":
                want = obj.get("spec", {}).get("replicas", 1)
                status = dict(obj.get("status", {}))
                lag = self.lags.get((ns, name))
                ready = lag["ready"] if lag and lag["reads"] > 0 else want
                new = dict(status, replicas=want, updatedReplicas=want, readyReplicas=ready,
                           availableReplicas=ready, observedGeneration=obj["metadata"]["generation"])
                if new != status:
                    obj["status"] = new
                    obj["metadata"]["resourceVersion"] = self.next_rv()
            elif plural == "rollouts":
                st = obj.get("status", {})
                if st.get("abort") and st.get("phase") != "Degraded":
                    st.update(phase="Degraded", abortedAt=now(),
                              message="RolloutAborted: Rollout aborted update to revision %s" %
                              obj["metadata"].get("annotations", {}).get("rollout.argoproj.io/revision", "2"))
                    obj["status"] = st
                    obj["metadata"]["resourceVersion"] = self.next_rv()
            elif plural == "services":
                selector = obj.get("spec", {}).get("selector")
                if not selector:
                    continue
                pods = sorted((o for (g, p, n, _), o in self.objects.items() if p == "pods" and n == ns and
                               all(o["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())),
                              key=lambda o: o["metadata"]["name"])
                endpoints = [{"addresses": [p.get("status", {}).get("podIP", "10.0.0.1")],
                              "conditions": {"ready": True},
                              "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                            "uid": p["metadata"]["uid"]}} for p in pods]
                slice_name = name + "-fake1"
                old = self.objects.get(("discovery.k8s.io", "endpointslices", ns, slice_name))
                if old is None or old.get("endpoints") != endpoints:
                    self.put("discovery.k8s.io", "v1", "endpointslices", ns, {
                        "metadata": {"name": slice_name, "labels": {
                            "kubernetes.io/service-name": name,
                            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                        "addressType": "IPv4", "endpoints": endpoints,
                        "ports": [{"name": p.get("name", ""), "port": p.get("targetPort", p.get("port")),
                                   "protocol": "TCP"} for p in obj.get("spec", {}).get("ports", [])]})


STORE = Store()
ARGS = None


def validate(kind, obj, sub):
    causes = []
    md = obj.get("metadata", {})
    for k, v in (md.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            causes.append("metadata.labels: Invalid value: %s: a valid label must be an empty string or consist of "
                          "alphanumeric characters, '-', '_' or '.'" % json.dumps(v))
    spec = obj.get("spec") or {}
    if kind == "Service":
        for k, v in (spec.get("selector") or {}).items():
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                causes.append("spec.selector: Invalid value: %s: a valid label must be an empty string or consist "
                              "of alphanumeric characters, '-', '_' or '.'" % json.dumps(v))
    if kind in ("Deployment", "Scale", "Rollout") and "replicas" in spec:
        r = spec["replicas"]
        if not isinstance(r, int) or isinstance(r, bool) or r < 0:
            causes.append("spec.replicas: Invalid value: %s: must be greater than or equal to 0" % json.dumps(r))
    if kind == "HTTPRoute":
        for i, rule in enumerate(spec.get("rules") or []):
            for j, ref in enumerate(rule.get("backendRefs") or []):
                w = ref.get("weight", 1)
                if not isinstance(w, int) or isinstance(w, bool) or w < 0 or w > 1000000:
                    causes.append("spec.rules[%d].backendRefs[%d].weight: Invalid value: %s: spec.rules[%d]."
                                  "backendRefs[%d].weight in body should be less than or equal to 1000000"
                                  % (i, j, json.dumps(w), i, j))
                if not ref.get("name"):
                    causes.append("spec.rules[%d].backendRefs[%d].name: Required value" % (i, j))
    if kind == "Rollout" and sub == "status":
        a = (obj.get("status") or {}).get("abort")
        if a is not None and not isinstance(a, bool):
            causes.append("status.abort: Invalid value: %s: status.abort in body must be of type boolean"
                          % json.dumps(a))
    if causes:
        name = md.get("name", "")
        split = [c.split(": ", 1) for c in causes]
        raise ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (kind, name, ", ".join(causes)),
                       {"name": name, "kind": kind, "causes": [{"reason": "FieldValueInvalid", "field": f,
                                                                "message": m} for f, m in split]})


def discovery(path, port):
    if path == "/version":
        return {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "platform": "linux/amd64",
                "goVersion": "go1.22", "compiler": "gc", "buildDate": "2024-01-01T00:00:00Z",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % port}]}
    groups = {}
    for (g, v, _), _x in TYPES.items():
        if g:
            groups.setdefault(g, v)
    groups.setdefault("autoscaling", "v1")
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": g + "/" + v, "version": v}],
             "preferredVersion": {"groupVersion": g + "/" + v, "version": v}} for g, v in sorted(groups.items())]}
    m = re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path)
    if not m:
        return None
    g, v = ("", "v1") if m.group(1) else (m.group(2), m.group(3))
    if g == "autoscaling" and v == "v1":
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "autoscaling/v1", "resources": []}
    resources = []
    for (tg, tv, plural), (kind, namespaced, subs, _b) in sorted(TYPES.items()):
        if (tg, tv) != (g, v):
            continue
        singular = kind.lower()
        resources.append({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind,
                          "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                          "shortNames": SHORT_NAMES.get(plural, [])})
        for s in sorted(subs):
            r = {"name": plural + "/" + s, "singularName": "", "namespaced": namespaced,
                 "kind": kind, "verbs": ["get", "patch", "update"]}
            if s == "scale":
                r.update(kind="Scale", group="autoscaling", version="v1")
            resources.append(r)
    if not resources:
        return None
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version(g, v), "resources": resources}


def parse_resource_path(path):
    """-> (group, version, plural, namespace, name, subresource) or None."""
    m = re.fullmatch(r"/api/(v1)(/.*)?|/apis/([^/]+)/([^/]+)(/.*)?", path)
    if not m:
        return None
    if m.group(1):
        g, v, rest = "", "v1", m.group(2) or ""
    else:
        g, v, rest = m.group(3), m.group(4), m.group(5) or ""
    parts = [p for p in rest.split("/") if p]
    ns = ""
    if len(parts) >= 3 and parts[0] == "namespaces":
        ns, parts = parts[1], parts[2:]
    if not parts or len(parts) > 3:
        return None
    plural = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    sub = parts[2] if len(parts) > 2 else ""
    return g, v, plural, ns, name, sub


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-apiserver: %s %s\n" % (self.command, fmt % args))

    def send_json(self, code, obj, content_type="application/json"):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        url = urlsplit(self.path)
        body = self.read_body()
        try:
            if url.path.startswith("/_fake/"):
                return self.control(url.path, body)
            with STORE.lock:
                STORE.requests.append({"method": self.command, "path": url.path, "query": url.query,
                                       "content_type": self.headers.get("Content-Type", ""),
                                       "body": body.decode(errors="replace")})
                for f in STORE.failures:
                    if f["path"] == url.path and f["count"] > 0:
                        f["count"] -= 1
                        raise ApiError(f["status"], f.get("reason", "InternalError"),
                                       f.get("message", "an injected failure of the fake API server"))
            user, rules = self.authenticate()
            doc = discovery(url.path, self.server.server_address[1])
            if doc is not None and self.command == "GET":
                return self.send_json(200, doc)
            if url.path.startswith("/openapi") or doc is not None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            parsed = parse_resource_path(url.path)
            if not parsed:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            code, obj = self.resource(parsed, parse_qs(url.query), body, user, rules)
            self.send_json(code, obj)
        except ApiError as e:
            self.send_json(e.code, e.body())
        except Exception as e:  # a bug in the fake: say so loudly
            sys.stderr.write("fake-apiserver: internal error: %r\n" % e)
            self.send_json(500, ApiError(500, "InternalError", "fake API server bug: %r" % e).body())

    def authenticate(self):
        try:
            with open(ARGS.tokens) as f:
                tokens = json.load(f)
        except FileNotFoundError:
            tokens = {}
        auth = self.headers.get("Authorization", "")
        key = None
        if auth.startswith("Bearer "):
            key = auth[len("Bearer "):].strip()
        else:
            cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
            if cert:
                cn = dict(x[0] for x in cert.get("subject", ())).get("commonName")
                key = "cert:" + cn if cn else None
        if not key or key not in tokens:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        entry = tokens[key]
        return entry.get("user", key if key.startswith("cert:") else "token-user"), entry.get("rules", [])

    def authorize(self, user, rules, verb, group, plural, sub, ns, name):
        resource = plural + ("/" + sub if sub else "")
        for r in rules:
            verbs, res = r.get("verbs", []), r.get("resources", [])
            if ("*" in verbs or verb in verbs) and ("*" in res or resource in res) and \
                    (not r.get("resourceNames") or name in r["resourceNames"]):
                return
        what = '%s "%s"' % (resource, name) if name else resource
        if sub:
            what = '%s "%s"' % (resource, name)
        raise ApiError(403, "Forbidden",
                       '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"'
                       % (what, user, verb, resource, group, ns),
                       {"name": name, "group": group, "kind": plural})

    def control(self, path, body):
        req = json.loads(body or b"{}") if self.command in ("POST", "PUT") else {}
        with STORE.lock:
            if path == "/_fake/objects" and self.command == "POST":
                g, v = (req["apiVersion"].split("/") if "/" in req["apiVersion"] else ("", req["apiVersion"]))
                plural = next(p for (tg, tv, p), t in TYPES.items() if (tg, tv) == (g, v) and t[0] == req["kind"])
                obj = STORE.put(g, v, plural, req["metadata"].get("namespace", "default"), req)
                STORE.reconcile()
                return self.send_json(200, obj)
            if path == "/_fake/race":
                STORE.races.append(req)
                return self.send_json(200, {})
            if path == "/_fake/fail":
                STORE.failures.append(dict(req))
                return self.send_json(200, {})
            if path == "/_fake/lag":
                parsed = parse_resource_path(req["path"])
                obj = STORE.objects.get((parsed[0], parsed[2], parsed[3], parsed[4]))
                STORE.lags[(parsed[3], parsed[4])] = {"reads": req["reads"],
                                                      "ready": obj.get("status", {}).get("readyReplicas", 0)}
                return self.send_json(200, {})
            if path == "/_fake/requests":
                return self.send_json(200, STORE.requests)
            if path == "/_fake/reset-requests":
                STORE.requests = []
                return self.send_json(200, {})
        raise ApiError(404, "NotFound", "no such fake control " + path)

    def resource(self, parsed, query, body, user, rules):
        g, v, plural, ns, name, sub = parsed
        t = TYPES.get((g, v, plural))
        if not t:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind, namespaced, subs, builtin = t
        if sub and sub not in subs:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = {"GET": "get" if name else "list", "PATCH": "patch", "PUT": "update", "POST": "create",
                "DELETE": "delete"}[self.command]
        self.authorize(user, rules, verb, g, plural, sub, ns, name)
        gr = plural + ("." + g if g else "")
        with STORE.lock:
            if not name:
                if self.command == "GET":
                    sel = query.get("labelSelector", [""])[0]
                    items = [o for (og, op, on, _), o in sorted(STORE.objects.items())
                             if og == g and op == plural and (not ns or on == ns) and
                             label_selector_matches(sel, o["metadata"].get("labels", {}))]
                    return 200, {"kind": kind + "List", "apiVersion": api_version(g, v),
                                 "metadata": {"resourceVersion": str(STORE.rv)}, "items": items}
                if self.command == "POST":
                    obj = json.loads(body)
                    key = (g, plural, ns, obj.get("metadata", {}).get("name"))
                    if key in STORE.objects:
                        raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (gr, key[3]))
                    validate(kind, obj, "")
                    obj = STORE.put(g, v, plural, ns, obj)
                    STORE.reconcile()
                    return 201, obj
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            key = (g, plural, ns, name)
            cur = STORE.objects.get(key)
            if cur is None:
                raise ApiError(404, "NotFound", '%s "%s" not found' % (gr, name),
                               {"name": name, "group": g, "kind": plural})
            if self.command == "GET":
                lag = STORE.lags.get((ns, name)) if plural == "deployments" else None
                if lag and lag["reads"] > 0:
                    lag["reads"] -= 1
                    if lag["reads"] == 0:
                        STORE.reconcile()
                out = scale_of(cur) if sub == "scale" else copy.deepcopy(STORE.objects[key])
                self.run_races(self.path.split("?")[0])
                return 200, out
            if self.command == "DELETE":
                del STORE.objects[key]
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}
            if self.command == "PATCH":
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                if ctype not in PATCH_TYPES or (ctype == "application/strategic-merge-patch+json" and not builtin):
                    raise ApiError(415, "UnsupportedMediaType",
                                   "the body of the request was in an unknown format - accepted media types include: "
                                   "application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml")
                try:
                    patch = json.loads(body)
                except ValueError as e:
                    raise ApiError(400, "BadRequest", "error decoding patch: %s" % e)
                base = scale_of(cur) if sub == "scale" else cur
                if ctype == "application/json-patch+json":
                    new = json_patch(base, patch)
                elif not isinstance(patch, dict):
                    raise ApiError(400, "BadRequest", "error decoding patch: the patch is not a JSON object")
                elif ctype == "application/merge-patch+json":
                    new = merge_patch(base, patch)
                else:
                    new = strategic_merge_patch(base, patch)
            else:  # PUT
                new = json.loads(body)
                base = scale_of(cur) if sub == "scale" else cur
            rv = base["metadata"]["resourceVersion"]
            if str(new.get("metadata", {}).get("resourceVersion", rv)) != rv:
                raise ApiError(409, "Conflict",
                               'Operation cannot be fulfilled on %s "%s": the object has been modified; please '
                               'apply your changes to the latest version and try again' % (gr, name),
                               {"name": name, "group": g, "kind": plural})
            if new.get("metadata", {}).get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                               % (new["metadata"]["name"], name))
            if sub == "scale":
                validate("Scale", new, sub)
                result = copy.deepcopy(cur)
                result.setdefault("spec", {})["replicas"] = new.get("spec", {}).get("replicas", 0)
            elif sub == "status":
                result = copy.deepcopy(cur)
                result["status"] = new.get("status", {})
            else:
                result = new
                if "status" in subs:
                    if "status" in cur:
                        result["status"] = copy.deepcopy(cur["status"])
                    else:
                        result.pop("status", None)
            result["metadata"] = dict(result.get("metadata", {}), resourceVersion=rv)
            validate(kind, result, sub)
            if result != cur:
                STORE.put(g, v, plural, ns, result)
                STORE.reconcile()
            out = STORE.objects[key]
            return 200, scale_of(out) if sub == "scale" else copy.deepcopy(out)

    def run_races(self, path):
        for race in list(STORE.races):
            if race["path"] == path:
                STORE.races.remove(race)
                parsed = parse_resource_path(path)
                key = (parsed[0], parsed[2], parsed[3], parsed[4])
                obj = merge_patch(STORE.objects[key], race["patch"])
                if parsed[5] == "scale" and "spec" in race["patch"]:
                    obj = merge_patch(STORE.objects[key], {"spec": race["patch"]["spec"]})
                STORE.put(parsed[0], parsed[1], parsed[2], parsed[3], obj)
                STORE.reconcile()


def scale_of(obj):
    md = obj["metadata"]
    sel = obj.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md["uid"],
                         "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                       "selector": ",".join("%s=%s" % kv for kv in sorted(sel.items()))}}


def make_tls(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (CN=fake-admin)."""
    if os.path.exists(os.path.join(d, "server.crt")):
        return

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, cwd=d, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=fake-kubernetes-ca", "-keyout", "ca.key", "-out", "ca.crt")
    for name, subj, ext in (("server", "/CN=kube-apiserver", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                            ("client", "/CN=fake-admin", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subj,
            "-keyout", name + ".key", "-out", name + ".csr")
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext + "\n")
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt")


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True, help="TLS material, port and pid files")
    p.add_argument("--tokens", required=True, help="JSON: token (or cert:<CN>) -> {user, rules}")
    p.add_argument("--seed", help="JSON list of objects to start with")
    ARGS = p.parse_args()
    make_tls(ARGS.dir)
    if ARGS.seed:
        with open(ARGS.seed) as f:
            for obj in json.load(f):
                g, v = obj["apiVersion"].split("/") if "/" in obj["apiVersion"] else ("", obj["apiVersion"])
                plural = next(pl for (tg, tv, pl), t in TYPES.items() if (tg, tv) == (g, v) and t[0] == obj["kind"])
                STORE.put(g, v, plural, obj["metadata"].get("namespace", "default"), obj)
        STORE.reconcile()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(ARGS.dir, "server.crt"), os.path.join(ARGS.dir, "server.key"))
    ctx.load_verify_locations(os.path.join(ARGS.dir, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    for name, value in (("pid", os.getpid()), ("port", port)):
        tmp = os.path.join(ARGS.dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % value)
        os.rename(tmp, os.path.join(ARGS.dir, name))
    sys.stderr.write("fake-apiserver: listening on https://127.0.0.1:%d\n" % port)
    server.serve_forever()


if __name__ == "__main__":
    main()
