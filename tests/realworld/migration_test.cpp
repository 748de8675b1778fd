// Every Argo Rollouts and Flagger metric in ../shared/real-world/argo-flagger/manifest.tsv either
// becomes a rollback-sidecar rule that the config loader accepts (translated as
// docs/migrating.md says), or is one of the documented things a rule cannot express (a provider
// other than Prometheus, a template without a query). The translation table is the docs'.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "sidecar/config/config.h"
#include "tests/realworld/realworld_support.h"

namespace rs::realworld {
namespace {

std::string dir() { return root() + "/argo-flagger"; }

// Flagger's built-in metrics for Istio (pkg/metrics/observers/istio.go), as collected in
// promql-queries.tsv (q24, q25): success rate in percent, p99 latency in milliseconds.
std::map<std::string, std::string> flagger_builtins() {
  std::map<std::string, std::string> out;
  for (const auto& row : read_tsv(root() + "/promql-queries.tsv")) {
    if (row.at("id") == "q24") out["request-success-rate"] = row.at("query");
    if (row.at("id") == "q25") out["request-duration"] = row.at("query");
  }
  return out;
}

struct Rule {
  std::string query;
  std::string direction;  // "above" | "below"
  std::string threshold;
};

// Argo/Flagger template syntax → the sidecar's {{name}} (docs/migrating.md, "Templates"):
// {{args.service-name}} → {{service_name}}, {{ variables.direction }} → {{direction}},
// {{ namespace }} → {{namespace}}; a Go template function call (printf) has no counterpart and is
// written out as one var (its value computed by hand), here {{computed}}.
std::string translate_template(const std::string& query, std::set<std::string>* vars) {
  static const std::regex placeholder(R"(\{\{\s*([^}]*?)\s*\}\})");
  std::string out;
  auto begin = std::sregex_iterator(query.begin(), query.end(), placeholder);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += query.substr(last, it->position() - last);
    std::string name = (*it)[1].str();
    if (name.find(' ') != std::string::npos) name = "computed";  // printf "..." a b c
    for (const char* prefix : {"args.", "variables."}) {
      if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
    }
    for (char& c : name) {
      if (c == '-' || c == '.') c = '_';
    }
    vars->insert(name);
    out += "{{" + name + "}}";
    last = it->position() + it->length();
  }
  return out + query.substr(last);
}

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Loads a config with `rule` and returns "" or the loader's errors.
std::string load(const Rule& rule) {
  std::set<std::string> vars;
  const std::string query = translate_template(rule.query, &vars);
  std::string yaml =
      "prometheus: {url: 'http://prometheus:9090'}\n"
      "deployment:\n  name: checkout\n  stage: prod\n  strategy: canary\n  vars:\n";
  for (const auto& v : vars) yaml += "    " + v + ": x\n";
  if (vars.empty()) yaml += "    unused: x\n";
  yaml += "rules:\n  - name: migrated\n    query: " + quoted(query) + "\n    " + rule.direction + ": " +
          rule.threshold +
          "\n    for: 2m\n    missing: hold\n"
          "actuators: [{type: exec, command: [/bin/true]}]\n";
  auto result = sidecar::load_config_text(yaml, "migrated.yml", actuators::Registry::builtin());
  std::string errors;
  for (const auto& e : result.errors) errors += e.to_string("migrated.yml") + "\n";
  if (!result.loaded && errors.empty()) errors = "not loaded";
  return errors.empty() ? "" : errors + yaml;
}

// thresholdRange {'min': 99} → below 99; {'max': 500} → above 500.
bool from_threshold_range(const std::string& range, Rule* rule) {
  static const std::regex bound(R"(\{'(min|max)': ([0-9.]+)\})");
  std::smatch m;
  if (!std::regex_match(range, m, bound)) return false;
  rule->direction = m[1] == "min" ? "below" : "above";
  rule->threshold = m[2];
  return true;
}

// successCondition result[0] >= X → below X; result[0] <= X → above X; all(result, # < X) over a
// range → max_over_time(...) above X.
bool from_condition(const std::string& condition, Rule* rule, std::string* lookback) {
  static const std::regex at_least(R"(result\[0\] >= ([0-9.]+))"), at_most(R"(result\[0\] <= ([0-9.]+))"),
      all_below(R"(all\(result, # < ([0-9.]+)\))");
  std::smatch m;
  if (std::regex_match(condition, m, at_least)) {
    rule->direction = "below";
  } else if (std::regex_match(condition, m, at_most)) {
    rule->direction = "above";
  } else if (std::regex_match(condition, m, all_below)) {
    rule->direction = "above";
    rule->query = "max_over_time((" + rule->query + ")[" + *lookback + ":1m])";
  } else {
    return false;
  }
  rule->threshold = m[1];
  return true;
}

bool is_prometheus(const std::string& provider) { return provider.rfind("prometheus", 0) == 0; }

TEST(ArgoAndFlaggerMetrics, EachBecomesARuleOrIsADocumentedLimit) {
  if (!exists(dir() + "/manifest.tsv")) GTEST_SKIP() << "no real-world collection at " << root();
  const auto rows = read_tsv(dir() + "/manifest.tsv");
  const auto builtins = flagger_builtins();
  ASSERT_EQ(builtins.size(), 2u);
  const std::string migrating = slurp(std::string(RS_SOURCE_DIR) + "/docs/migrating.md");
  ASSERT_FALSE(migrating.empty()) << "docs/migrating.md is missing";

  // MetricTemplates by name, for Canary metrics' templateRef.
  std::map<std::string, std::vector<const Row*>> templates;
  for (const auto& row : rows) {
    if (row.at("kind") == "MetricTemplate") templates[row.at("object")].push_back(&row);
  }

  int translated = 0, not_expressible = 0, not_metrics = 0;
  for (const auto& row : rows) {
    SCOPED_TRACE(row.at("file") + " " + row.at("object") + "/" + row.at("metric"));
    const std::string& kind = row.at("kind");
    if (kind == "notes" || kind == "doc") {  // prose, not a metric
      ++not_metrics;
      continue;
    }
    std::string provider = row.at("provider_or_templateRef");
    std::string query = row.at("query");
    if (provider.rfind("builtin:", 0) == 0) {
      auto builtin = builtins.find(provider.substr(8));
      ASSERT_NE(builtin, builtins.end()) << provider;
      query = builtin->second;
      provider = "prometheus";
    } else if (provider.rfind("templateRef=", 0) == 0) {
      std::string name = provider.substr(12);
      name = name.substr(0, name.find('/'));
      auto it = templates.find(name);
      ASSERT_NE(it, templates.end()) << "templateRef " << name << " is not in the manifest";
      provider = it->second.front()->at("provider_or_templateRef");
      query = it->second.front()->at("query");
    }
    if (!is_prometheus(provider)) {
      // Provider name without its endpoint ("datadog @https://..." → "datadog").
      const std::string name = provider.substr(0, provider.find(' '));
      if (name.empty() || query.empty()) {
        // A template shown only in part (no provider or query in the snippet): nothing to translate.
        EXPECT_TRUE(query.empty()) << "a query without a provider";
      } else {
        EXPECT_NE(migrating.find("`" + name + "`"), std::string::npos)
            << "docs/migrating.md does not list provider " << name << " as not expressible";
      }
      ++not_expressible;
      continue;
    }
    if (query.empty()) {  // an Argo fragment showing only provider settings (address, sigv4)
      ++not_metrics;
      continue;
    }
    Rule rule;
    rule.query = query;
    std::string lookback = "5m";
    static const std::regex lookback_arg(R"re(duration\("([^"]*)"\))re");
    std::smatch m;
    if (std::regex_search(row.at("other"), m, lookback_arg)) lookback = m[1];
    const bool has_threshold = !row.at("thresholdRange").empty() || !row.at("successCondition").empty();
    if (!row.at("thresholdRange").empty()) {
      ASSERT_TRUE(from_threshold_range(row.at("thresholdRange"), &rule)) << row.at("thresholdRange");
    } else if (!row.at("successCondition").empty()) {
      ASSERT_TRUE(from_condition(row.at("successCondition"), &rule, &lookback)) << row.at("successCondition");
    } else {
      // A MetricTemplate (its threshold lives on the Canary) or a fragment: the query must load.
      rule.direction = "above";
      rule.threshold = "1";
    }
    (void)has_threshold;
    const std::string errors = load(rule);
    EXPECT_EQ(errors, "") << "query: " << query;
    ++translated;
  }
  // Every row was looked at; the counts are the ones docs/migrating.md reports.
  EXPECT_EQ(translated + not_expressible + not_metrics, static_cast<int>(rows.size()));
  EXPECT_GE(translated, 140);
  std::cout << "argo/flagger metrics: " << translated << " translated, " << not_expressible << " not expressible, "
            << not_metrics << " rows without a metric\n";
}

}  // namespace
}  // namespace rs::realworld
