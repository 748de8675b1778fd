#include "sidecar/config/config.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "common/duration.h"
#include "common/template.h"

namespace rs::sidecar {

std::string DeploymentConfig::identity() const {
  std::string id = "name=" + name + ";stage=" + stage + ";strategy=" + strategy;
  for (const auto& [k, v] : vars) id += ";" + k + "=" + v;  // std::map: sorted, stable
  return id;
}

std::string ConfigError::to_string(const std::string& file) const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::shared_ptr<const re2::RE2> compile_alert_matcher(const std::string& pattern, std::string* error) {
  re2::RE2::Options options;
  options.set_log_errors(false);  // the reason goes into the config error instead of stderr
  auto re = std::make_shared<const re2::RE2>(pattern, options);
  if (!re->ok()) {
    if (error) *error = re->error();
    return nullptr;
  }
  return re;
}

namespace {

using Errors = std::vector<ConfigError>;

// At most this much of a user's value is quoted back in an error message.
std::string quote_clipped(const std::string& s, std::size_t max = 80) {
  if (s.size() <= max) return "'" + s + "'";
  return "'" + s.substr(0, max) + "...' (" + std::to_string(s.size()) + " characters)";
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// rules[].name: letters, digits and _ . : - (a Prometheus label value and a log token).
bool is_rule_name(const std::string& name) {
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_ascii_digit(c) || c == '_' ||
                    c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return !name.empty();
}

// `listen`: host:port, the host without ':' or whitespace (at most 253 characters: a DNS name's
// limit), the port 0..65535.
bool is_listen_address(const std::string& listen) {
  const auto colon = listen.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 253) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = listen[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return false;
  }
  const std::size_t digits = listen.size() - colon - 1;
  if (digits < 1 || digits > 5) return false;
  long port = 0;
  for (std::size_t i = colon + 1; i < listen.size(); ++i) {
    if (!is_ascii_digit(listen[i])) return false;
    port = port * 10 + (listen[i] - '0');
  }
  return port <= 65535;
}

const char* node_kind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "empty";
    default: return "undefined";
  }
}

