// docker/compose/: the compose file is valid for Debian's docker-compose, every file it mounts
// exists and passes its own tool (rollback-sidecar check, haproxy -c, promtool check config,
// amtool check-config, blackbox --config.check), and the pieces point at each other: the sidecar
// queries the Prometheus service and drives the HAProxy service's runtime API, Prometheus
// scrapes every service and loads alerts/, Alertmanager's webhook reaches the sidecar with the
// secret it mounts.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/deploy/deploy_support.h"

namespace rs::deploy {
namespace {

const std::string kComposeDir = source_path("docker/compose");

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// A bind or named-volume entry of a service ("src:dst[:mode]").
struct Mount {
  std::string source, target, mode;
  bool bind() const { return !source.empty() && (source[0] == '.' || source[0] == '/'); }
  std::string host_path() const { return source[0] == '/' ? source : kComposeDir + "/" + source; }
};

Mount parse_mount(const std::string& spec) {
  Mount m;
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
  if (parts.size() >= 2) {
    m.source = parts[0];
    m.target = parts[1];
  }
  if (parts.size() >= 3) m.mode = parts[2];
  return m;
}

class ComposeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    compose_ = load(kComposeDir + "/docker-compose.yml");
    ASSERT_TRUE(compose_["services"].IsMap()) << "docker-compose.yml has no services";
    for (const auto& kv : compose_["services"]) services_.insert(kv.first.as<std::string>());
    sidecar_config_ = load(kComposeDir + "/sidecar/config.yml");
    ASSERT_TRUE(sidecar_config_.IsMap());
  }

  YAML::Node service(const std::string& name) { return compose_["services"][name]; }

  std::vector<Mount> mounts(const std::string& name) {
    std::vector<Mount> out;
    for (const auto& v : service(name)["volumes"]) out.push_back(parse_mount(str(v)));
    return out;
  }

  // The host path mounted at `target` in service `name` ("" when nothing is).
  std::string mounted_at(const std::string& name, const std::string& target, std::string* mode = nullptr) {
    for (const auto& m : mounts(name)) {
      if (m.target != target) continue;
      if (mode) *mode = m.mode;
      return m.bind() ? m.host_path() : m.source;
    }
    return "";
  }

  // `{{name}}` substituted as the sidecar does: deployment.vars plus deployment, stage, strategy.
  std::string templated(std::string text) {
    const YAML::Node d = sidecar_config_["deployment"];
    std::map<std::string, std::string> vars = {
        {"deployment", str(d["name"])}, {"stage", str(d["stage"])}, {"strategy", str(d["strategy"])}};
    for (const auto& kv : d["vars"]) vars[kv.first.as<std::string>()] = str(kv.second);
    for (const auto& [name, value] : vars) {
      const std::string key = "{{" + name + "}}";
      for (std::size_t pos; (pos = text.find(key)) != std::string::npos;) text.replace(pos, key.size(), value);
    }
    return text;
  }

  YAML::Node compose_, sidecar_config_;
  std::set<std::string> services_;
};

TEST_F(ComposeTest, DockerComposeConfigIsValid) {
  const std::string tool = require_tool("docker-compose", "docker-compose");
  ASSERT_FALSE(tool.empty());
  RunResult r = run({tool, "config", "-q"}, kComposeDir);
  EXPECT_EQ(r.exit_code, 0) << "docker-compose config -q in docker/compose:\n" << r.describe();

  // The validator is real: a service with an unknown key is refused.
  rs::testing::TempDir dir;
  std::string broken = rs::testing::read_file(kComposeDir + "/docker-compose.yml");
  broken += "  broken:\n    image: busybox\n    not_a_compose_key: 1\n";
  rs::testing::write_file(dir.file("docker-compose.yml"), broken);
  RunResult bad = run({tool, "config", "-q"}, dir.path());
  EXPECT_NE(bad.exit_code, 0) << "docker-compose accepted an unknown key:\n" << bad.describe();
}

