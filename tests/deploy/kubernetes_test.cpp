// docker/kubernetes/overlays/{gamma,prod}, rendered by `kubectl kustomize`: every document
// parses, and the pieces reference each other correctly — the sidecar's probes and the PodMonitor use the port of the
// config's `listen`, the mounts hold the paths the config names, the selectors select the pod, and the config in the
// ConfigMap passes `rollback-sidecar check`, the Kubernetes actuators' ServiceAccount is bound to a Role granting what
// they use and no wildcard, and the output round-trips through `kubectl apply --dry-run=client` against the fake API
// server (tests/fakes/kubernetes/).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "tests/deploy/deploy_support.h"
#include "tests/fakes/kubernetes/fake_apiserver.h"

namespace rs::deploy {
namespace {

// Renders docker/kubernetes/overlays/<overlay> into `file`.
RunResult render(const std::string& overlay, const std::string& file) {
  const std::string kubectl = require_tool("kubectl", "kubectl (see scripts/install-deps.sh)");
  RunResult r = run({kubectl, "kustomize", source_path("docker/kubernetes/overlays/" + overlay)});
  rs::testing::write_file(file, r.out);
  return r;
}

class KubernetesManifestTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    kManifest = "kubectl kustomize docker/kubernetes/overlays/" + GetParam();
    RunResult r = render(GetParam(), dir_.file("rendered.yml"));
    ASSERT_EQ(r.exit_code, 0) << kManifest << " failed:\n" << r.describe();
    docs_ = load_all(dir_.file("rendered.yml"));
    ASSERT_FALSE(docs_.empty()) << kManifest << " has no documents";
    for (const auto& d : docs_) {
      if (!d || d.IsNull()) continue;  // an empty document (leading ---)
      ASSERT_TRUE(d.IsMap()) << "a document of " << kManifest << " is not a mapping";
      const std::string kind = str(d["kind"]);
      const std::string name = str(d["metadata"]["name"]);
      ASSERT_FALSE(kind.empty()) << "a document without kind";
      ASSERT_FALSE(name.empty()) << "a " << kind << " without metadata.name";
      ASSERT_FALSE(str(d["apiVersion"]).empty()) << kind << "/" << name << " without apiVersion";
      ASSERT_TRUE(by_kind_[kind].emplace(name, d).second) << "duplicate " << kind << "/" << name;
    }
    ASSERT_EQ(by_kind_["Deployment"].size(), 1u) << "expected one Deployment";
    deployment_ = by_kind_["Deployment"].begin()->second;
    pod_ = deployment_["spec"]["template"];
    ASSERT_TRUE(pod_.IsMap()) << "Deployment without spec.template";
    for (const auto& c : pod_["spec"]["containers"]) containers_[str(c["name"])] = static_cast<const YAML::Node&>(c);
    ASSERT_EQ(containers_.count("rollback-sidecar"), 1u) << "no container named rollback-sidecar";
    ASSERT_EQ(containers_.count("app"), 1u) << "no app container beside the sidecar";
    sidecar_ = containers_["rollback-sidecar"];

    // The ConfigMap the sidecar's config comes from, and the config itself.
    std::string config_arg;
    const YAML::Node args = sidecar_["args"];
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if (str(args[i]) == "--config") config_arg = str(args[i + 1]);
    ASSERT_FALSE(config_arg.empty()) << "the sidecar container has no --config argument";
    YAML::Node volume = volume_mounted_at(dirname(config_arg));
    ASSERT_TRUE(volume["configMap"]) << "the directory of " << config_arg << " is not a ConfigMap volume";
    const std::string cm_name = str(volume["configMap"]["name"]);
    ASSERT_EQ(by_kind_["ConfigMap"].count(cm_name), 1u) << "ConfigMap " << cm_name << " is not in " << kManifest;
    std::string key = basename(config_arg);
    for (const auto& item : volume["configMap"]["items"])
      if (str(item["path"]) == basename(config_arg)) key = str(item["key"]);
    config_text_ = str(by_kind_["ConfigMap"][cm_name]["data"][key]);
    ASSERT_FALSE(config_text_.empty()) << "ConfigMap " << cm_name << " has no key " << key << " for " << config_arg;
    config_ = YAML::Load(config_text_);
  }

  static std::string dirname(const std::string& path) { return path.substr(0, path.rfind('/')); }
  static std::string basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