int line_of(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

// A strict view of one YAML map: typed getters record errors with path and line, and
// finish() reports every key nobody asked for. Also the plugins' (actuators, notifiers) settings.
class MapReader : public common::PluginSettings {
 public:
  MapReader(YAML::Node node, std::string path, int line, Errors& errors)
      : node_(std::move(node)), path_(std::move(path)), line_(line), errors_(errors) {
    if (node_ && !node_.IsMap() && !node_.IsNull()) {
      add(path_, line_, "must be a map, found " + std::string(node_kind(node_)));
      node_ = YAML::Node();
    }
    // yaml-cpp keeps a repeated key and lookups see only the first: a later `dry_run: true`
    // would be silently ignored, so a repeat is an error.
    if (node_ && node_.IsMap()) {
      std::map<std::string, int> first_line;
      for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (!it->first.IsScalar()) continue;
        auto [at, inserted] = first_line.emplace(it->first.Scalar(), line_of(it->first));
        if (!inserted)
          add(key_path(it->first.Scalar()), line_of(it->first),
              "repeated key (first at line " + std::to_string(at->second) + "); remove one");
      }
    }
  }

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  bool has(const std::string& key) const override { return node_ && node_.IsMap() && node_[key]; }

  Kind kind(const std::string& key) const override {
    if (!has(key)) return Kind::kMissing;
    const YAML::Node n = node_[key];
    if (n.IsSequence()) return Kind::kList;
    if (n.IsMap()) return Kind::kMap;
    return n.IsScalar() ? Kind::kScalar : Kind::kUnknown;
  }

  YAML::Node raw(const std::string& key) {
    seen_.insert(key);
    if (!node_ || !node_.IsMap()) return YAML::Node();
    return node_[key];
  }

  int line(const std::string& key) {
    if (node_ && node_.IsMap()) {
      for (auto it = node_.begin(); it != node_.end(); ++it) {
        if (it->first.Scalar() == key) return line_of(it->first);
      }
    }
    return line_;
  }

  void error(const std::string& key, const std::string& message) override { add(key_path(key), line(key), message); }

  // Returns the scalar text of `key`, or nullopt (with an error unless a fallback is allowed).
  std::optional<std::string> scalar(const std::string& key, bool required) {
    YAML::Node n = raw(key);
    if (!n || n.IsNull()) {
      if (required) error(key, "is required");
      return std::nullopt;
    }
    if (!n.IsScalar()) {
      error(key, std::string("must be a scalar, found ") + node_kind(n));
      return std::nullopt;
    }
    return n.Scalar();
  }

  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) override {
    auto v = scalar(key, !fallback.has_value());
    return v ? *v : fallback.value_or("");
  }

  std::vector<std::string> string_list(const std::string& key,
                                       std::optional<std::vector<std::string>> fallback = std::nullopt) override {
    YAML::Node n = raw(key);
    if (!n || n.IsNull()) {
      if (!fallback) error(key, "is required");
      return fallback.value_or(std::vector<std::string>{});
    }
    if (!n.IsSequence()) {
      error(key, std::string("must be a list, found ") + node_kind(n));
      return fallback.value_or(std::vector<std::string>{});
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        add(key_path(key) + "[" + std::to_string(i) + "]", line_of(n[i]), "must be a string");
        continue;
      }
      out.push_back(n[i].Scalar());
    }
    return out;
  }

  std::map<std::string, std::string> string_map(const std::string& key) override {
    YAML::Node n = raw(key);
    std::map<std::string, std::string> out;
    if (!n || n.IsNull()) return out;
    if (!n.IsMap()) {
      error(key, std::string("must be a map, found ") + node_kind(n));
      return out;
    }
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->second.IsScalar()) {
        add(key_path(key) + "." + it->first.Scalar(), line_of(it->first), "must be a string");
        continue;
      }
      out[it->first.Scalar()] = it->second.Scalar();
    }
    return out;
  }

  std::chrono::milliseconds duration(const std::string& key,
                                     std::optional<std::chrono::milliseconds> fallback = std::nullopt) override {
    auto text = scalar(key, !fallback.has_value());
    if (!text) return fallback.value_or(std::chrono::milliseconds{0});
    std::string why;
    auto d = common::parse_duration(*text, &why);
    if (!d) {
      error(key, "'" + *text + "' is not a duration (" + why + "); use Prometheus format like 500ms, 30s, 5m, 1h30m");
      return fallback.value_or(std::chrono::milliseconds{0});
    }
    return *d;
  }

  std::optional<double> number(const std::string& key) {
    auto text = scalar(key, false);
    if (!text) return std::nullopt;
    const char* begin = text->c_str();
    char* end = nullptr;
    double v = std::strtod(begin, &end);
    if (text->empty() || end != begin + text->size() || !std::isfinite(v)) {
      error(key, "'" + *text + "' is not a finite number");
      return std::nullopt;
    }
    return v;
  }

  long long integer(const std::string& key, std::optional<long long> fallback = std::nullopt) override {
    auto text = scalar(key, !fallback.has_value());
    if (!text) return fallback.value_or(0);
    char* end = nullptr;
    long long v = std::strtoll(text->c_str(), &end, 10);
    if (text->empty() || end != text->c_str() + text->size()) {
      error(key, "'" + *text + "' is not an integer");
      return fallback.value_or(0);
    }
    return v;
  }

  bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt) override {
    auto text = scalar(key, !fallback.has_value());
    if (!text) return fallback.value_or(false);
    if (*text == "true") return true;
    if (*text == "false") return false;
    error(key, "'" + *text + "' is not a boolean (true or false)");
    return fallback.value_or(false);
  }

  // A nested map as its own reader (empty reader when absent).
  MapReader child(const std::string& key) {
    YAML::Node n = raw(key);
    return MapReader(n, key_path(key), n ? line_of(n) : line(key), errors_);
  }

  // Reports keys that are present but were never read.
  void finish(const std::map<std::string, std::string>& hints = {}) {
    if (!node_ || !node_.IsMap()) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      std::string k = it->first.Scalar();
      if (seen_.count(k)) continue;
      auto hint = hints.find(k);
      add(key_path(k), line_of(it->first),
          hint != hints.end() ? hint->second : "unknown key" + known_keys_suffix());
    }
  }

  void add(const std::string& path, int line, const std::string& message) {
    errors_.push_back(ConfigError{path, line, message});
  }

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  Errors& errors() const { return errors_; }

 private:
  std::string known_keys_suffix() const {
    if (seen_.empty()) return "";
    std::string s = " (known here: ";
    bool first = true;
    for (const auto& k : seen_) {
      s += (first ? "" : ", ") + k;
      first = false;
    }
    return s + ")";
  }

  YAML::Node node_;
  std::string path_;
  int line_;
  Errors& errors_;
  std::set<std::string> seen_;
};