TEST_F(ComposeTest, HasEveryPartOfTheDemo) {
  for (const auto& s : {"checkout-v1", "checkout-v2", "load", "haproxy", "prometheus", "alertmanager", "blackbox",
                        "grafana", "rollback-sidecar"})
    EXPECT_TRUE(services_.count(s)) << "no service " << s;
  // The workloads are the stable and canary versions of the config's vars.
  const std::string stable = str(sidecar_config_["deployment"]["vars"]["stable"]);
  const std::string canary = str(sidecar_config_["deployment"]["vars"]["canary"]);
  for (const auto& [name, version] : {std::pair{"checkout-v1", stable}, std::pair{"checkout-v2", canary}}) {
    const YAML::Node cmd = service(name)["command"];
    bool found = false;
    for (std::size_t i = 0; i + 1 < cmd.size(); ++i) found |= str(cmd[i]) == "--version" && str(cmd[i + 1]) == version;
    EXPECT_TRUE(found) << name << " does not serve --version " << version;
  }
}

TEST_F(ComposeTest, EveryMountedFileExists) {
  for (const auto& name : services_) {
    for (const auto& m : mounts(name)) {
      if (!m.bind()) {
        EXPECT_TRUE(compose_["volumes"][m.source]) << name << " mounts undeclared volume " << m.source;
        continue;
      }
      EXPECT_TRUE(exists(m.host_path())) << name << " mounts " << m.source << ", which does not exist";
      EXPECT_EQ(m.mode, "ro") << name << " mounts " << m.source << " writable; configs are mounted read-only";
    }
  }
  for (const auto& kv : compose_["secrets"]) {
    const std::string file = kComposeDir + "/" + str(kv.second["file"]);
    EXPECT_TRUE(exists(file)) << "secret " << kv.first.as<std::string>() << ": " << file << " missing";
  }
  // Grafana's provisioning and dashboards come from the repository's dashboards/.
  EXPECT_EQ(mounted_at("grafana", "/var/lib/grafana/dashboards"), kComposeDir + "/../../dashboards");
  EXPECT_FALSE(mounted_at("grafana", "/etc/grafana/provisioning/dashboards").empty());
  EXPECT_FALSE(mounted_at("grafana", "/etc/grafana/provisioning/datasources").empty());
}

TEST_F(ComposeTest, SidecarServiceRunsTheImageWithItsConfigReadOnly) {
  const YAML::Node s = service("rollback-sidecar");
  EXPECT_EQ(str(s["build"]["dockerfile"]), "docker/Dockerfile");
  EXPECT_EQ(str(s["build"]["target"]), "sidecar");
  const std::string dockerfile = rs::testing::read_file(source_path("docker/Dockerfile"));
  EXPECT_NE(dockerfile.find(" AS sidecar"), std::string::npos);
  EXPECT_NE(dockerfile.find(" AS demo-workload"), std::string::npos);

  std::string mode;
  EXPECT_EQ(mounted_at("rollback-sidecar", "/etc/rollback-sidecar/config.yml", &mode),
            kComposeDir + "/./sidecar/config.yml");
  EXPECT_EQ(mode, "ro");

  // The API token is the compose secret Alertmanager also gets.
  const std::string token = str(sidecar_config_["api"]["bearer_token_file"]);
  ASSERT_EQ(token.rfind("/run/secrets/", 0), 0u) << "api.bearer_token_file " << token << " is not a compose secret";
  const std::string secret = token.substr(std::string("/run/secrets/").size());
  bool has_secret = false;
  for (const auto& sec : s["secrets"]) has_secret |= str(sec) == secret;
  EXPECT_TRUE(has_secret) << "the sidecar service does not mount secret " << secret;
  EXPECT_TRUE(compose_["secrets"][secret]) << "secret " << secret << " is not declared";

  // State lives on a named volume (the latch survives `docker compose up` recreating it).
  const std::string state = str(sidecar_config_["state_file"]);
  const std::string state_dir = state.substr(0, state.rfind('/'));
  const std::string volume = mounted_at("rollback-sidecar", state_dir);
  EXPECT_TRUE(compose_["volumes"][volume]) << "state_file " << state << " is not on a named volume";

  // Published on the listen port, on all interfaces inside the container.
  const std::string listen = str(sidecar_config_["listen"]);
  EXPECT_EQ(host_of(listen), "0.0.0.0") << "listen " << listen << " is unreachable from other containers";
  bool published = false;
  for (const auto& p : s["ports"]) published |= port_of(str(p)) == port_of(listen);
  EXPECT_TRUE(published) << "the sidecar's port " << port_of(listen) << " is not published";
}