  // The pod volume mounted into the sidecar at exactly `mount_path` (fails when there is none).
  YAML::Node volume_mounted_at(const std::string& mount_path, bool* read_only = nullptr) {
    for (const auto& m : sidecar_["volumeMounts"]) {
      if (str(m["mountPath"]) != mount_path) continue;
      if (read_only) *read_only = m["readOnly"] && m["readOnly"].as<bool>();
      for (const auto& v : pod_["spec"]["volumes"])
        if (str(v["name"]) == str(m["name"])) return v;
      ADD_FAILURE() << "volumeMount " << str(m["name"]) << " names no pod volume";
      return YAML::Node();
    }
    ADD_FAILURE() << "nothing is mounted at " << mount_path << " in the sidecar container";
    return YAML::Node();
  }

  // The sidecar's container port (number) for a probe's or monitor's `port` (name or number).
  int sidecar_port(const YAML::Node& port) {
    for (const auto& p : sidecar_["ports"]) {
      if (str(p["name"]) == str(port) || str(p["containerPort"]) == str(port)) return p["containerPort"].as<int>();
    }
    return 0;
  }

  std::string sidecar_port_name() {
    const int listen_port = port_of(str(config_["listen"]));
    for (const auto& p : sidecar_["ports"])
      if (p["containerPort"].as<int>() == listen_port) return str(p["name"]);
    return "";
  }

  static bool selects(const YAML::Node& match_labels, const YAML::Node& labels) {
    if (!match_labels || match_labels.size() == 0) return false;
    for (const auto& kv : match_labels)
      if (str(labels[kv.first.as<std::string>()]) != kv.second.as<std::string>()) return false;
    return true;
  }

  rs::testing::TempDir dir_;
  std::string kManifest;
  std::vector<YAML::Node> docs_;
  std::map<std::string, std::map<std::string, YAML::Node>> by_kind_;
  YAML::Node deployment_, pod_, sidecar_, config_;
  std::map<std::string, YAML::Node> containers_;
  std::string config_text_;
};

TEST_P(KubernetesManifestTest, HasTheExpectedObjects) {
  EXPECT_EQ(by_kind_["ConfigMap"].size(), 1u);
  EXPECT_EQ(by_kind_["Service"].size(), 1u);
  EXPECT_GE(by_kind_["PodMonitor"].size() + by_kind_["ServiceMonitor"].size(), 1u);
  for (const auto& kind : {"PodMonitor", "ServiceMonitor"})
    for (const auto& [name, doc] : by_kind_[kind])
      EXPECT_EQ(str(doc["apiVersion"]), "monitoring.coreos.com/v1") << kind << "/" << name;
  EXPECT_EQ(str(deployment_["apiVersion"]), "apps/v1");
}

TEST_P(KubernetesManifestTest, ConfigInTheConfigMapPassesCheck) {
  RS_REQUIRE_SIDECAR_BINARY();
  rs::testing::TempDir dir;
  rs::testing::write_file(dir.file("config.yml"), config_text_);
  RunResult r = run({kSidecarBinary, "check", "--config", dir.file("config.yml")});
  EXPECT_EQ(r.exit_code, 0) << "the ConfigMap's config.yml fails rollback-sidecar check:\n" << r.describe();
}

TEST_P(KubernetesManifestTest, SidecarListensOnAllInterfacesOnItsContainerPort) {
  const std::string listen = str(config_["listen"]);
  ASSERT_FALSE(listen.empty()) << "the config has no listen (the default 127.0.0.1 is unreachable for probes)";
  EXPECT_EQ(host_of(listen), "0.0.0.0") << "listen " << listen
                                        << ": the kubelet's probes and Prometheus reach the pod IP, not loopback";
  EXPECT_FALSE(sidecar_port_name().empty())
      << "no named container port of the sidecar is the listen port " << port_of(listen);
}

TEST_P(KubernetesManifestTest, ProbesUseHealthzAndReadyzOnTheListenPort) {
  const int listen_port = port_of(str(config_["listen"]));
  const YAML::Node liveness = sidecar_["livenessProbe"]["httpGet"];
  const YAML::Node readiness = sidecar_["readinessProbe"]["httpGet"];
  ASSERT_TRUE(liveness) << "the sidecar has no HTTP liveness probe";
  ASSERT_TRUE(readiness) << "the sidecar has no HTTP readiness probe";
  EXPECT_EQ(str(liveness["path"]), "/healthz");
  EXPECT_EQ(str(readiness["path"]), "/readyz");
  EXPECT_EQ(sidecar_port(liveness["port"]), listen_port) << "liveness port " << str(liveness["port"]);
  EXPECT_EQ(sidecar_port(readiness["port"]), listen_port) << "readiness port " << str(readiness["port"]);
}

