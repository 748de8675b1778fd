#include "actuators/kubernetes/kubernetes.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "common/json_text.h"
#include "common/http/url.h"

namespace rs::actuators {

namespace {

using json = nlohmann::json;
using Deadline = std::chrono::steady_clock::time_point;
using kubernetes::Client;
using kubernetes::Reply;
using namespace std::chrono_literals;

constexpr int kMaxConflicts = 5;  // re-reads after a 409 before giving up (retryable)
constexpr auto kPollInterval = 200ms;

// Object names go into URL paths: DNS subdomain characters only.
bool valid_object_name(const std::string& name) {
  return !name.empty() && name.size() <= 253 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '-' || c == '.';
  });
}

const json& at(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string text(const json& value) { return value.is_string() ? value.get<std::string>() : ""; }

long long number(const json& value, long long fallback = 0) {
  return value.is_number_integer() ? value.get<long long>() : fallback;
}

struct Common {
  std::string type, ns, name;
  kubernetes::ConnectionSettings connection;
};

// The Env's clock; an Env built without one gets the system clocks.
Clock& clock_of(const Environment& env) { return env.env->clock ? *env.env->clock : *system_env().clock; }

// The test seam's transport, else one from the Env (curl in production).
std::shared_ptr<rs::HttpTransport> transport_for(const Environment& env, const KubernetesSeams& seams) {
  if (seams.transport) return seams.transport;
  if (env.env->make_http) return std::shared_ptr<rs::HttpTransport>(env.env->make_http());
  return nullptr;
}

Common read_common(const std::string& type, Settings& s, const KubernetesSeams& seams) {
  Common c;
  c.type = type;
  c.ns = s.string("namespace");
  c.name = s.string("name");
  for (auto [key, value] : {std::pair<const char*, const std::string*>{"namespace", &c.ns}, {"name", &c.name}})
    if (!value->empty() && !valid_object_name(*value))
      s.error(key, "'" + *value + "' is not a Kubernetes object name (lowercase letters, digits, '-', '.')");
  auto& k = c.connection;
  k.kubeconfig = s.string("kubeconfig", "");
  k.context = s.string("context", "");
  k.api_server = s.string("api_server", "");
  k.token_file = s.string("token_file", "");
  k.ca_file = s.string("ca_file", "");
  k.request_timeout = s.duration("request_timeout", k.request_timeout);
  if (k.request_timeout.count() <= 0) s.error("request_timeout", "must be greater than 0");
  if (!k.kubeconfig.empty() && !k.api_server.empty())
    s.error("api_server", "set either kubeconfig (+ context) or api_server (+ token_file, ca_file), not both");
  if (!k.context.empty() && k.kubeconfig.empty()) s.error("context", "needs kubeconfig");
  if (!k.kubeconfig.empty() && (!k.token_file.empty() || !k.ca_file.empty()))
    s.error("kubeconfig", "token_file and ca_file go with api_server; a kubeconfig names its own");
  if (!k.api_server.empty()) {
    if (k.api_server.rfind("https://", 0) != 0 && k.api_server.rfind("http://", 0) != 0)
      s.error("api_server", "must start with https:// (got '" + k.api_server + "')");
    if (k.token_file.empty()) s.error("token_file", "api_server needs token_file (the bearer token's file)");
  }
  if (!seams.service_account_dir.empty()) k.service_account_dir = seams.service_account_dir;
  k.getenv = seams.getenv;
  return c;
}

// The shared part: lazily resolved client (credentials may appear after the config is checked,
// e.g. a projected token), describe(), and failures worded alike.
class KubernetesActuator : public Actuator {
 public:
  // Deadlines are in `clock`'s mono() time (the executor takes them from the Env's clock).
  KubernetesActuator(Common common, std::shared_ptr<rs::HttpTransport> transport, Clock& clock)
      : common_(std::move(common)), transport_(std::move(transport)), clock_(clock) {}

  std::string type() const override { return common_.type; }

  ActResult probe(Deadline deadline) final {
    return with_client([&](Client& c) { return probe_with(c, deadline); });
  }
  ActResult rollback(const DecisionContext&, Deadline deadline) final {
    return with_client([&](Client& c) { return rollback_with(c, deadline); });
  }

 protected:
  // What probe() and rollback() do once the client is there.
  virtual ActResult probe_with(Client& c, Deadline deadline) = 0;
  virtual ActResult rollback_with(Client& c, Deadline deadline) = 0;

  // Runs `act` with the client, or returns why there is none.
  template <typename F>
  ActResult with_client(F act) {
    ActResult failure;
    Client* c = client(&failure);
    return c ? act(*c) : failure;
  }

  // The words for one object's read-decide-patch loop: "read Service", "patch selector", and the
  // object as the log names it after a 409 ("the Service").
  struct Doing {
    std::string read, patch, object;
  };

  // The read-decide-patch loop every writing actuator runs: GET `path`; `decide(read, &patch)`
  // returns a result to stop there (noop, or a failure), or fills `patch`, which is sent with the
  // resourceVersion just read as precondition. A 409 (someone changed the object between our
  // read and our patch) reads again and decides again, never overwrites, up to kMaxConflicts
  // times. `done(read, patched)` makes the result of an accepted patch (verification).
  template <typename Decide, typename Done>
  ActResult patch_with_retry(Client& c, const std::string& path, const std::string& content_type, const Doing& doing,
                             Deadline deadline, Decide decide, Done done) {
    for (int attempt = 1;; ++attempt) {
      Reply r = c.get(path, deadline);
      if (!r.ok()) return fail(doing.read, r);
      json patch;
      if (std::optional<ActResult> stop = decide(r, &patch)) return *stop;
      const std::string rv = resource_version(r);
      patch["metadata"]["resourceVersion"] = rv;
      Reply p = c.patch(path, content_type, patch, deadline);
      if (p.conflict()) {
        if (attempt >= kMaxConflicts || !time_left(deadline)) return lost_races(doing.patch);
        spdlog::info("{}: {} changed since resourceVersion {} (409); reading it again", describe(), doing.object, rv);
        continue;
      }
      if (!p.ok()) return fail(doing.patch, p);
      return done(r, p);
    }
  }

  static std::string resource_version(const Reply& r) { return text(at(at(r.body, "metadata"), "resourceVersion")); }

  const std::string& ns() const { return common_.ns; }
  const std::string& name() const { return common_.name; }
  std::string where() const { return common_.type + " " + common_.ns + "/" + common_.name; }

  // The client, or null with *failure set.
  Client* client(ActResult* failure) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!client_) {
      kubernetes::Cluster cluster;
      std::string error;
      bool retryable = true;
      if (!kubernetes::resolve_cluster(common_.connection, &cluster, &error, &retryable)) {
        *failure = ActResult::failure(describe() + ": " + error + (retryable ? "" : " (not retried)"), retryable);
        return nullptr;
      }
      client_ = std::make_unique<Client>(std::move(cluster), transport_, &clock_);
    }
    return client_.get();
  }

  ActResult fail(const std::string& doing, const Reply& reply) const {
    std::string detail = describe() + ": " + doing + ": " + reply.describe();
    if (!reply.retryable()) detail += " (not retried)";
    return ActResult::failure(detail, reply.retryable());
  }

  ActResult lost_races(const std::string& doing) const {
    return ActResult::failure(describe() + ": " + doing + ": still conflicting after " + std::to_string(kMaxConflicts) +
                                  " re-reads (someone else keeps changing the object)",
                              true);
  }

  bool time_left(Deadline deadline) const { return clock_.mono() < deadline; }

  // Calls `done` every kPollInterval until it returns true or the deadline comes (or the clock
  // is interrupted: the sidecar is stopping). Sleeps on the Env's clock, so tests need not wait.
  template <typename F>
  bool poll_until(Deadline deadline, F done) {
    for (;;) {
      if (done()) return true;
      if (clock_.mono() + kPollInterval >= deadline) return false;
      if (!clock_.sleep_until(clock_.mono() + kPollInterval)) return false;
    }
  }

  std::string api_path(const std::string& prefix, const std::string& plural, const std::string& object) const {
    return prefix + "/namespaces/" + common_.ns + "/" + plural + "/" + object;
  }

 private:
  Common common_;
  std::shared_ptr<rs::HttpTransport> transport_;
  Clock& clock_;
  std::mutex mu_;
  std::unique_ptr<Client> client_;
};