void load_prometheus(MapReader r, promql::ClientOptions& out) {
  out.url = r.string("url");
  if (!out.url.empty() && out.url.rfind("http://", 0) != 0 && out.url.rfind("https://", 0) != 0) {
    r.error("url", "'" + out.url + "' must start with http:// or https://");
  }
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  out.timeout = r.duration("timeout", std::chrono::milliseconds{2000});
  if (out.timeout.count() <= 0) r.error("timeout", "must be greater than 0");
  for (const auto& [k, v] : r.string_map("headers")) {
    if (k == "Authorization" || k == "authorization") {
      r.error("headers", "set Authorization through bearer_token_file or basic_auth, so the secret stays in a file");
    }
    out.headers.emplace_back(k, v);
  }
  out.bearer_token_file = r.string("bearer_token_file", "");
  if (r.has("basic_auth")) {
    MapReader b = r.child("basic_auth");
    out.basic_auth_username = b.string("username");
    out.basic_auth_password_file = b.string("password_file");
    b.finish({{"password", "put the password in a file and use password_file, so it never sits in the config"}});
  }
  if (r.has("tls")) {
    MapReader t = r.child("tls");
    out.tls.ca_file = t.string("ca_file", "");
    out.tls.cert_file = t.string("cert_file", "");
    out.tls.key_file = t.string("key_file", "");
    out.tls.insecure_skip_verify = t.boolean("insecure_skip_verify", false);
    if (out.tls.cert_file.empty() != out.tls.key_file.empty()) t.error("cert_file", "cert_file and key_file go together");
    t.finish();
  }
  if (!out.bearer_token_file.empty() && !out.basic_auth_username.empty()) {
    r.error("bearer_token_file", "use either bearer_token_file or basic_auth, not both");
  }
  long long max_bytes = r.integer("max_response_bytes", 4LL * 1024 * 1024);
  if (max_bytes < 1024) r.error("max_response_bytes", "must be at least 1024");
  out.max_body_bytes = static_cast<size_t>(std::max(max_bytes, 1024LL));
  r.finish({{"bearer_token", "put the token in a file and use bearer_token_file"}});
}

void load_deployment(MapReader r, DeploymentConfig& out) {
  out.name = r.string("name");
  out.stage = r.string("stage");
  out.strategy = r.string("strategy");
  if (!out.strategy.empty() && out.strategy != "canary" && out.strategy != "blue-green") {
    r.error("strategy", "'" + out.strategy + "' is not a strategy (canary or blue-green)");
  }
  out.vars = r.string_map("vars");
  for (const char* reserved : {"deployment", "stage", "strategy"}) {
    if (out.vars.count(reserved)) r.error("vars", std::string("'") + reserved + "' is set from deployment itself; pick another name");
  }
  r.finish();
}

struct RuleFields {
  std::optional<double> above, below;
  std::optional<Duration> for_duration, delay;
  std::optional<Missing> missing;
  std::optional<RuleAction> action;
  std::optional<std::string> severity;
};

// Reads the fields a rule and its stage overrides share.
RuleFields read_rule_fields(MapReader& r) {
  RuleFields f;
  f.above = r.number("above");
  f.below = r.number("below");
  // raw() first, so `for` and `delay` are listed as known keys even when absent.
  if (r.raw("for")) f.for_duration = r.duration("for", Duration{0});
  if (r.raw("delay")) f.delay = r.duration("delay", Duration{0});
  if (auto m = r.scalar("missing", false)) {
    if (*m == "hold") f.missing = Missing::kHold;
    else if (*m == "breach") f.missing = Missing::kBreach;
    else if (*m == "ok") f.missing = Missing::kOk;
    else r.error("missing", "'" + *m + "' is not one of hold, breach, ok");
  }
  if (auto a = r.scalar("action", false)) {
    if (*a == "rollback") f.action = RuleAction::kRollback;
    else if (*a == "notify") f.action = RuleAction::kNotify;
    else r.error("action", "'" + *a + "' is not one of rollback, notify");
  }
  if (auto s = r.scalar("severity", false)) f.severity = *s;
  if (f.above && f.below) r.error("above", "set either above or below, not both");
  return f;
}