TEST_F(ComposeTest, SidecarConfigPassesCheck) {
  RS_REQUIRE_SIDECAR_BINARY();
  RunResult r = run({kSidecarBinary, "check", "--config", kComposeDir + "/sidecar/config.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST_F(ComposeTest, SidecarConfigNamesComposeServices) {
  const std::string prom = authority_of(str(sidecar_config_["prometheus"]["url"]));
  EXPECT_EQ(host_of(prom), "prometheus");
  EXPECT_EQ(port_of(prom), 9090);
  bool haproxy_actuator = false;
  for (const auto& a : sidecar_config_["actuators"]) {
    if (str(a["type"]) != "haproxy") continue;
    haproxy_actuator = true;
    const std::string address = str(a["address"]);
    EXPECT_TRUE(services_.count(host_of(address))) << "actuator address " << address << " is not a compose service";
    // The port is HAProxy's admin-level runtime API socket.
    const std::string cfg = rs::testing::read_file(kComposeDir + "/haproxy/haproxy.cfg");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(cfg, m, std::regex(R"(stats socket ipv4@[0-9.]+:(\d+) level admin)")))
        << "haproxy.cfg has no admin-level TCP stats socket";
    EXPECT_EQ(std::stoi(m[1]), port_of(address));
    // The backend and both servers exist, and point at the workloads of the config's vars.
    EXPECT_TRUE(std::regex_search(cfg, std::regex("\nbackend " + str(a["backend"]) + "\n")))
        << "no backend " << str(a["backend"]);
    const std::string stable = str(sidecar_config_["deployment"]["vars"]["stable"]);
    const std::string canary = str(sidecar_config_["deployment"]["vars"]["canary"]);
    EXPECT_TRUE(std::regex_search(cfg, std::regex("server " + str(a["stable"]) + " checkout-" + stable + ":8080")));
    EXPECT_TRUE(std::regex_search(cfg, std::regex("server " + str(a["canary"]) + " checkout-" + canary + ":8080")));
  }
  EXPECT_TRUE(haproxy_actuator) << "the compose sidecar has no haproxy actuator";
  const std::string preflight = templated(str(sidecar_config_["rollback"]["preflight"]["http"]));
  if (!preflight.empty()) {
    EXPECT_TRUE(services_.count(host_of(authority_of(preflight)))) << "preflight " << preflight;
  }
}

TEST_F(ComposeTest, HaproxyConfigIsValid) {
  const std::string haproxy = require_tool("haproxy", "haproxy");
  ASSERT_FALSE(haproxy.empty());
  RunResult r = run({haproxy, "-c", "-f", kComposeDir + "/haproxy/haproxy.cfg"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  // The only acceptable warnings: the workloads' names do not resolve outside compose.
  std::istringstream lines(r.out + r.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("[WARNING]") == std::string::npos && line.find("[ALERT]") == std::string::npos) continue;
    EXPECT_NE(line.find("could not resolve address"), std::string::npos) << "unexpected: " << line;
  }
}

TEST_F(ComposeTest, PrometheusConfigIsValidWithTheMountedRules) {
  const std::string promtool = require_tool("promtool", "prometheus");
  ASSERT_FALSE(promtool.empty());
  // Lay the files out as the prometheus service mounts them, then check config and rules.
  rs::testing::TempDir dir;
  const std::string root = dir.path() + "/etc/prometheus";
  ASSERT_EQ(::mkdir((dir.path() + "/etc").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  std::string config_source;
  for (const auto& m : mounts("prometheus")) {
    if (!m.bind()) continue;
    ASSERT_EQ(m.target.rfind("/etc/prometheus/", 0), 0u) << "unexpected mount " << m.target;
    const std::string link = dir.path() + m.target;
    ASSERT_EQ(::symlink(m.host_path().c_str(), link.c_str()), 0) << link;
    if (m.target == "/etc/prometheus/prometheus.yml") config_source = m.host_path();
  }
  ASSERT_FALSE(config_source.empty()) << "prometheus.yml is not mounted at /etc/prometheus/prometheus.yml";
  RunResult r = run({promtool, "check", "config", root + "/prometheus.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  // Every rule file of alerts/ and the generated rules are loaded.
  for (const auto& f : {"alerts/recording_rules.yml", "alerts/sidecar_alerts.yml", "rules/checkout.yml"})
    EXPECT_NE(r.out.find(f), std::string::npos) << f << " is not loaded by the compose Prometheus:\n" << r.out;
}

TEST_F(ComposeTest, PrometheusScrapesEveryServiceWithTheLabelConvention) {
  const YAML::Node prom = load(kComposeDir + "/prometheus/prometheus.yml");
  std::map<std::string, YAML::Node> jobs;
  std::set<std::string> scraped_hosts;
  for (const auto& job : prom["scrape_configs"]) {
    jobs[str(job["job_name"])] = static_cast<const YAML::Node&>(job);
    for (const auto& sc : job["static_configs"])
      for (const auto& t : sc["targets"]) {
        const std::string target = str(t);
        const std::string authority = target.find("://") != std::string::npos ? authority_of(target) : target;
        scraped_hosts.insert(host_of(authority));
      }
  }
  for (const auto& s :
       {"checkout-v1", "checkout-v2", "haproxy", "alertmanager", "blackbox", "grafana", "rollback-sidecar"})
    EXPECT_TRUE(scraped_hosts.count(s)) << "Prometheus does not scrape service " << s;

  // The sidecar: a job named for the alerts' selector, the deployment label, the listen port.
  const std::string deployment = str(sidecar_config_["deployment"]["name"]);
  bool sidecar_job = false;
  for (const auto& [name, job] : jobs) {
    for (const auto& sc : job["static_configs"])
      for (const auto& t : sc["targets"]) {
        if (host_of(str(t)) != "rollback-sidecar") continue;
        sidecar_job = true;
        EXPECT_NE(name.find("rollback-sidecar"), std::string::npos)
            << "job " << name << ": alerts/sidecar_alerts.yml selects up{job=~\".*rollback-sidecar.*\"}";
        EXPECT_EQ(port_of(str(t)), port_of(str(sidecar_config_["listen"])));
        EXPECT_EQ(str(sc["labels"]["deployment"]), deployment);
      }
  }
  EXPECT_TRUE(sidecar_job);

  // The workloads and their probes carry {deployment, service, version} = the config's vars.
  const YAML::Node vars = sidecar_config_["deployment"]["vars"];
  for (const auto& job_name : {"checkout", "blackbox"}) {
    ASSERT_TRUE(jobs.count(job_name)) << "no job " << job_name;
    std::set<std::string> versions;
    for (const auto& sc : jobs[job_name]["static_configs"]) {
      EXPECT_EQ(str(sc["labels"]["service"]), str(vars["service"])) << job_name;
      EXPECT_EQ(str(sc["labels"]["deployment"]), deployment) << job_name;
      versions.insert(str(sc["labels"]["version"]));
    }
    EXPECT_EQ(versions, (std::set<std::string>{str(vars["stable"]), str(vars["canary"])})) << job_name;
  }
}

TEST_F(ComposeTest, AlertmanagerConfigIsValidAndReachesTheSidecarWebhook) {
  const std::string amtool = require_tool("amtool", "prometheus-alertmanager");
  ASSERT_FALSE(amtool.empty());
  RunResult r = run({amtool, "check-config", kComposeDir + "/alertmanager/alertmanager.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();

  const YAML::Node am = load(kComposeDir + "/alertmanager/alertmanager.yml");
  bool webhook = false;
  for (const auto& receiver : am["receivers"]) {
    for (const auto& wh : receiver["webhook_configs"]) {
      const std::string url = str(wh["url"]);
      if (host_of(authority_of(url)) != "rollback-sidecar") continue;
      webhook = true;
      EXPECT_EQ(port_of(authority_of(url)), port_of(str(sidecar_config_["listen"])));
      EXPECT_EQ(path_of(url), "/api/v1/alerts");
      const YAML::Node auth = wh["http_config"]["authorization"];
      EXPECT_EQ(str(auth["type"], "Bearer"), "Bearer");
      const std::string credentials = str(auth["credentials_file"]);
      EXPECT_EQ(credentials, str(sidecar_config_["api"]["bearer_token_file"]))
          << "Alertmanager and the sidecar must read the same token";
      bool mounted = false;
      for (const auto& sec : service("alertmanager")["secrets"]) mounted |= "/run/secrets/" + str(sec) == credentials;
      EXPECT_TRUE(mounted) << credentials << " is not mounted into the alertmanager service";
    }
  }
  EXPECT_TRUE(webhook) << "no Alertmanager receiver posts to the sidecar";
  EXPECT_TRUE(sidecar_config_["alerts"]["match"]) << "the sidecar does not accept Alertmanager alerts";
}

TEST_F(ComposeTest, BlackboxConfigIsValid) {
  const std::string blackbox = require_tool("prometheus-blackbox-exporter", "prometheus-blackbox-exporter");
  ASSERT_FALSE(blackbox.empty());
  RunResult r = run({blackbox, "--config.check", "--config.file=" + kComposeDir + "/blackbox/blackbox.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err.find("level=warn"), std::string::npos) << r.err;
  const YAML::Node prom = load(kComposeDir + "/prometheus/prometheus.yml");
  const YAML::Node bb = load(kComposeDir + "/blackbox/blackbox.yml");
  for (const auto& job : prom["scrape_configs"]) {
    if (!job["params"]) continue;
    for (const auto& module : job["params"]["module"])
      EXPECT_TRUE(bb["modules"][str(module)])
          << "job " << str(job["job_name"]) << " uses unknown module " << str(module);
  }
}

// prometheus/rules/checkout.yml is `rollback-sidecar rules` of the compose config, so the alerts
// humans see in Alertmanager are the rules the sidecar acts on. Regenerate from the repository root:
//   build/sidecar/rollback-sidecar rules --config docker/compose/sidecar/config.yml
//     > docker/compose/prometheus/rules/checkout.yml   (one line)
TEST_F(ComposeTest, GeneratedSidecarRulesAreUpToDate) {
  RS_REQUIRE_SIDECAR_BINARY();
  RunResult r = run({kSidecarBinary, "rules", "--config", "docker/compose/sidecar/config.yml"}, kSource);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, rs::testing::read_file(kComposeDir + "/prometheus/rules/checkout.yml"))
      << "docker/compose/prometheus/rules/checkout.yml is stale; regenerate it (see the comment above this test)";

  // The rolling-back ones reach the sidecar's webhook: Alertmanager's route and alerts.match
  // both select on severity and deployment.
  const YAML::Node rules = YAML::Load(r.out);
  const std::regex severity(str(sidecar_config_["alerts"]["match"]["severity"]));
  const std::string deployment = templated(str(sidecar_config_["alerts"]["match"]["deployment"]));
  int matched = 0;
  for (const auto& group : rules["groups"])
    for (const auto& rule : group["rules"]) {
      if (!std::regex_match(str(rule["labels"]["severity"]), severity)) continue;
      ++matched;
      EXPECT_TRUE(std::regex_match(str(rule["labels"]["deployment"]), std::regex(deployment)))
          << "alert " << str(rule["alert"]) << " has deployment=" << str(rule["labels"]["deployment"])
          << ", which alerts.match " << deployment << " ignores";
    }
  EXPECT_GT(matched, 0) << "no generated alert matches the sidecar's alerts.match";
}

TEST_F(ComposeTest, DemoTokenIsReadableAndNonEmpty) {
  const std::string token = trim(rs::testing::read_file(kComposeDir + "/secrets/sidecar-token"));
  EXPECT_GE(token.size(), 16u);
  struct stat st {};
  ASSERT_EQ(::stat((kComposeDir + "/secrets/sidecar-token").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IROTH) << "the bind-mounted secret must be readable by the containers' non-root users";
}

}  // namespace
}  // namespace rs::deploy
