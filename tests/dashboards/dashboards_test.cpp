// The Grafana dashboards in dashboards/: their JSON structure (uid, title, datasource and
// deployment variables, every panel on ${datasource}, unique ids, no overlapping panels, only
// defined variables), the provisioning files, and — in the end-to-end environment on loopback —
// every panel's and annotation's query (variables substituted) run against a real Prometheus:
// each must parse and return at least one sample that is a number (not NaN).
//
// The environment: two `demo-workload serve` instances (v1 stable, v2 canary) behind a real
// HAProxy, `demo-workload load` at 20 rps through it, a blackbox exporter probing both /health
// endpoints, the real `rollback-sidecar` running policies/demo.yml (ports rewritten) and a real
// Prometheus scraping all of them every second with the target labels the dashboards expect
// (dashboards/README.md): workloads and probes {deployment, service, version}, the sidecar
// {deployment, service}.
//
// Some panels have no data on a quiet deployment, so the test makes it eventful (this list is
// also in dashboards/README.md):
// - a real rule-triggered rollback (error_ratio=1 on the canary): rollback duration and detection
//   time percentiles, success rate, the Rollbacks panel and annotation, actuator calls;
// - a freeze (PUT /api/v1/freeze): the freeze annotation and the API requests panel;
// - an extra rule whose query Prometheus rejects at run time: query errors by reason;
// - `promotion` configured: rollback_sidecar_canary_weight is only exported with promotion.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <dirent.h>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rs::testing {
namespace {

using nlohmann::json;

const std::string kDashboardsDir = std::string(RS_SOURCE_DIR) + "/dashboards";
const std::string kSidecarBinary = std::string(RS_BINARY_DIR) + "/sidecar/rollback-sidecar";
const std::string kWorkloadBinary = std::string(RS_BINARY_DIR) + "/docker/workload/demo-workload";
const std::string kToken = "dashboards-test-token-5e1c";
const std::string kDatasourceRef = "${datasource}";

std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

std::vector<std::string> dashboard_files() {
  std::vector<std::string> out;
  if (DIR* d = opendir(kDashboardsDir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".json") out.push_back(kDashboardsDir + "/" + name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

json load_dashboard(const std::string& path) {
  return json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
}

// Every panel, rows' nested panels included.
std::vector<json> all_panels(const json& dashboard) {
  std::vector<json> out;
  for (const auto& p : dashboard.value("panels", json::array())) {
    out.push_back(p);
    for (const auto& inner : p.value("panels", json::array())) out.push_back(inner);
  }
  return out;
}

bool is_query_panel(const json& panel) {
  const std::string type = panel.value("type", "");
  return type != "row" && type != "text" && type != "news" && type != "dashlist";
}

const json* find_variable(const json& dashboard, const std::string& name) {
  for (const auto& v : dashboard["templating"]["list"])
    if (v.value("name", "") == name) return &v;
  return nullptr;
}

bool uses_dashboard_datasource(const json& ds) {
  return ds.is_object() && ds.value("uid", "") == kDatasourceRef && ds.value("type", "") == "prometheus";
}

// Prometheus annotations (the built-in Grafana one has no query).
std::vector<json> prometheus_annotations(const json& dashboard) {
  std::vector<json> out;
  for (const auto& a : dashboard["annotations"].value("list", json::array()))
    if (a.contains("expr")) out.push_back(a);
  return out;
}

// Grafana's built-in variables, as the test substitutes them (1 s scrape interval).
const std::map<std::string, std::string> kBuiltins = {
    {"__rate_interval", "5s"}, {"__interval", "1s"},    {"__interval_ms", "1000"},     {"__range", "1m"},
    {"__range_s", "60"},       {"__range_ms", "60000"}, {"__rate_interval_ms", "5000"}};

// $name, ${name} and ${name:format} replaced from `values`; unknown names are reported.
std::string substitute(const std::string& expr, const std::map<std::string, std::string>& values,
                       std::vector<std::string>* unknown) {
  static const std::regex var(R"(\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\])");
  std::string out;
  auto begin = std::sregex_iterator(expr.begin(), expr.end(), var);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const auto& m = *it;
    std::string name = m[1].matched ? m[1].str() : m[2].matched ? m[2].str() : m[3].str();
    out += expr.substr(last, m.position() - last);
    auto v = values.find(name);
    if (v == values.end()) {
      if (unknown) unknown->push_back(name);
      out += m.str();
    } else {
      out += v->second;
    }
    last = m.position() + m.length();
  }
  return out + expr.substr(last);
}

// The values the e2e test gives each dashboard variable: the deployment under test, builtins,
// and every other variable's saved current value.
std::map<std::string, std::string> variable_values(const json& dashboard, const std::string& deployment) {
  std::map<std::string, std::string> values = kBuiltins;
  for (const auto& v : dashboard["templating"]["list"]) {
    const std::string name = v.value("name", "");
    if (v.value("type", "") == "datasource") {
      values[name] = "";
    } else if (v.contains("current") && v["current"].contains("value") && v["current"]["value"].is_string()) {
      values[name] = v["current"]["value"].get<std::string>();
    }
  }
  values["deployment"] = deployment;
  return values;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Structure

TEST(DashboardJson, BothDashboardsExist) {
  std::set<std::string> titles;
  for (const auto& f : dashboard_files()) titles.insert(load_dashboard(f).value("title", ""));
  EXPECT_TRUE(titles.count("Rollbacks overview")) << "dashboards/ should hold the 'Rollbacks overview' dashboard";
  EXPECT_TRUE(titles.count("Deployment health")) << "dashboards/ should hold the 'Deployment health' dashboard";
}

TEST(DashboardJson, StructureIsValid) {
  const auto files = dashboard_files();
  ASSERT_FALSE(files.empty()) << "no *.json in " << kDashboardsDir;
  std::set<std::string> uids, titles;
  for (const auto& file : files) {
    SCOPED_TRACE(file);
    const json d = load_dashboard(file);
    ASSERT_FALSE(d.is_discarded()) << "not valid JSON";
    ASSERT_TRUE(d.is_object());
    // Provisioned dashboards are not wrapped in {"dashboard": ...} and carry no numeric id.
    EXPECT_FALSE(d.contains("dashboard")) << "provisioning expects the bare dashboard model";
    EXPECT_TRUE(!d.contains("id") || d["id"].is_null()) << "a fixed numeric id breaks provisioning; use uid";
    const std::string uid = d.value("uid", "");
    EXPECT_FALSE(uid.empty());
    EXPECT_LE(uid.size(), 40u) << "Grafana uids are at most 40 characters";
    EXPECT_TRUE(std::regex_match(uid, std::regex("[A-Za-z0-9_-]+"))) << uid;
    EXPECT_TRUE(uids.insert(uid).second) << "duplicate uid " << uid;
    EXPECT_FALSE(d.value("title", "").empty());
    EXPECT_TRUE(titles.insert(d.value("title", "")).second) << "duplicate title";
    EXPECT_TRUE(d.contains("schemaVersion") && d["schemaVersion"].is_number_integer());

    // Variables.
    ASSERT_TRUE(d.contains("templating") && d["templating"]["list"].is_array());
    const json* ds = find_variable(d, "datasource");
    ASSERT_NE(ds, nullptr) << "no `datasource` variable";
    EXPECT_EQ(ds->value("type", ""), "datasource");
    EXPECT_EQ(ds->value("query", ""), "prometheus");
    const json* dep = find_variable(d, "deployment");
    ASSERT_NE(dep, nullptr) << "no `deployment` variable";
    EXPECT_EQ(dep->value("type", ""), "query");
    EXPECT_TRUE(uses_dashboard_datasource((*dep)["datasource"])) << dep->dump();
    EXPECT_NE(dep->value("definition", "").find("deployment"), std::string::npos) << dep->dump();
    std::set<std::string> defined;
    for (const auto& [k, v] : kBuiltins) defined.insert(k);
    for (const auto& v : d["templating"]["list"]) {
      EXPECT_TRUE(defined.insert(v.value("name", "")).second) << "duplicate variable " << v.value("name", "");
      if (v.value("type", "") == "query") {
        EXPECT_TRUE(uses_dashboard_datasource(v["datasource"])) << "variable " << v.value("name", "");
      }
    }

    // Panels.
    std::set<int> ids;
    std::vector<json> placed;
    for (const auto& p : all_panels(d)) {
      const std::string title = p.value("title", "");
      SCOPED_TRACE("panel '" + title + "'");
      ASSERT_TRUE(p.contains("id") && p["id"].is_number_integer());
      EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id " << p["id"];
      ASSERT_TRUE(p.contains("gridPos"));
      const json& g = p["gridPos"];
      EXPECT_GE(g.value("x", -1), 0);
      EXPECT_GT(g.value("w", 0), 0);
      EXPECT_LE(g.value("x", 0) + g.value("w", 0), 24) << "wider than the 24-column grid";
      for (const auto& q : placed) {
        const json& h = q["gridPos"];
        bool overlap = g["x"] < h["x"].get<int>() + h["w"].get<int>() &&
                       h["x"] < g["x"].get<int>() + g["w"].get<int>() &&
                       g["y"] < h["y"].get<int>() + h["h"].get<int>() && h["y"] < g["y"].get<int>() + g["h"].get<int>();
        EXPECT_FALSE(overlap) << "overlaps panel '" << q.value("title", "") << "'";
      }
      placed.push_back(p);
      if (!is_query_panel(p)) continue;
      EXPECT_FALSE(title.empty());
      EXPECT_FALSE(p.value("description", "").empty()) << "say what the panel shows";
      EXPECT_TRUE(uses_dashboard_datasource(p["datasource"])) << "panel datasource: " << p["datasource"].dump();
      ASSERT_TRUE(p.contains("targets") && p["targets"].is_array() && !p["targets"].empty());
      std::set<std::string> refs;
      for (const auto& t : p["targets"]) {
        EXPECT_TRUE(uses_dashboard_datasource(t["datasource"])) << "target datasource: " << t["datasource"].dump();
        EXPECT_TRUE(refs.insert(t.value("refId", "")).second) << "duplicate refId";
        const std::string expr = t.value("expr", "");
        EXPECT_FALSE(expr.empty()) << "target " << t.value("refId", "") << " has no expr";
        std::vector<std::string> unknown;
        substitute(expr, {}, &unknown);
        for (const auto& name : unknown)
          EXPECT_TRUE(defined.count(name)) << "undefined variable $" << name << " in " << expr;
        if (expr.find("rollback_sidecar_") != std::string::npos || expr.find("http_request") != std::string::npos ||
            expr.find("probe_success") != std::string::npos) {
          EXPECT_NE(expr.find("$deployment"), std::string::npos) << "not filtered by $deployment: " << expr;
        }
      }
    }
    EXPECT_GE(ids.size(), 6u);

    // Annotations.
    const auto annotations = prometheus_annotations(d);
    EXPECT_FALSE(annotations.empty());
    bool rollbacks = false;
    for (const auto& a : annotations) {
      EXPECT_TRUE(uses_dashboard_datasource(a["datasource"])) << a.dump();
      const std::string expr = a.value("expr", "");
      if (expr.find("rollback_sidecar_rollbacks_total") != std::string::npos) rollbacks = true;
      std::vector<std::string> unknown;
      substitute(expr, {}, &unknown);
      for (const auto& name : unknown)
        EXPECT_TRUE(defined.count(name)) << "undefined variable $" << name << " in " << expr;
    }
    EXPECT_TRUE(rollbacks) << "rollbacks should be drawn as annotations";
  }
}

TEST(DashboardJson, ProvisioningPointsAtTheDashboards) {
  const std::string providers = read_file(kDashboardsDir + "/provisioning/dashboards/rollback-sidecar.yml");
  ASSERT_FALSE(providers.empty()) << "dashboards/provisioning/dashboards/rollback-sidecar.yml missing";
  EXPECT_NE(providers.find("apiVersion: 1"), std::string::npos);
  EXPECT_NE(providers.find("type: file"), std::string::npos);
  EXPECT_NE(providers.find("path: /var/lib/grafana/dashboards"), std::string::npos);
  const std::string datasources = read_file(kDashboardsDir + "/provisioning/datasources/prometheus.yml");
  ASSERT_FALSE(datasources.empty()) << "dashboards/provisioning/datasources/prometheus.yml missing";
  EXPECT_NE(datasources.find("apiVersion: 1"), std::string::npos);
  EXPECT_NE(datasources.find("type: prometheus"), std::string::npos);
  EXPECT_NE(datasources.find("isDefault: true"), std::string::npos)
      << "the datasource variable starts on the default Prometheus datasource";
}

// ---------------------------------------------------------------------------------------------
// End to end

// policies/demo.yml with this environment's addresses, plus what makes every panel eventful.
std::string sidecar_config(const TempDir& dir, const std::string& prometheus_url, int listen_port, int admin_port,
                           std::string* problem) {
  std::string text = read_file(std::string(RS_SOURCE_DIR) + "/policies/demo.yml");
  auto replace = [&](const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    if (pos == std::string::npos) {
      *problem += "policies/demo.yml no longer contains '" + from + "'; update this test\n";
      return;
    }
    text.replace(pos, from.size(), to);
  };
  replace("url: http://127.0.0.1:9090", "url: " + prometheus_url);
  replace("listen: 127.0.0.1:9107", "listen: 127.0.0.1:" + std::to_string(listen_port));
  replace("state_file: state.json", "state_file: " + dir.file("state.json"));
  replace("address: 127.0.0.1:9999", "address: 127.0.0.1:" + std::to_string(admin_port));
  // A rule Prometheus rejects at evaluation time (many-to-many matching), for the query-errors panel.
  replace(
      "\nactuators:\n",
      "\n  - name: broken-query\n"
      "    query: http_requests_total{service=\"{{service}}\"} / on() http_requests_total{service=\"{{service}}\"}\n"
      "    above: 1\n"
      "    action: notify\n"
      "    severity: sev3\n"
      "actuators:\n");
  text += "api: {bearer_token_file: " + dir.file("token") + "}\n";
  text += "promotion: {steps: [10, 100], step_duration: 10m}\n";
  // Nothing listens there: the notifications panel shows the (retried) failures.
  text += "notifiers: [{type: webhook, url: 'http://127.0.0.1:" + std::to_string(free_port()) + "/hook'}]\n";
  return text;
}

class DashboardQueries : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"prometheus", "haproxy", "prometheus-blackbox-exporter"})
      ASSERT_FALSE(find_binary(tool).empty()) << tool << " not installed (scripts/install-deps.sh)";
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
    ASSERT_EQ(access(kWorkloadBinary.c_str(), X_OK), 0) << kWorkloadBinary << " missing: build demo-workload";

    for (const std::string version : {"v1", "v2"}) {
      const int port = free_port();
      workload_ports_[version] = port;
      workloads_.push_back(
          std::make_unique<Process>(std::vector<std::string>{kWorkloadBinary, "serve", "--listen",
                                                             "127.0.0.1:" + std::to_string(port), "--version", version},
                                    dir_.file("workload-" + version + ".log")));
      std::string why;
      ASSERT_TRUE(wait_http_ok(workload_url(version) + "/health", 15s, &why))
          << "demo-workload " << version << ": " << why << "\n"
          << tail(workloads_.back()->log());
    }

    front_port_ = free_port();
    admin_port_ = free_port();
    haproxy_ = std::make_unique<HaproxyServer>(
        haproxy_config(front_port_, admin_port_,
                       {{"stable", "127.0.0.1:" + std::to_string(workload_ports_["v1"])},
                        {"canary", "127.0.0.1:" + std::to_string(workload_ports_["v2"])}}));
    ASSERT_NO_THROW(haproxy_->start({front_port_, admin_port_}));

    blackbox_port_ = free_port();
    write_file(dir_.file("blackbox.yml"),
               "modules:\n  http_2xx:\n    prober: http\n    timeout: 900ms\n"
               "    http: {preferred_ip_protocol: ip4, valid_status_codes: [200]}\n");
    blackbox_ = std::make_unique<Process>(
        std::vector<std::string>{find_binary("prometheus-blackbox-exporter"),
                                 "--config.file=" + dir_.file("blackbox.yml"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(blackbox_port_)},
        dir_.file("blackbox.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok("http://127.0.0.1:" + std::to_string(blackbox_port_) + "/-/healthy", 15s, &why))
        << "blackbox exporter: " << why << "\n"
        << tail(blackbox_->log());

    sidecar_port_ = free_port();
    PrometheusServer::Options options;
    options.scrape_interval = "1s";
    options.evaluation_interval = "1s";
    // The target-label convention of dashboards/README.md.
    options.extra_scrape_configs =
        "  - job_name: demo\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(workload_ports_["v1"]) +
        "']\n"
        "        labels: {deployment: demo, service: demo, version: v1}\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(workload_ports_["v2"]) +
        "']\n"
        "        labels: {deployment: demo, service: demo, version: v2}\n"
        "  - job_name: blackbox\n"
        "    metrics_path: /probe\n"
        "    params: {module: [http_2xx]}\n"
        "    static_configs:\n"
        "      - targets: ['" +
        workload_url("v1") +
        "/health']\n"
        "        labels: {deployment: demo, service: demo, version: v1}\n"
        "      - targets: ['" +
        workload_url("v2") +
        "/health']\n"
        "        labels: {deployment: demo, service: demo, version: v2}\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__address__], target_label: __param_target}\n"
        "      - {source_labels: [__param_target], target_label: instance}\n"
        "      - {target_label: __address__, replacement: '127.0.0.1:" +
        std::to_string(blackbox_port_) +
        "'}\n"
        "  - job_name: rollback-sidecar\n"
        "    static_configs:\n"
        "      - targets: ['127.0.0.1:" +
        std::to_string(sidecar_port_) +
        "']\n"
        "        labels: {deployment: demo, service: demo}\n";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    ASSERT_NO_THROW(prometheus_->start());

    load_ = std::make_unique<Process>(std::vector<std::string>{kWorkloadBinary, "load", "--url",
                                                               "http://127.0.0.1:" + std::to_string(front_port_) + "/",
                                                               "--rate", "20", "--concurrency", "8"},
                                      dir_.file("load.log"));

    // The demo policy's health rule counts missing probes as a breach, and its rates need two
    // samples: start the sidecar once Prometheus has both.
    ASSERT_TRUE(wait_until(
        [&] {
          return prometheus_->query_value("count(probe_success{deployment=\"demo\"} == 1)") == "2" &&
                 prometheus_->query_value(
                     "count(sum by (version) (rate(http_requests_total{deployment=\"demo\"}[5s])) > 0)") == "2";
        },
        45s, 250ms))
        << "Prometheus never had probes and request rates for v1 and v2\n"
        << tail(prometheus_->log());

    write_file(dir_.file("token"), kToken + "\n");
    std::string problem;
    write_file(dir_.file("sidecar.yml"),
               sidecar_config(dir_, prometheus_->url(), sidecar_port_, admin_port_, &problem));
    ASSERT_EQ(problem, "");
    Process check({kSidecarBinary, "check", "--config", dir_.file("sidecar.yml")}, dir_.file("check.log"));
    const int st = check.wait_exit(20s);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "rollback-sidecar check failed:\n"
                                                       << check.log() << "\nconfig:\n"
                                                       << read_file(dir_.file("sidecar.yml"));
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kSidecarBinary, "--config", dir_.file("sidecar.yml")},
                                         dir_.file("sidecar.log"));
    ASSERT_TRUE(wait_http_ok(sidecar_url() + "/readyz", 20s, &why)) << "sidecar not ready: " << why << "\n"
                                                                    << tail(sidecar_->log());
  }

  void TearDown() override {
    if (!HasFailure()) return;
    std::cerr << "---- sidecar status\n" << http_get(sidecar_url() + "/api/v1/status").body << "\n";
    if (sidecar_) std::cerr << "---- sidecar log\n" << tail(sidecar_->log(), 5000) << "\n";
    if (load_) std::cerr << "---- load log\n" << tail(load_->log(), 1000) << "\n";
    if (prometheus_) std::cerr << "---- Prometheus log\n" << tail(prometheus_->log(), 2000) << "\n";
    if (blackbox_) std::cerr << "---- blackbox log\n" << tail(blackbox_->log(), 1000) << "\n";
    if (haproxy_) std::cerr << "---- HAProxy log\n" << tail(haproxy_->log(), 1000) << "\n";
  }

  std::string workload_url(const std::string& version) {
    return "http://127.0.0.1:" + std::to_string(workload_ports_[version]);
  }
  std::string sidecar_url() const { return "http://127.0.0.1:" + std::to_string(sidecar_port_); }

  HttpResult api(const std::string& method, const std::string& path, const std::string& body) {
    return http_request(method, sidecar_url() + path, body,
                        {"Content-Type: application/json", "Authorization: Bearer " + kToken});
  }

  json status() {
    auto r = http_get(sidecar_url() + "/api/v1/status");
    return r.status == 200 ? json::parse(r.body, nullptr, false) : json();
  }

  // POST /api/v1/query; "" when the query returned a number, otherwise what went wrong.
  std::string run_query(const std::string& promql, std::size_t* series) {
    auto r = http_request("POST", prometheus_->url() + "/api/v1/query", "query=" + url_encode(promql),
                          {"Content-Type: application/x-www-form-urlencoded"}, 5000ms);
    json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return "HTTP " + std::to_string(r.status) + ": " + r.body + r.error;
    if (body.value("status", "") != "success")
      return "status " + body.value("status", "?") + ": " + body.value("errorType", "") + ": " +
             body.value("error", "");
    const json& data = body["data"];
    std::vector<std::string> values;
    if (data.value("resultType", "") == "scalar") {
      values.push_back(data["result"][1].get<std::string>());
    } else {
      for (const auto& s : data["result"]) {
        if (s.contains("value")) values.push_back(s["value"][1].get<std::string>());
      }
    }
    *series = values.size();
    if (values.empty()) return "empty result";
    for (const auto& v : values)
      if (v != "NaN") return "";
    return "every sample is NaN (" + std::to_string(values.size()) + " series)";
  }

  TempDir dir_;
  std::map<std::string, int> workload_ports_;
  std::vector<std::unique_ptr<Process>> workloads_;
  int front_port_ = 0, admin_port_ = 0, blackbox_port_ = 0, sidecar_port_ = 0;
  std::unique_ptr<HaproxyServer> haproxy_;
  std::unique_ptr<Process> blackbox_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::unique_ptr<Process> load_;
  std::unique_ptr<Process> sidecar_;
};

TEST_F(DashboardQueries, EveryPanelAndAnnotationQueryReturnsData) {
  // Make the deployment eventful: a freeze (once Prometheus has seen it unfrozen, so the change
  // is visible), then a fault the sidecar rolls back.
  ASSERT_TRUE(wait_until(
      [&] { return prometheus_->query_value("rollback_sidecar_freeze{deployment=\"demo\"}") == "0"; }, 20s, 200ms))
      << "Prometheus never scraped the sidecar";
  HttpResult freeze = api("PUT", "/api/v1/freeze", R"({"reason": "dashboards test", "actor": "ci"})");
  ASSERT_EQ(freeze.status, 200) << freeze.body;
  HttpResult fault = http_request("POST", workload_url("v2") + "/admin/fault", "error_ratio=1",
                                  {"Content-Type: application/x-www-form-urlencoded"});
  ASSERT_EQ(fault.status, 200) << fault.body;
  json last;
  ASSERT_TRUE(wait_until(
      [&] {
        last = status();
        return last.is_object() && last.value("state", "") == "rolled_back";
      },
      45s, 250ms))
      << "no rollback within 45s of error_ratio=1 on the canary; status:\n"
      << last.dump(2);
  ASSERT_EQ(HaproxyServer::runtime_command(admin_port_, "get weight app/canary").rfind("0 ", 0), 0u)
      << "the canary still has weight after the rollback";
  ASSERT_TRUE(wait_until(
      [&] {
        return prometheus_->query_value(
                   "rollback_sidecar_rollbacks_total{deployment=\"demo\",result=\"success\",trigger=\"rule\"}") ==
                   "1" &&
               !prometheus_->query_value("sum(rollback_sidecar_query_errors_total{deployment=\"demo\"})").empty() &&
               prometheus_->query_value("rollback_sidecar_freeze{deployment=\"demo\"}") == "1";
      },
      20s, 250ms))
      << "Prometheus never scraped the rollback, the query errors and the freeze";

  std::size_t queries = 0;
  std::vector<std::string> failures;
  for (const auto& file : dashboard_files()) {
    const json d = load_dashboard(file);
    ASSERT_FALSE(d.is_discarded()) << file;
    const std::string name = d.value("title", file);
    const auto values = variable_values(d, "demo");
    auto check = [&](const std::string& where, const std::string& expr) {
      std::vector<std::string> unknown;
      const std::string promql = substitute(expr, values, &unknown);
      ++queries;
      if (!unknown.empty()) {
        failures.push_back(where + ": undefined variable $" + unknown.front() + "\n    " + expr);
        return;
      }
      std::size_t series = 0;
      const std::string problem = run_query(promql, &series);
      if (!problem.empty()) failures.push_back(where + ": " + problem + "\n    " + promql);
    };
    for (const auto& p : all_panels(d)) {
      if (!is_query_panel(p)) continue;
      for (const auto& t : p.value("targets", json::array()))
        check(name + " / '" + p.value("title", "") + "' / " + t.value("refId", "?"), t.value("expr", ""));
    }
    for (const auto& a : prometheus_annotations(d))
      check(name + " / annotation '" + a.value("name", "") + "'", a["expr"]);

    // Query variables: label_values(selector, label) through the label values API; the saved
    // current value (when it is not All) must be among the answers.
    static const std::regex label_values(R"(^\s*label_values\((.+),\s*(\w+)\s*\)\s*$)");
    for (const auto& v : d["templating"]["list"]) {
      if (v.value("type", "") != "query") continue;
      const std::string where = name + " / variable $" + v.value("name", "");
      std::smatch m;
      const std::string def = substitute(v.value("definition", ""), values, nullptr);
      if (!std::regex_match(def, m, label_values)) {
        failures.push_back(where + ": not a label_values(selector, label) query: " + def);
        continue;
      }
      ++queries;
      auto r =
          http_get(prometheus_->url() + "/api/v1/label/" + m[2].str() + "/values?match[]=" + url_encode(m[1].str()));
      json body = json::parse(r.body, nullptr, false);
      if (body.is_discarded() || body.value("status", "") != "success" || body["data"].empty()) {
        failures.push_back(where + ": no values: " + r.body + "\n    " + def);
        continue;
      }
      const std::string current = v["current"].value("value", "");
      if (current != "$__all" && std::find(body["data"].begin(), body["data"].end(), current) == body["data"].end())
        failures.push_back(where + ": default '" + current + "' not among " + body["data"].dump());
    }
  }
  std::cerr << "[ info ] ran " << queries << " dashboard queries against Prometheus\n";
  EXPECT_GE(queries, 30u);
  std::string report;
  for (const auto& f : failures) report += "  " + f + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " of " << queries << " queries failed:\n" << report;
}

}  // namespace
}  // namespace rs::testing