void load_rule(MapReader r, const DeploymentConfig& dep, const std::map<std::string, std::string>& vars,
               std::vector<RuleConfig>& out) {
  RuleConfig rule;
  rule.line = r.line();
  rule.name = r.string("name");
  if (rule.name.size() > kMaxRuleNameLength) {
    r.error("name", quote_clipped(rule.name) + " is longer than " + std::to_string(kMaxRuleNameLength) +
                        " characters");
  } else if (!rule.name.empty() && !is_rule_name(rule.name)) {
    r.error("name", quote_clipped(rule.name) + " may only contain letters, digits and _ . : -");
  }
  std::string query_template = r.string("query");
  RuleFields base = read_rule_fields(r);
  if (!base.above && !base.below) r.error("query", "needs a threshold: set above or below");

  RuleFields over;
  if (r.has("stages")) {
    YAML::Node stages = r.raw("stages");
    if (!stages.IsMap()) {
      r.error("stages", "must be a map of stage name to overrides");
    } else {
      for (auto it = stages.begin(); it != stages.end(); ++it) {
        std::string stage = it->first.Scalar();
        MapReader s(it->second, r.key_path("stages") + "." + stage, line_of(it->first), r.errors());
        RuleFields f = read_rule_fields(s);
        if ((f.above && base.below) || (f.below && base.above)) {
          s.error(f.above ? "above" : "below", "a stage may change the threshold, not its direction");
        }
        s.finish();
        if (stage == dep.stage) {
          over = f;
          rule.stage_override = stage;
        }
      }
    }
  }
  rule.comparison = (over.below || (!over.above && base.below)) ? Comparison::kBelow : Comparison::kAbove;
  rule.threshold = over.above ? *over.above : over.below ? *over.below : base.above ? *base.above : base.below.value_or(0);
  rule.for_duration = over.for_duration.value_or(base.for_duration.value_or(Duration{0}));
  rule.delay = over.delay.value_or(base.delay.value_or(Duration{0}));
  rule.missing = over.missing.value_or(base.missing.value_or(Missing::kHold));
  rule.action = over.action.value_or(base.action.value_or(RuleAction::kRollback));
  rule.severity = over.severity.value_or(base.severity.value_or("sev2"));
  if (rule.for_duration.count() < 0) r.error("for", "must not be negative");
  if (rule.delay.count() < 0) r.error("delay", "must not be negative");

  std::string why;
  if (auto q = common::render_template(query_template, vars, &why)) {
    rule.query = *q;
  } else if (!query_template.empty()) {
    r.error("query", why);
  }
  r.finish();
  out.push_back(std::move(rule));
}

std::string comma_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// A list of actuator entries, each built through the registry (which checks its settings).
void load_actuator_list(const YAML::Node& list, const std::string& where, MapReader& parent,
                        const actuators::Registry& registry, const actuators::Environment& env, Errors& errors,
                        std::vector<std::unique_ptr<actuators::Actuator>>* out, std::vector<ActuatorSpec>* specs,
                        std::vector<std::pair<std::size_t, const actuators::Actuator*>>* built = nullptr) {
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) {
    parent.add(where, line_of(list), "must be a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    MapReader a(list[i], where + "[" + std::to_string(i) + "]", line_of(list[i]), errors);
    std::string type = a.string("type");
    if (type.empty()) continue;
    if (!registry.contains(type)) {
      a.error("type", "unknown actuator type '" + type + "' (known: " + comma_list(registry.known_types()) + ")");
      continue;
    }
    size_t before = errors.size();
    auto actuator = registry.create(type, a, env);
    a.finish();
    if (actuator && errors.size() == before) {
      if (built) built->emplace_back(i, actuator.get());
      out->push_back(std::move(actuator));
    }
    if (specs) specs->push_back(ActuatorSpec{type, a.line()});
  }
}

const std::vector<std::string>& notification_messages() {
  static const std::vector<std::string> all = {"RollbackStarted", "RollbackSucceeded", "RollbackFailed",
                                               "RollbackDryRun", "RuleNotify"};
  return all;
}