// ---------------------------------------------------------------------------------------------
class ServiceActuator final : public KubernetesActuator {
 public:
  ServiceActuator(Common common, std::shared_ptr<rs::HttpTransport> transport, Clock& clock, std::string label,
                  std::string stable, std::string canary)
      : KubernetesActuator(std::move(common), std::move(transport), clock),
        label_(std::move(label)),
        stable_(std::move(stable)),
        canary_(std::move(canary)) {}

  std::string describe() const override {
    return where() + " (selector " + label_ + "=" + canary_ + " -> " + label_ + "=" + stable_ + ")";
  }

  ActResult probe_with(Client& c, Deadline deadline) override {
    Reply r = c.get(path(), deadline);
    if (!r.ok()) return fail("read Service", r);
    const json& selector = at(at(r.body, "spec"), "selector");
    if (!selector.is_object() || !selector.contains(label_))
      return ActResult::failure(describe() + ": the Service's selector has no label " + label_, false);
    return ActResult::noop(describe() + ": reachable, selector " + label_ + "=" + text(at(selector, label_.c_str())));
  }

  ActResult rollback_with(Client& c, Deadline deadline) override {
    std::string current;
    return patch_with_retry(
        c, path(), "application/strategic-merge-patch+json", {"read Service", "patch selector", "the Service"},
        deadline,
        [&](const Reply& r, json* patch) -> std::optional<ActResult> {
          const json& selector = at(at(r.body, "spec"), "selector");
          if (!selector.is_object())
            return ActResult::failure(
                describe() + ": the Service has no spec.selector (its endpoints are managed by hand)", false);
          current = text(at(selector, label_.c_str()));
          if (current == stable_)
            return ActResult::noop(describe() + ": selector already " + label_ + "=" + stable_ + " (resourceVersion " +
                                   resource_version(r) + ")");
          *patch = {{"spec", {{"selector", {{label_, stable_}}}}}};
          return std::nullopt;
        },
        [&](const Reply& r, const Reply& p) {
          const std::string was = current.empty() ? "(unset)" : current;
          return verify(c,
                        "selector " + label_ + " " + was + " -> " + stable_ + " (resourceVersion " +
                            resource_version(r) + " -> " + resource_version(p) + ")",
                        deadline);
        });
  }