TEST_P(KubernetesManifestTest, MonitorScrapesTheSidecarPortAsARollbackSidecarJob) {
  const std::string port_name = sidecar_port_name();
  ASSERT_FALSE(port_name.empty());
  const YAML::Node pod_labels = pod_["metadata"]["labels"];
  int scraping = 0;
  for (const auto& [name, monitor] : by_kind_["PodMonitor"]) {
    if (!selects(monitor["spec"]["selector"]["matchLabels"], pod_labels)) continue;
    for (const auto& ep : monitor["spec"]["podMetricsEndpoints"]) {
      if (str(ep["port"]) != port_name) continue;
      ++scraping;
      EXPECT_EQ(str(ep["path"], "/metrics"), "/metrics") << "PodMonitor " << name;
      // alerts/sidecar_alerts.yml selects up{job=~".*rollback-sidecar.*"}: the job label must
      // contain it (relabelled explicitly, or the operator's default namespace/<monitor name>).
      std::string job = name;
      std::set<std::string> targets;
      for (const auto& rl : ep["relabelings"]) {
        targets.insert(str(rl["targetLabel"]));
        if (str(rl["targetLabel"]) == "job") job = str(rl["replacement"]);
      }
      EXPECT_NE(job.find("rollback-sidecar"), std::string::npos)
          << "PodMonitor " << name << " scrapes the sidecar as job '" << job << "'";
      EXPECT_TRUE(targets.count("deployment")) << "PodMonitor " << name << " sets no deployment label";
    }
  }
  for (const auto& [name, monitor] : by_kind_["ServiceMonitor"]) {
    for (const auto& [sname, service] : by_kind_["Service"]) {
      if (!selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])) continue;
      for (const auto& ep : monitor["spec"]["endpoints"])
        for (const auto& sp : service["spec"]["ports"])
          if (str(ep["port"]) == str(sp["name"]) && str(sp["targetPort"]) == port_name) ++scraping;
    }
  }
  EXPECT_EQ(scraping, 1) << "exactly one monitor endpoint should scrape the sidecar port " << port_name;
}

TEST_P(KubernetesManifestTest, AppMetricsAreScrapedWithServiceAndVersionLabels) {
  const YAML::Node pod_labels = pod_["metadata"]["labels"];
  std::set<std::string> app_ports;
  for (const auto& p : containers_["app"]["ports"]) app_ports.insert(str(p["name"]));
  bool found = false;
  for (const auto& [name, monitor] : by_kind_["PodMonitor"]) {
    if (!selects(monitor["spec"]["selector"]["matchLabels"], pod_labels)) continue;
    for (const auto& ep : monitor["spec"]["podMetricsEndpoints"]) {
      if (!app_ports.count(str(ep["port"]))) continue;
      found = true;
      std::set<std::string> targets;
      for (const auto& rl : ep["relabelings"]) targets.insert(str(rl["targetLabel"]));
      for (const auto& label : {"service", "version", "deployment"})
        EXPECT_TRUE(targets.count(label))
            << "PodMonitor " << name << " does not set " << label << " (the rules' queries select on it)";
      std::string job = name;
      for (const auto& rl : ep["relabelings"])
        if (str(rl["targetLabel"]) == "job") job = str(rl["replacement"]);
      EXPECT_EQ(job.find("rollback-sidecar"), std::string::npos)
          << "the app is scraped as job '" << job << "': RollbackSidecarDown would count the app's targets";
    }
  }
  EXPECT_TRUE(found) << "no PodMonitor scrapes the app's port (the sidecar's queries need its metrics)";
}

TEST_P(KubernetesManifestTest, ServiceSelectsThePodAndExposesTheSidecarPort) {
  const auto& service = by_kind_["Service"].begin()->second;
  EXPECT_TRUE(selects(service["spec"]["selector"], pod_["metadata"]["labels"]))
      << "the Service's selector does not select the Deployment's pods";
  EXPECT_TRUE(selects(deployment_["spec"]["selector"]["matchLabels"], pod_["metadata"]["labels"]))
      << "the Deployment's selector does not select its own template";
  const std::string listen_port = std::to_string(port_of(str(config_["listen"])));
  bool sidecar = false;
  for (const auto& p : service["spec"]["ports"])
    if (str(p["targetPort"]) == sidecar_port_name() || str(p["targetPort"]) == listen_port) sidecar = true;
  EXPECT_TRUE(sidecar) << "the Service does not expose the sidecar's port (Alertmanager's webhook, the API)";
}

