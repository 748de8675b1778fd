#!/usr/bin/python3
"""Proves the fake API server faithful enough: the real kubectl (the reference client) makes
every call the kubernetes actuators make — get, list by label, patch with each patch type
(strategic merge, merge, JSON patch), the scale and status subresources — and gets the answers
and errors (409, 403, 404, 415, 422) a real API server gives, through discovery, with a token
and CA (--server/--token/--certificate-authority) and through a kubeconfig with a client
certificate.

  kubectl_proof.py [KUBECTL]      (ctest: fakes.kubernetes_kubectl_proof)
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KUBECTL = sys.argv[1] if len(sys.argv) > 1 else shutil.which("kubectl")
FAILURES = []

SEED = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout", "namespace": "shop"},
     "spec": {"selector": {"app": "checkout", "track": "canary"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "v1-a", "namespace": "shop",
                                                     "labels": {"app": "checkout", "track": "stable"}},
     "status": {"podIP": "10.0.0.11"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "v2-a", "namespace": "shop",
                                                     "labels": {"app": "checkout", "track": "canary"}},
     "status": {"podIP": "10.0.0.21"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "checkout-v2", "namespace": "shop"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "checkout"}}}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "checkout", "namespace": "shop"},
     "spec": {"parentRefs": [{"name": "public"}], "rules": [{"backendRefs": [
         {"name": "checkout-v1", "port": 8080, "weight": 90}, {"name": "checkout-v2", "port": 8080, "weight": 10}]}]}},
    {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "checkout", "namespace": "shop"},
     "spec": {"replicas": 3}, "status": {"phase": "Paused", "stableRS": "a", "currentPodHash": "b"}},
]
TOKENS = {
    "admin-token": {"user": "admin", "rules": [{"verbs": ["*"], "resources": ["*"]}]},
    "viewer-token": {"user": "system:serviceaccount:shop:viewer", "rules": [{"verbs": ["get", "list"], "resources": ["*"]}]},
    "cert:fake-admin": {"user": "fake-admin", "rules": [{"verbs": ["*"], "resources": ["*"]}]},
}


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     "))


def main():
    if not KUBECTL:
        print("kubectl not found (it is needed to prove the fake API server)")
        return 1
    work = tempfile.mkdtemp(prefix="rs-kubectl-proof-")
    with open(os.path.join(work, "seed.json"), "w") as f:
        json.dump(SEED, f)
    with open(os.path.join(work, "tokens.json"), "w") as f:
        json.dump(TOKENS, f)
    log = open(os.path.join(work, "fake.log"), "w")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "fake_apiserver.py"), "--dir", work,
                             "--tokens", os.path.join(work, "tokens.json"), "--seed", os.path.join(work, "seed.json")],
                            stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(os.path.join(work, "port")) or proc.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(os.path.join(work, "port")):
            print("the fake API server did not start:\n" + open(os.path.join(work, "fake.log")).read())
            return 1
        port = int(open(os.path.join(work, "port")).read())
        with open(os.path.join(work, "pid")) as f:
            pid = int(f.read())
        run_proof(work, port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        if FAILURES:
            print("--- fake API server log ---\n" + open(os.path.join(work, "fake.log")).read()[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    print("%d failure(s)" % len(FAILURES))
    return 1 if FAILURES else 0


def run_proof(work, port):
    server = "https://127.0.0.1:%d" % port
    ca = os.path.join(work, "ca.crt")
    env = dict(os.environ, KUBECONFIG=os.path.join(work, "no-kubeconfig"), HOME=work)

    def k(*args, token="admin-token"):
        cmd = [KUBECTL, "--server", server, "--token", token, "--certificate-authority", ca, "-n", "shop"] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def get(*args):
        code, out, err = k("get", *args, "-o", "json")
        if code != 0:
            check(False, "kubectl get " + " ".join(args), err)
            return {}
        return json.loads(out)

    # get (the actuators' first read) and list by label (the service verification)
    svc = get("service", "checkout")
    check(svc.get("spec", {}).get("selector", {}).get("track") == "canary", "get service")
    rv = svc.get("metadata", {}).get("resourceVersion", "")
    slices = get("endpointslices", "-l", "kubernetes.io/service-name=checkout")
    names = [e["targetRef"]["name"] for s in slices.get("items", []) for e in s.get("endpoints", [])]
    check(names == ["v2-a"], "list endpointslices by kubernetes.io/service-name", str(names))
    pods = get("pods", "-l", "app=checkout,track=stable")
    check([p["metadata"]["name"] for p in pods.get("items", [])] == ["v1-a"], "list pods by label selector")

    # strategic merge patch with a resourceVersion precondition (kubernetes-service)
    code, out, err = k("patch", "service", "checkout", "--type", "strategic", "-p",
                       json.dumps({"metadata": {"resourceVersion": rv}, "spec": {"selector": {"track": "stable"}}}))
    check(code == 0, "strategic merge patch with the current resourceVersion", err)
    check(get("service", "checkout")["spec"]["selector"] == {"app": "checkout", "track": "stable"},
          "the patch changed only the label")
    slices = get("endpointslices", "-l", "kubernetes.io/service-name=checkout")
    names = [e["targetRef"]["name"] for s in slices.get("items", []) for e in s.get("endpoints", [])]
    check(names == ["v1-a"], "the EndpointSlice follows the new selector", str(names))
    code, out, err = k("patch", "service", "checkout", "--type", "strategic", "-p",
                       json.dumps({"metadata": {"resourceVersion": rv}, "spec": {"selector": {"track": "canary"}}}))
    check(code != 0 and "Error from server (Conflict): Operation cannot be fulfilled on services \"checkout\": "
          "the object has been modified" in err, "a stale resourceVersion gets 409 Conflict", err)
    code, out, err = k("patch", "service", "checkout", "--type", "merge", "-p",
                       json.dumps({"spec": {"selector": {"track": "not valid!"}}}))
    check(code != 0 and "is invalid" in err and "spec.selector" in err, "an invalid label value gets 422 Invalid", err)

    # JSON patch, and its test operation
    code, out, err = k("patch", "service", "checkout", "--type", "json", "-p",
                       json.dumps([{"op": "replace", "path": "/spec/selector/track", "value": "canary"}]))
    check(code == 0 and get("service", "checkout")["spec"]["selector"]["track"] == "canary", "JSON patch replace", err)
    code, out, err = k("patch", "service", "checkout", "--type", "json", "-p",
                       json.dumps([{"op": "test", "path": "/spec/selector/track", "value": "stable"}]))
    check(code != 0 and "test failed" in err, "a failing JSON patch test operation is refused", err)

    # 403 and 404 as Status bodies
    code, out, err = k("patch", "service", "checkout", "-p", '{"spec":{"selector":{"track":"stable"}}}',
                       token="viewer-token")
    check(code != 0 and 'Error from server (Forbidden): services "checkout" is forbidden: User '
          '"system:serviceaccount:shop:viewer" cannot patch resource "services" in API group "" in the namespace "shop"'
          in err, "403 Forbidden for a token without the verb", err)
    code, out, err = k("get", "service", "nope")
    check(code != 0 and 'Error from server (NotFound): services "nope" not found' in err, "404 NotFound", err)
    code, out, err = k("get", "service", "checkout", token="wrong-token")
    check(code != 0 and ("Unauthorized" in err or "provide credentials" in err), "401 for an unknown token", err)

    # the scale subresource (kubernetes-scale)
    scale = get("deployment", "checkout-v2", "--subresource", "scale")
    check(scale.get("kind") == "Scale" and scale.get("apiVersion") == "autoscaling/v1" and
          scale.get("spec", {}).get("replicas") == 2, "get the scale subresource", json.dumps(scale))
    code, out, err = k("patch", "deployment", "checkout-v2", "--subresource", "scale", "--type", "merge", "-p",
                       json.dumps({"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                                   "spec": {"replicas": 0}}))
    check(code == 0, "merge patch of the scale subresource", err)
    d = get("deployment", "checkout-v2")
    check(d["spec"]["replicas"] == 0 and d["status"].get("readyReplicas", 0) == 0,
          "the Deployment follows its scale", json.dumps(d.get("status")))
    code, out, err = k("patch", "deployment", "checkout-v2", "--subresource", "scale", "--type", "merge", "-p",
                       json.dumps({"metadata": {"resourceVersion": scale["metadata"]["resourceVersion"]},
                                   "spec": {"replicas": 1}}))
    check(code != 0 and "Conflict" in err, "a stale scale patch gets 409", err)
    code, out, err = k("scale", "deployment", "checkout-v2", "--replicas", "2")
    check(code == 0 and get("deployment", "checkout-v2")["status"]["readyReplicas"] == 2, "kubectl scale", err)
    code, out, err = k("patch", "deployment", "checkout-v2", "--subresource", "scale", "--type", "merge", "-p",
                       '{"spec":{"replicas":-1}}')
    check(code != 0 and "is invalid" in err, "negative replicas get 422", err)

    # HTTPRoute (a custom resource): merge patch works, strategic merge is 415
    route = get("httproute", "checkout")
    rules = route["spec"]["rules"]
    rules[0]["backendRefs"][0]["weight"], rules[0]["backendRefs"][1]["weight"] = 100, 0
    code, out, err = k("patch", "httproute", "checkout", "--type", "merge", "-p",
                       json.dumps({"metadata": {"resourceVersion": route["metadata"]["resourceVersion"]},
                                   "spec": {"rules": rules}}))
    after = get("httproute", "checkout")
    check(code == 0 and after["spec"]["rules"] == rules and after["spec"]["parentRefs"] == [{"name": "public"}],
          "merge patch of HTTPRoute backendRefs weights keeps the other fields", err)
    code, out, err = k("patch", "httproute", "checkout", "--type", "strategic", "-p", '{"metadata":{"labels":{"a":"b"}}}')
    check(code != 0 and "application/strategic-merge-patch+json is not supported" in err and "unknown format" in err,
          "strategic merge on a custom resource gets 415", err)

    # Argo Rollout abort through the status subresource; the main resource ignores status
    code, out, err = k("patch", "rollout", "checkout", "--type", "merge", "-p", '{"status":{"abort":true}}')
    check(code == 0 and "abort" not in get("rollout", "checkout")["status"],
          "status changes on the main resource are ignored", err)
    code, out, err = k("patch", "rollout", "checkout", "--subresource", "status", "--type", "merge", "-p",
                       '{"status":{"abort":true}}')
    st = get("rollout", "checkout")["status"]
    check(code == 0 and st.get("abort") is True and st.get("phase") == "Degraded",
          "merge patch of the status subresource aborts the Rollout", err + json.dumps(st))

    # a kubeconfig with a named context and client certificate data
    def b64(path):
        return base64.b64encode(open(path, "rb").read()).decode()
    kubeconfig = os.path.join(work, "kubeconfig")
    with open(kubeconfig, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "other",
                   "clusters": [{"name": "fake", "cluster": {"server": server,
                                                              "certificate-authority-data": b64(ca)}}],
                   "users": [{"name": "cert", "user": {"client-certificate-data": b64(os.path.join(work, "client.crt")),
                                                        "client-key-data": b64(os.path.join(work, "client.key"))}}],
                   "contexts": [{"name": "other", "context": {"cluster": "nowhere", "user": "cert"}},
                                {"name": "shop", "context": {"cluster": "fake", "user": "cert", "namespace": "shop"}}]},
                  f)
    r = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "--context", "shop", "get", "service", "checkout",
                        "-o", "jsonpath={.metadata.name}"], capture_output=True, text=True, env=env, timeout=60)
    check(r.returncode == 0 and r.stdout == "checkout", "kubeconfig named context with a client certificate", r.stderr)


if __name__ == "__main__":
    sys.exit(main())