 private:
  std::string path() const { return api_path("/api/v1", "services", name()); }

  ActResult verify(Client& c, const std::string& did, Deadline deadline) {
    Reply back = c.get(path(), deadline);
    if (!back.ok()) return fail("read back Service", back);
    const json selector = at(at(back.body, "spec"), "selector");
    if (text(at(selector, label_.c_str())) != stable_)
      return ActResult::failure(
          describe() + ": " + did + ", but reading it back shows " + label_ + "=" + text(at(selector, label_.c_str())),
          true);
    // The EndpointSlices of the Service must come to list only pods the new selector selects.
    std::string pod_selector;
    for (const auto& [k, v] : selector.items()) pod_selector += (pod_selector.empty() ? "" : ",") + k + "=" + text(v);
    const std::string slices = "/apis/discovery.k8s.io/v1/namespaces/" + ns() + "/endpointslices?labelSelector=" +
                               rs::percent_encode("kubernetes.io/service-name=" + name());
    const std::string pods = "/api/v1/namespaces/" + ns() + "/pods?labelSelector=" + rs::percent_encode(pod_selector);
    std::string note;
    bool done = poll_until(deadline, [&] {
      Reply s = c.get(slices, deadline);
      if (s.status == 403 || s.status == 404) {
        note = "EndpointSlices not checked (" + s.describe() + ")";
        return true;
      }
      if (!s.ok()) {
        note = "listing EndpointSlices: " + s.describe();
        return false;
      }
      Reply p = c.get(pods, deadline);
      if (p.status == 403 || p.status == 404) {
        note = "EndpointSlices not checked against pods (" + p.describe() + ")";
        return true;
      }
      if (!p.ok()) {
        note = "listing pods: " + p.describe();
        return false;
      }
      std::set<std::string> stable_pods;
      for (const auto& pod : at(p.body, "items")) stable_pods.insert(text(at(at(pod, "metadata"), "name")));
      std::vector<std::string> others;
      int endpoints = 0;
      for (const auto& slice : at(s.body, "items")) {
        for (const auto& ep : at(slice, "endpoints")) {
          ++endpoints;
          const json& ref = at(ep, "targetRef");
          if (text(at(ref, "kind")) == "Pod" && stable_pods.count(text(at(ref, "name")))) continue;
          others.push_back(text(at(ref, "name")).empty() ? common::dump_json(at(ep, "addresses"))
                                                         : text(at(ref, "name")));
        }
      }
      if (others.empty()) {
        note = "EndpointSlices list " + std::to_string(endpoints) + " endpoint(s), all stable pods";
        if (endpoints == 0) note += " (none: no stable pod is ready)";
        return true;
      }
      std::string list;
      for (const auto& o : others) list += (list.empty() ? "" : ", ") + o;
      note = "EndpointSlices still list pods the selector does not select: " + list;
      return false;
    });
    if (!done) return ActResult::failure(describe() + ": " + did + ", but by the deadline " + note, true);
    return ActResult::changed(describe() + ": " + did + "; " + note);
  }

