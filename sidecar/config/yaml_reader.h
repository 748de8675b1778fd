// The config's strict YAML reader (internal to sidecar/config): a view of one YAML map whose typed
// getters record a ConfigError with the key path and its line, that reports repeated keys at once
// and unknown keys (every key nobody read) on finish(). It is also what actuator and notifier
// factories read their settings through (common::PluginSettings).
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/plugin/plugin_settings.h"
#include "sidecar/config/config.h"

namespace rs::sidecar::config_internal {

using Errors = std::vector<ConfigError>;
using Vars = std::map<std::string, std::string>;

// The longest duration any key accepts: larger values overflow the clocks' arithmetic and are
// never what was meant (`evaluation_interval: 99999999999h`).
constexpr Duration kMaxDuration{365LL * 24 * 3600 * 1000};  // 1y

// At most `max` characters of a user's value, quoted, for an error message.
std::string quote_clipped(const std::string& s, std::size_t max = 80);
// "a, b, c"
std::string comma_list(const std::vector<std::string>& items);
// "a map", "a list", "a scalar", "empty"
const char* node_kind(const YAML::Node& n);
// 1-based line of a node; 0 when unknown.
int line_of(const YAML::Node& n);

class MapReader : public common::PluginSettings {
 public:
  // `node` must be a map (or absent/null: an empty reader); anything else is an error at `line`.
  MapReader(YAML::Node node, std::string path, int line, Errors& errors);

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  bool has(const std::string& key) const override;
  Kind kind(const std::string& key) const override;
  // The node under `key` (marks it read); an undefined node when absent.
  YAML::Node raw(const std::string& key);
  // Line of `key` in the file (the map's own line when absent).
  int line(const std::string& key) const;

  void error(const std::string& key, const std::string& message) override;

  // The scalar text of `key`; nullopt when absent/null (an error when required) or not a scalar.
  std::optional<std::string> scalar(const std::string& key, bool required);
  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) override;
  std::vector<std::string> string_list(const std::string& key,
                                       std::optional<std::vector<std::string>> fallback = std::nullopt) override;
  std::map<std::string, std::string> string_map(const std::string& key) override;
  // Prometheus format, at most kMaxDuration.
  std::chrono::milliseconds duration(const std::string& key,
                                     std::optional<std::chrono::milliseconds> fallback = std::nullopt) override;
  std::optional<double> number(const std::string& key);  // finite, or nullopt (error when not a number)
  long long integer(const std::string& key, std::optional<long long> fallback = std::nullopt) override;
  bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt) override;

  // Templating hook: `text` with every {{name}} replaced from `vars`; nullopt with an error at
  // `key` naming the variable when one is unknown or the braces are unclosed.
  std::optional<std::string> render(const std::string& key, const std::string& text, const Vars& vars);

  // A nested map as its own reader (an empty reader when absent).
  MapReader child(const std::string& key);

  // Reports keys that are present but were never read; `hints` replace "unknown key" for
  // keys that are refused on purpose (e.g. `password`: use a file).
  void finish(const std::map<std::string, std::string>& hints = {});

  void add(const std::string& path, int line, const std::string& message);

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  Errors& errors() const { return errors_; }

 private:
  std::string known_keys_suffix() const;

  YAML::Node node_;
  std::string path_;
  int line_;
  Errors& errors_;
  std::set<std::string> seen_;
};

// Parses `text` as exactly one YAML document whose top level is a map. On failure returns
// nullopt and records the error (syntax error with its line, a second document, not a map).
std::optional<YAML::Node> read_document(const std::string& text, Errors& errors);

}  // namespace rs::sidecar::config_internal