// `notifiers:` entries, each built through the notifier registry; `messages` and
// `give_up_after` are the dispatcher's and read here.
void load_notifier_list(const YAML::Node& list, MapReader& parent, const notifiers::Registry& registry,
                        const notifiers::Environment& env, Errors& errors,
                        std::vector<std::unique_ptr<notifiers::Notifier>>* out, std::vector<NotifierSpec>* specs) {
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) {
    parent.add("notifiers", line_of(list), "must be a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    MapReader n(list[i], "notifiers[" + std::to_string(i) + "]", line_of(list[i]), errors);
    std::string type = n.string("type");
    if (type.empty()) continue;
    if (!registry.contains(type)) {
      n.error("type", "unknown notifier type '" + type + "' (known: " + comma_list(registry.known_types()) + ")");
      continue;
    }
    NotifierSpec spec;
    spec.type = type;
    spec.line = n.line();
    const auto& all = notification_messages();
    spec.messages = n.string_list("messages", all);
    for (const auto& m : spec.messages) {
      if (std::find(all.begin(), all.end(), m) == all.end())
        n.error("messages", "unknown message '" + m + "' (known: " + comma_list(all) + ")");
    }
    spec.give_up_after = n.duration("give_up_after", Duration{3600000});
    if (spec.give_up_after.count() <= 0) n.error("give_up_after", "must be greater than 0");
    size_t before = errors.size();
    auto notifier = registry.create(type, n, env);
    n.finish();
    if (notifier && errors.size() == before) {
      out->push_back(std::move(notifier));
      specs->push_back(std::move(spec));
    }
  }
}

// query + above|below of preflight/verify, templated.
std::optional<QueryCondition> read_condition(MapReader& r, const std::map<std::string, std::string>& vars) {
  QueryCondition c;
  std::string why;
  auto q = common::render_template(r.string("query"), vars, &why);
  if (!q) {
    r.error("query", why);
    return std::nullopt;
  }
  c.query = *q;
  auto above = r.number("above");
  auto below = r.number("below");
  if (above && below) r.error("above", "set either above or below, not both");
  if (!above && !below) {
    r.error("query", "needs a threshold: set above or below");
    return std::nullopt;
  }
  c.comparison = above ? Comparison::kAbove : Comparison::kBelow;
  c.threshold = above ? *above : *below;
  return c;
}

}  // namespace