  std::string label_, stable_, canary_;
};

// ---------------------------------------------------------------------------------------------
class ScaleActuator final : public KubernetesActuator {
 public:
  ScaleActuator(Common common, std::shared_ptr<rs::HttpTransport> transport, Clock& clock, std::string canary,
                std::optional<long long> stable_replicas)
      : KubernetesActuator(std::move(common), std::move(transport), clock),
        canary_(std::move(canary)),
        stable_replicas_(stable_replicas) {}

  std::string describe() const override {
    std::string d = type() + " " + ns() + "/" + canary_ + " -> 0 replicas";
    if (stable_replicas_) d += ", " + name() + " >= " + std::to_string(*stable_replicas_);
    return d;
  }

  ActResult probe_with(Client& c, Deadline deadline) override {
    std::string detail;
    for (const std::string& d : {canary_, name()}) {
      Reply r = c.get(scale_path(d), deadline);
      if (!r.ok()) return fail("read scale of Deployment " + d, r);
      detail += (detail.empty() ? "" : ", ") + d + " " + std::to_string(number(at(at(r.body, "spec"), "replicas"))) +
                " replicas";
    }
    return ActResult::noop(describe() + ": reachable, " + detail);
  }

  ActResult rollback_with(Client& c, Deadline deadline) override {
    std::vector<std::string> did;
    std::string already;  // this call's own: rollback() may run again and from several threads
    // Stable capacity first, so the canary's traffic has somewhere to go.
    if (stable_replicas_) {
      if (auto f = ensure(c, name(), *stable_replicas_, true, deadline, &did, &already)) return *f;
    }
    if (auto f = ensure(c, canary_, 0, false, deadline, &did, &already)) return *f;
    if (did.empty()) return ActResult::noop(describe() + ": already scaled (" + already + ")");
    std::string state;
    bool ready = poll_until(deadline, [&] {
      state.clear();
      Reply cr = c.get(deployment_path(canary_), deadline);
      if (!cr.ok()) {
        state = "reading Deployment " + canary_ + ": " + cr.describe();
        return false;
      }
      const long long canary_ready = number(at(at(cr.body, "status"), "readyReplicas"));
      const long long canary_replicas = number(at(at(cr.body, "status"), "replicas"));
      state =
          canary_ + " readyReplicas " + std::to_string(canary_ready) + " replicas " + std::to_string(canary_replicas);
      bool ok = canary_ready == 0 && canary_replicas == 0;
      if (stable_replicas_) {
        Reply sr = c.get(deployment_path(name()), deadline);
        if (!sr.ok()) {
          state += "; reading Deployment " + name() + ": " + sr.describe();
          return false;
        }
        const long long stable_ready = number(at(at(sr.body, "status"), "readyReplicas"));
        state += ", " + name() + " readyReplicas " + std::to_string(stable_ready);
        ok = ok && stable_ready >= *stable_replicas_;
      }
      return ok;
    });
    std::string what;
    for (const auto& d : did) what += (what.empty() ? "" : ", ") + d;
    if (!ready) return ActResult::failure(describe() + ": scaled (" + what + ") but by the deadline " + state, true);
    return ActResult::changed(describe() + ": scaled " + what + "; verified " + state);
  }