TEST_P(KubernetesManifestTest, MountsHoldThePathsTheConfigNames) {
  // The API token: a Secret, read-only, at exactly api.bearer_token_file.
  const std::string token = str(config_["api"]["bearer_token_file"]);
  ASSERT_FALSE(token.empty()) << "the config has no api.bearer_token_file";
  bool read_only = false;
  YAML::Node token_volume = volume_mounted_at(dirname(token), &read_only);
  ASSERT_TRUE(token_volume["secret"]) << dirname(token) << " is not a Secret volume";
  EXPECT_TRUE(read_only) << "the token mount is not readOnly";
  bool item = false;
  for (const auto& i : token_volume["secret"]["items"]) item |= str(i["path"]) == basename(token);
  EXPECT_TRUE(item || !token_volume["secret"]["items"]) << "the Secret volume has no item at " << basename(token);

  // The config: read-only.
  bool config_ro = false;
  volume_mounted_at("/etc/rollback-sidecar", &config_ro);
  EXPECT_TRUE(config_ro) << "the config mount is not readOnly";

  // State, audit log and incidents: on a writable volume (the root filesystem is read-only).
  ASSERT_TRUE(sidecar_["securityContext"]["readOnlyRootFilesystem"].as<bool>(false))
      << "the sidecar's root filesystem should be read-only";
  for (const auto& key : {"state_file", "audit_log"}) {
    const std::string path = str(config_[key]);
    ASSERT_FALSE(path.empty()) << "the config has no " << key;
    bool ro = true;
    volume_mounted_at(dirname(path), &ro);
    EXPECT_FALSE(ro) << key << " " << path << " is on a read-only mount";
  }
  const std::string incidents = str(config_["incidents_dir"]);
  if (!incidents.empty()) {
    bool ro = true;
    volume_mounted_at(dirname(incidents), &ro);
    EXPECT_FALSE(ro) << "incidents_dir " << incidents << " is on a read-only mount";
  }
}

TEST_P(KubernetesManifestTest, RunsAsTheImagesNonRootUserWithMeasuredResources) {
  const YAML::Node sc = sidecar_["securityContext"];
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>(true));
  const int uid = sc["runAsUser"].as<int>(0);
  EXPECT_NE(uid, 0);
  // The same UID as the image's USER, so files and the fsGroup line up.
  const std::string dockerfile = rs::testing::read_file(source_path("docker/Dockerfile"));
  EXPECT_NE(dockerfile.find("ARG RS_UID=" + std::to_string(uid)), std::string::npos)
      << "runAsUser " << uid << " is not the Dockerfile's RS_UID";
  EXPECT_TRUE(pod_["spec"]["securityContext"]["runAsNonRoot"].as<bool>(false));

  const YAML::Node res = sidecar_["resources"];
  EXPECT_EQ(str(res["requests"]["cpu"]), "10m");
  EXPECT_EQ(str(res["requests"]["memory"]), "32Mi");
  EXPECT_EQ(str(res["limits"]["memory"]), "64Mi");
}

TEST_P(KubernetesManifestTest, SidecarImageAndAppImageComeFromTheDockerfileTargets) {
  const std::string sidecar_image = str(sidecar_["image"]);
  const std::string app_image = str(containers_["app"]["image"]);
  EXPECT_EQ(sidecar_image.rfind("rollback-sidecar:", 0), 0u) << sidecar_image;
  EXPECT_EQ(app_image.rfind("rollback-sidecar-demo-workload:", 0), 0u) << app_image;
  const std::string cmake = rs::testing::read_file(source_path("CMakeLists.txt"));
  const std::string tag = sidecar_image.substr(sidecar_image.find(':') + 1);
  EXPECT_NE(cmake.find("VERSION " + tag + " "), std::string::npos)
      << "image tag " << tag << " is not the project version (docker/build-image.sh tags with it)";
}

// What each Kubernetes actuator calls: {API group, resource, verb}.
const std::map<std::string, std::vector<std::vector<std::string>>> kActuatorNeeds = {
    {"kubernetes-service", {{"", "services", "get"}, {"", "services", "patch"}}},
    {"kubernetes-scale",
     {{"apps", "deployments", "get"}, {"apps", "deployments/scale", "get"}, {"apps", "deployments/scale", "patch"}}},
    {"gateway-httproute",
     {{"gateway.networking.k8s.io", "httproutes", "get"}, {"gateway.networking.k8s.io", "httproutes", "patch"}}},
    {"argo-rollout", {{"argoproj.io", "rollouts", "get"}, {"argoproj.io", "rollouts/status", "patch"}}},
};

bool contains(const YAML::Node& list, const std::string& value) {
  for (const auto& v : list)
    if (str(v) == value) return true;
  return false;
}

