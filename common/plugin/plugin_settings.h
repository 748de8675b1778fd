// The settings of one configured plugin (actuator, notifier), as its factory reads them.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rs::common {

// One entry of a plugin list in the config (`actuators[]`, `notifiers[]`), as seen by the
// plugin's factory. Implemented by the sidecar's config loader. Getters record a config error
// naming the key and its line when a value is missing or has the wrong type, and then return
// the fallback; keys a factory never reads are reported as unknown after the factory returns.
class PluginSettings {
 public:
  virtual ~PluginSettings() = default;
  virtual bool has(const std::string& key) const = 0;
  // The shape of the value under `key`, so a factory can explain a wrong shape better than a
  // getter's generic type error (exec: "use a list, not a shell string"). Added for exec; the
  // default answers kUnknown for present keys, so implementations that predate it still work
  // (factories then fall back to the getters' own errors). Config loaders should override it.
  enum class Kind { kUnknown, kMissing, kScalar, kList, kMap };
  virtual Kind kind(const std::string& key) const { return has(key) ? Kind::kUnknown : Kind::kMissing; }
  virtual std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) = 0;
  virtual std::vector<std::string> string_list(const std::string& key,
                                               std::optional<std::vector<std::string>> fallback = std::nullopt) = 0;
  virtual std::map<std::string, std::string> string_map(const std::string& key) = 0;  // {} if absent
  virtual std::chrono::milliseconds duration(const std::string& key,
                                             std::optional<std::chrono::milliseconds> fallback = std::nullopt) = 0;
  virtual long long integer(const std::string& key, std::optional<long long> fallback = std::nullopt) = 0;
  virtual bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt) = 0;
  // Records an error about `key` (its line is added) for checks the getters cannot express.
  virtual void error(const std::string& key, const std::string& message) = 0;
};

}  // namespace rs::common