 private:
  std::string scale_path(const std::string& d) const { return deployment_path(d) + "/scale"; }
  std::string deployment_path(const std::string& d) const { return api_path("/apis/apps/v1", "deployments", d); }

  // Sets Deployment `d` to `want` replicas (at least `want` when `at_least`) through the scale
  // subresource; appends what changed to *did, or what was already there to *already. Returns a
  // failure, or nullopt.
  std::optional<ActResult> ensure(Client& c, const std::string& d, long long want, bool at_least, Deadline deadline,
                                  std::vector<std::string>* did, std::string* already) {
    long long current = -1;
    ActResult r = patch_with_retry(
        c, scale_path(d), "application/merge-patch+json",
        {"read scale of Deployment " + d, "scale Deployment " + d + " to " + std::to_string(want),
         "Deployment " + d + " scale"},
        deadline,
        [&](const Reply& read, json* patch) -> std::optional<ActResult> {
          current = number(at(at(read.body, "spec"), "replicas"), -1);
          if (at_least ? current >= want : current == want) {
            *already += (already->empty() ? "" : ", ") + d + " " + std::to_string(current) + " replicas";
            return ActResult::noop("");
          }
          *patch = {{"spec", {{"replicas", want}}}};
          return std::nullopt;
        },
        [&](const Reply&, const Reply&) {
          did->push_back(d + " " + std::to_string(current) + " -> " + std::to_string(want));
          return ActResult::changed("");
        });
    if (!r.ok) return r;
    return std::nullopt;
  }

  std::string canary_;
  std::optional<long long> stable_replicas_;
};

// ---------------------------------------------------------------------------------------------
class HttpRouteActuator final : public KubernetesActuator {
 public:
  HttpRouteActuator(Common common, std::shared_ptr<rs::HttpTransport> transport, Clock& clock, std::string stable,
                    std::string canary)
      : KubernetesActuator(std::move(common), std::move(transport), clock),
        stable_(std::move(stable)),
        canary_(std::move(canary)) {}

  std::string describe() const override {
    return where() + " (backendRefs stable " + stable_ + ", canary " + canary_ + ")";
  }
  bool supports_weights() const override { return true; }

  ActResult probe_with(Client& c, Deadline deadline) override {
    Reply r = c.get(path(), deadline);
    if (!r.ok()) return fail("read HTTPRoute", r);
    json rules = at(at(r.body, "spec"), "rules");
    Plan plan = plan_weights(&rules, 0, true);
    if (!plan.error.empty()) return ActResult::failure(describe() + ": " + plan.error, false);
    return ActResult::noop(describe() + ": reachable, " + plan.seen);
  }

  ActResult rollback_with(Client& c, Deadline deadline) override { return apply(c, 0, true, deadline); }

  ActResult set_canary_weight(int percent, const DecisionContext&, Deadline deadline) override {
    if (percent < 0 || percent > 100)
      return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
    return with_client([&](Client& c) { return apply(c, percent, false, deadline); });
  }

 private:
  struct Plan {
    int rules = 0;      // rules that route to the canary backend
    bool there = true;  // every such rule already has the target weights
    std::string seen;   // "rule 0: stable 90, canary 10; ..."
    std::string error;  // a rule that cannot be changed
  };

  std::string path() const { return api_path("/apis/gateway.networking.k8s.io/v1", "httproutes", name()); }

  static bool is(const json& ref, const std::string& backend) {
    const std::string kind = text(at(ref, "kind"));
    return text(at(ref, "name")) == backend && (kind.empty() || kind == "Service");
  }