LoadResult load_config_text(const std::string& yaml_text, const std::string& source_name,
                            const actuators::Registry& registry, const notifiers::Registry& notifier_registry,
                            const notifiers::Environment& notifier_env, const Env& world) {
  LoadResult result;
  Errors& errors = result.errors;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    errors.push_back(ConfigError{"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "YAML syntax error: " + e.msg});
    return result;
  }
  if (!root.IsMap()) {
    errors.push_back(ConfigError{"", 1, std::string("the config must be a YAML map, found ") + node_kind(root)});
    return result;
  }

  LoadedConfig loaded;
  Config& cfg = loaded.config;
  cfg.source_path = source_name;
  MapReader top(root, "", 1, errors);

  if (!top.has("prometheus")) top.error("prometheus", "is required (at least prometheus.url)");
  load_prometheus(top.child("prometheus"), cfg.prometheus);
  cfg.listen = top.string("listen", "127.0.0.1:9107");
  if (!is_listen_address(cfg.listen)) {
    top.error("listen", quote_clipped(cfg.listen) + " must be host:port (host at most 253 characters, port 0..65535)");
  }
  cfg.evaluation_interval = top.duration("evaluation_interval", Duration{5000});
  if (cfg.evaluation_interval < Duration{100}) top.error("evaluation_interval", "must be at least 100ms");

  if (!top.has("deployment")) top.error("deployment", "is required (name, stage, strategy)");
  load_deployment(top.child("deployment"), cfg.deployment);

  std::map<std::string, std::string> vars = cfg.deployment.vars;
  vars["deployment"] = cfg.deployment.name;
  vars["stage"] = cfg.deployment.stage;
  vars["strategy"] = cfg.deployment.strategy;

  YAML::Node rules = top.raw("rules");
  if (!rules || !rules.IsSequence() || rules.size() == 0) {
    top.error("rules", "must be a non-empty list of rules");
  } else {
    for (size_t i = 0; i < rules.size(); ++i) {
      load_rule(MapReader(rules[i], "rules[" + std::to_string(i) + "]", line_of(rules[i]), errors), cfg.deployment,
                vars, cfg.rules);
    }
    std::set<std::string> names;
    for (const auto& r : cfg.rules) {
      if (!r.name.empty() && !names.insert(r.name).second) {
        errors.push_back(ConfigError{"rules", r.line, "rule name '" + r.name + "' is used twice"});
      }
    }
  }

  if (top.has("rollback")) {
    MapReader rb = top.child("rollback");
    cfg.rollback.deadline = rb.duration("deadline", Duration{30000});
    cfg.rollback.initial_backoff = rb.duration("initial_backoff", Duration{100});
    cfg.rollback.max_backoff = rb.duration("max_backoff", Duration{2000});
    if (cfg.rollback.deadline.count() <= 0) rb.error("deadline", "must be greater than 0");
    if (cfg.rollback.initial_backoff.count() <= 0) rb.error("initial_backoff", "must be greater than 0");
    if (cfg.rollback.max_backoff < cfg.rollback.initial_backoff) rb.error("max_backoff", "must be at least initial_backoff");
    cfg.rollback.stagger = rb.duration("stagger", Duration{0});
    long long replica = rb.integer("replica_index", 0);
    if (replica < 0 || replica > 1000) rb.error("replica_index", "must be 0-1000");
    cfg.rollback.replica_index = static_cast<int>(std::clamp(replica, 0LL, 1000LL));
    if (rb.has("replica_index") && cfg.rollback.stagger.count() == 0) {
      rb.error("stagger", "is needed with replica_index (e.g. 250ms: replica N waits N * stagger)");
    }
    if (rb.has("preflight")) {
      MapReader pf = rb.child("preflight");
      PreflightConfig& p = cfg.rollback.preflight;
      p.enabled = true;
      if (pf.has("http")) {
        std::string why;
        auto url = common::render_template(pf.string("http"), vars, &why);
        if (!url) pf.error("http", why);
        else if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) pf.error("http", "'" + *url + "' must start with http:// or https://");
        else p.http_url = *url;
      }
      if (pf.has("query")) p.query = read_condition(pf, vars);
      p.timeout = pf.duration("timeout", Duration{5000});
      if (!pf.has("http") && !pf.has("query")) pf.error("http", "preflight needs http:, query: (with above/below), or both");
      pf.finish();
    }
    if (rb.has("verify")) {
      MapReader vf = rb.child("verify");
      VerifyConfig& v = cfg.rollback.verify;
      v.enabled = true;
      if (auto c = read_condition(vf, vars)) v.condition = *c;
      v.for_duration = vf.duration("for", Duration{60000});
      v.timeout = vf.duration("timeout", Duration{300000});
      if (v.timeout < v.for_duration) vf.error("timeout", "must be at least `for`");
      vf.finish();
    }
    rb.finish();
  } else {
    top.raw("rollback");
  }

  cfg.state_file = top.string("state_file", "");
  cfg.dry_run = top.boolean("dry_run", false);

  actuators::Environment env{cfg.deployment.strategy, &world};
  YAML::Node acts = top.raw("actuators");
  std::vector<std::pair<std::size_t, const actuators::Actuator*>> built;  // actuators[index]
  load_actuator_list(acts, "actuators", top, registry, env, errors, &loaded.actuators, &cfg.actuator_specs, &built);
  if (top.has("cleanup")) {
    MapReader cl = top.child("cleanup");
    cfg.cleanup.delay = cl.duration("delay");
    YAML::Node list = cl.raw("actuators");
    if (!list || !list.IsSequence() || list.size() == 0) {
      cl.error("actuators", "must list what to run after a rollback (e.g. exec: stop the failed colour)");
    } else {
      load_actuator_list(list, cl.key_path("actuators"), cl, registry, env, errors, &loaded.cleanup_actuators, nullptr);
    }
    cfg.cleanup.enabled = true;
    cl.finish();
  } else {
    top.raw("cleanup");
  }
  bool rolls_back = std::any_of(cfg.rules.begin(), cfg.rules.end(),
                                [](const RuleConfig& r) { return r.action == RuleAction::kRollback; });
  if (rolls_back && !cfg.dry_run && (!acts || acts.IsNull() || acts.size() == 0)) {
    top.error("actuators", "rules with action: rollback need at least one actuator (or set dry_run: true)");
  }

  if (top.has("api")) {
    MapReader api = top.child("api");
    cfg.api.bearer_token_file = api.string("bearer_token_file", "");
    long long max_body = api.integer("max_body_bytes", 1024 * 1024);
    if (max_body < 1024) api.error("max_body_bytes", "must be at least 1024");
    cfg.api.max_body_bytes = static_cast<std::size_t>(std::max(max_body, 1024LL));
    api.finish({{"bearer_token", "put the token in a file and use bearer_token_file"}});
  } else {
    top.raw("api");
  }
  if (top.has("alerts")) {
    MapReader alerts = top.child("alerts");
    if (!alerts.has("match")) alerts.error("match", "is required: the labels an alert must have to roll back");
    for (const auto& [label, pattern] : alerts.string_map("match")) {
      std::string why;
      auto rendered = common::render_template(pattern, vars, &why);
      if (!rendered) {
        alerts.error("match", label + ": " + why);
        continue;
      }
      auto compiled = compile_alert_matcher(*rendered, &why);
      if (!compiled) {
        alerts.error("match", label + ": " + quote_clipped(*rendered) + " is not a valid RE2 regex (" + why + ")");
        continue;
      }
      cfg.alerts.match[label] = *rendered;
      cfg.alerts.compiled[label] = std::move(compiled);
    }
    cfg.alerts.enabled = true;
    alerts.finish();
    if (cfg.api.bearer_token_file.empty()) {
      top.error("alerts", "needs api.bearer_token_file: Alertmanager authenticates with it (http_config.authorization)");
    }
  } else {
    top.raw("alerts");
  }
  if (top.has("promotion")) {
    MapReader pr = top.child("promotion");
    PromotionConfig& p = cfg.promotion;
    p.enabled = true;
    int previous = 0;
    for (const auto& text : pr.string_list("steps")) {
      char* end = nullptr;
      long step = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || step <= previous || step > 100) {
        pr.error("steps", "must be increasing whole percentages in 1-100 ending at 100 ('" + text + "' is not)");
        break;
      }
      p.steps.push_back(static_cast<int>(step));
      previous = static_cast<int>(step);
    }
    if (!p.steps.empty() && p.steps.back() != 100) pr.error("steps", "must end at 100 (full promotion)");
    if (cfg.deployment.strategy == "blue-green" && p.steps != std::vector<int>{100}) {
      pr.error("steps", "blue-green switches all traffic at once: use steps: [100] (the analysis window is step_duration)");
    }
    p.step_duration = pr.duration("step_duration", Duration{120000});
    if (p.step_duration < cfg.evaluation_interval) pr.error("step_duration", "must be at least evaluation_interval");
    pr.finish();
    // Promotion drives every actuator's set_canary_weight() and stops at the first failure, so
    // each must set weights. (This ran before `promotion.enabled` was set and never fired.)
    for (const auto& [index, actuator] : built) {
      if (actuator->supports_weights()) continue;
      top.error("promotion", "needs actuators that set traffic weights; actuators[" + std::to_string(index) + "].type '" +
                                 actuator->type() + "' (line " + std::to_string(line_of(acts[index])) +
                                 ") cannot (types that can: " + comma_list(registry.weight_types()) + ")");
    }
    if (!acts || acts.IsNull() || acts.size() == 0) top.error("promotion", "needs at least one actuator");
  } else {
    top.raw("promotion");
  }
  cfg.audit_log = top.string("audit_log", "");
  cfg.incidents_dir = top.string("incidents_dir", "");

  load_notifier_list(top.raw("notifiers"), top, notifier_registry, notifier_env, errors, &loaded.notifiers,
                     &cfg.notifier_specs);
  top.finish();

  if (errors.empty()) result.loaded = std::move(loaded);
  return result;
}

LoadResult load_config_file(const std::string& path, const actuators::Registry& registry,
                            const notifiers::Registry& notifier_registry, const notifiers::Environment& notifier_env,
                            const Env& world) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back(ConfigError{"", 0, "cannot read the config file"});
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path, registry, notifier_registry, notifier_env, world);
}

}  // namespace rs::sidecar