TEST_P(KubernetesManifestTest, KubernetesActuatorsHaveALeastPrivilegeRoleAndTheirToken) {
  const std::string sa = str(pod_["spec"]["serviceAccountName"]);
  std::vector<YAML::Node> rules;
  for (const auto& [name, binding] : by_kind_["RoleBinding"]) {
    bool binds = false;
    for (const auto& subject : binding["subjects"])
      binds |= str(subject["kind"]) == "ServiceAccount" && str(subject["name"]) == sa &&
               str(subject["namespace"]) == str(deployment_["metadata"]["namespace"]);
    if (!binds) continue;
    ASSERT_EQ(str(binding["roleRef"]["kind"]), "Role")
        << "RoleBinding " << name << ": a namespaced Role, not a ClusterRole";
    const std::string role = str(binding["roleRef"]["name"]);
    ASSERT_EQ(by_kind_["Role"].count(role), 1u) << "RoleBinding " << name << " names Role " << role << ", not rendered";
    for (const auto& rule : by_kind_["Role"][role]["rules"]) {
      EXPECT_FALSE(contains(rule["verbs"], "*") || contains(rule["resources"], "*") || contains(rule["apiGroups"], "*"))
          << "Role " << role << " grants a wildcard";
      for (const auto& verb : {"delete", "create", "update", "deletecollection", "escalate", "bind", "impersonate"})
        EXPECT_FALSE(contains(rule["verbs"], verb)) << "Role " << role << " grants " << verb << ", no actuator uses it";
      rules.push_back(rule);
    }
  }
  int kubernetes_actuators = 0;
  for (const auto& actuator : config_["actuators"]) {
    auto needs = kActuatorNeeds.find(str(actuator["type"]));
    if (needs == kActuatorNeeds.end()) continue;
    ++kubernetes_actuators;
    EXPECT_EQ(str(actuator["namespace"]), str(deployment_["metadata"]["namespace"]))
        << "the actuator acts in another namespace than the Role's";
    for (const auto& need : needs->second) {
      bool granted = false;
      for (const auto& rule : rules)
        granted |= contains(rule["apiGroups"], need[0]) && contains(rule["resources"], need[1]) &&
                   contains(rule["verbs"], need[2]) &&
                   (!rule["resourceNames"] || contains(rule["resourceNames"], str(actuator["name"])) ||
                    contains(rule["resourceNames"], str(actuator["canary_deployment"])));
      EXPECT_TRUE(granted) << str(actuator["type"]) << " needs " << need[2] << " on " << need[1] << " (group '"
                           << need[0] << "') for " << str(actuator["name"]) << "; ServiceAccount " << sa
                           << " is not granted it";
    }
  }
  if (kubernetes_actuators > 0) {
    EXPECT_TRUE(pod_["spec"]["automountServiceAccountToken"].as<bool>(false))
        << "the Kubernetes actuators use the in-cluster token, but it is not mounted";
  } else {
    EXPECT_TRUE(rules.empty()) << "the sidecar needs no API access, yet a Role is bound";
  }
  EXPECT_EQ(by_kind_["ServiceAccount"].count(sa), 1u) << "ServiceAccount " << sa << " is not rendered";
}

TEST_P(KubernetesManifestTest, RoundTripsThroughKubectlApplyDryRun) {
  const std::string kubectl = require_tool("kubectl", "kubectl (see scripts/install-deps.sh)");
  nlohmann::json admin = {{"user", "admin"},
                          {"rules", nlohmann::json::array({{{"verbs", {"*"}}, {"resources", {"*"}}}})}};
  rs::testing::FakeApiServer api(nlohmann::json::array(), {{"admin-token", admin}});
  RunResult r = run({kubectl, "--server", api.url(), "--token", "admin-token", "--certificate-authority", api.ca_file(),
                     "apply", "--dry-run=client", "--validate=false", "-o", "yaml", "-f", dir_.file("rendered.yml")},
                    "", 120s);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  YAML::Node out = YAML::Load(r.out);
  std::set<std::string> applied, rendered;
  for (const auto& item : out["kind"] && str(out["kind"]) == "List" ? out["items"] : YAML::Node())
    applied.insert(str(item["kind"]) + "/" + str(item["metadata"]["name"]));
  for (const auto& [kind, objects] : by_kind_)
    for (const auto& [name, doc] : objects) rendered.insert(kind + "/" + name);
  EXPECT_EQ(applied, rendered) << r.out.substr(0, 2000);
}

INSTANTIATE_TEST_SUITE_P(Overlays, KubernetesManifestTest, ::testing::Values("gamma", "prod"));

}  // namespace
}  // namespace rs::deploy