  // Sets, in *rules, canary `canary_weight` and stable 100 - canary_weight in every rule that
  // routes to the canary, and says whether they were already there (for a rollback: canary 0
  // and any non-zero stable weight, which sends all of the rule's traffic to stable).
  Plan plan_weights(json* rules, int canary_weight, bool rollback) const {
    Plan plan;
    if (!rules->is_array()) {
      plan.error = "the HTTPRoute has no spec.rules";
      return plan;
    }
    for (std::size_t i = 0; i < rules->size(); ++i) {
      // Checked access: operator[] would throw on a rule that is not an object, and add a null
      // backendRefs (sent back in the patch) to one without them.
      json& rule = (*rules)[i];
      if (!rule.is_object() || !rule.contains("backendRefs") || !rule["backendRefs"].is_array()) continue;
      json& refs = rule["backendRefs"];
      std::vector<json*> canary, stable;
      for (auto& ref : refs) {
        if (is(ref, canary_))
          canary.push_back(&ref);
        else if (is(ref, stable_))
          stable.push_back(&ref);
      }
      if (canary.empty()) continue;
      if (stable.empty()) {
        plan.error = "rule " + std::to_string(i) + " routes to " + canary_ + " but has no backendRef " + stable_;
        return plan;
      }
      ++plan.rules;
      std::string weights;
      bool rule_there = true;
      for (json* ref : stable) {
        const long long w = number(at(*ref, "weight"), 1);  // Gateway API default weight: 1
        weights += " stable " + std::to_string(w);
        if (rollback ? w <= 0 : w != 100 - canary_weight) rule_there = false;
      }
      for (json* ref : canary) {
        const long long w = number(at(*ref, "weight"), 1);
        weights += " canary " + std::to_string(w);
        if (w != canary_weight) rule_there = false;
      }
      if (!rule_there) {
        for (json* ref : stable) (*ref)["weight"] = 100 - canary_weight;
        for (json* ref : canary) (*ref)["weight"] = canary_weight;
      }
      plan.there = plan.there && rule_there;
      plan.seen += (plan.seen.empty() ? "" : ";") + std::string(" rule ") + std::to_string(i) + ":" + weights;
    }
    if (plan.rules == 0) plan.seen = "no rule routes to " + canary_;
    return plan;
  }

  ActResult apply(Client& c, int canary_weight, bool rollback, Deadline deadline) {
    const std::string target = "canary " + std::to_string(canary_weight) + "%";
    Plan plan;
    return patch_with_retry(
        c, path(), "application/merge-patch+json", {"read HTTPRoute", "patch backendRefs weights", "the HTTPRoute"},
        deadline,
        [&](const Reply& r, json* patch) -> std::optional<ActResult> {
          json rules = at(at(r.body, "spec"), "rules");
          plan = plan_weights(&rules, canary_weight, rollback);
          if (!plan.error.empty()) return ActResult::failure(describe() + ": " + plan.error, false);
          if (plan.rules == 0) {
            if (rollback)
              return ActResult::noop(describe() + ": " + plan.seen + " (all traffic goes elsewhere already)");
            return ActResult::failure(describe() + ": " + plan.seen + ": cannot set a canary weight", false);
          }
          if (plan.there) return ActResult::noop(describe() + ": already" + plan.seen + " (" + target + ")");
          // The rules as read, with only the weights changed: a merge patch replaces the list, and
          // the resourceVersion precondition makes sure nobody changed it in between.
          *patch = {{"spec", {{"rules", rules}}}};
          return std::nullopt;
        },
        [&](const Reply& r, const Reply&) {
          Reply back = c.get(path(), deadline);
          if (!back.ok()) return fail("read back HTTPRoute", back);
          json now_rules = at(at(back.body, "spec"), "rules");
          Plan check = plan_weights(&now_rules, canary_weight, rollback);
          if (!check.error.empty() || !check.there)
            return ActResult::failure(describe() + ": patched, but reading it back shows" + check.seen + check.error,
                                      true);
          return ActResult::changed(describe() + ": was" + plan.seen + "; now" + check.seen + " (" + target +
                                    ", resourceVersion " + resource_version(r) + " -> " + resource_version(back) + ")");
        });
  }

  std::string stable_, canary_;
};

// ---------------------------------------------------------------------------------------------
class RolloutActuator final : public KubernetesActuator {
 public:
  using KubernetesActuator::KubernetesActuator;

  std::string describe() const override { return where(); }

  ActResult probe_with(Client& c, Deadline deadline) override {
    Reply r = c.get(path(), deadline);
    if (!r.ok()) return fail("read Rollout", r);
    return ActResult::noop(describe() + ": reachable, " + state(r.body));
  }

  ActResult rollback_with(Client& c, Deadline deadline) override {
    Reply r = c.get(path(), deadline);
    if (!r.ok()) return fail("read Rollout", r);
    const json& status = at(r.body, "status");
    if (at(status, "abort") == true) return ActResult::noop(describe() + ": already aborted (" + state(r.body) + ")");
    const std::string current = text(at(status, "currentPodHash")), stable = text(at(status, "stableRS"));
    if (!current.empty() && current == stable)
      return ActResult::noop(describe() + ": no update in progress, the stable ReplicaSet " + stable + " is current (" +
                             state(r.body) + ")");
    // What `kubectl argo rollouts abort` sends.
    Reply p = c.patch(path() + "/status", "application/merge-patch+json", {{"status", {{"abort", true}}}}, deadline);
    if (!p.ok()) return fail("abort (patch status.abort)", p);
    std::string last;
    bool aborted = poll_until(deadline, [&] {
      Reply back = c.get(path(), deadline);
      if (!back.ok()) {
        last = "reading it back: " + back.describe();
        return false;
      }
      last = state(back.body);
      const json& st = at(back.body, "status");
      return at(st, "abort") == true && text(at(st, "phase")) == "Degraded";
    });
    if (!aborted)
      return ActResult::failure(describe() + ": status.abort set, but by the deadline the controller shows " + last +
                                    " (is the Argo Rollouts controller running?)",
                                true);
    return ActResult::changed(describe() + ": aborted; " + last);
  }

 private:
  std::string path() const { return api_path("/apis/argoproj.io/v1alpha1", "rollouts", name()); }

  static std::string state(const json& rollout) {
    const json& st = at(rollout, "status");
    std::string s = "phase " + (text(at(st, "phase")).empty() ? std::string("(none)") : text(at(st, "phase")));
    if (!text(at(st, "message")).empty()) s += ": " + text(at(st, "message"));
    return s;
  }
};

}  // namespace

std::unique_ptr<Actuator> make_kubernetes_service_actuator(Settings& settings, const Environment& env,
                                                           const KubernetesSeams& seams) {
  Common common = read_common("kubernetes-service", settings, seams);
  std::string label = settings.string("label");
  std::string stable = settings.string("stable");
  std::string canary = settings.string("canary");
  if (!stable.empty() && stable == canary) settings.error("canary", "must differ from stable");
  return std::make_unique<ServiceActuator>(std::move(common), transport_for(env, seams), clock_of(env),
                                           std::move(label), std::move(stable), std::move(canary));
}

std::unique_ptr<Actuator> make_kubernetes_scale_actuator(Settings& settings, const Environment& env,
                                                         const KubernetesSeams& seams) {
  Common common = read_common("kubernetes-scale", settings, seams);
  std::string canary = settings.string("canary_deployment");
  if (!canary.empty() && !valid_object_name(canary))
    settings.error("canary_deployment", "'" + canary + "' is not a Kubernetes object name");
  if (!canary.empty() && canary == common.name)
    settings.error("canary_deployment", "must differ from name (the stable Deployment)");
  std::optional<long long> stable_replicas;
  if (settings.has("stable_replicas")) {
    stable_replicas = settings.integer("stable_replicas");
    if (*stable_replicas < 1) settings.error("stable_replicas", "must be at least 1");
  }
  return std::make_unique<ScaleActuator>(std::move(common), transport_for(env, seams), clock_of(env), std::move(canary),
                                         stable_replicas);
}

std::unique_ptr<Actuator> make_gateway_httproute_actuator(Settings& settings, const Environment& env,
                                                          const KubernetesSeams& seams) {
  Common common = read_common("gateway-httproute", settings, seams);
  std::string stable = settings.string("stable_backend");
  std::string canary = settings.string("canary_backend");
  if (!stable.empty() && stable == canary) settings.error("canary_backend", "must differ from stable_backend");
  return std::make_unique<HttpRouteActuator>(std::move(common), transport_for(env, seams), clock_of(env),
                                             std::move(stable), std::move(canary));
}

std::unique_ptr<Actuator> make_argo_rollout_actuator(Settings& settings, const Environment& env,
                                                     const KubernetesSeams& seams) {
  Common common = read_common("argo-rollout", settings, seams);
  return std::make_unique<RolloutActuator>(std::move(common), transport_for(env, seams), clock_of(env));
}

}  // namespace rs::actuators
