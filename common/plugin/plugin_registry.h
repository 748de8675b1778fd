// Plugin factories registered by type name (actuators, notifiers).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/plugin/plugin_settings.h"

namespace rs::common {

// Factories registered by type name. A factory builds one plugin from its config entry; config
// errors are recorded through the settings (the loader then rejects the config), and a plugin
// returned after such an error must not be used. Registering a name twice, an empty name or a
// null factory is a programming error and throws std::logic_error (at startup, never at run time).
template <typename Plugin, typename Environment>
class PluginRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Plugin>(PluginSettings& settings, const Environment& env)>;

  // `kind` names the plugins in errors: "actuator", "notifier".
  explicit PluginRegistry(std::string kind) : kind_(std::move(kind)) {}

  void add(const std::string& type, Factory factory) {
    if (type.empty()) throw std::logic_error(kind_ + " registry: empty type name");
    if (!factory) throw std::logic_error(kind_ + " registry: null factory for \"" + type + "\"");
    if (!factories_.emplace(type, std::move(factory)).second)
      throw std::logic_error(kind_ + " registry: type \"" + type + "\" registered twice");
  }

  bool contains(const std::string& type) const { return factories_.count(type) != 0; }

  // nullptr when the type is unknown (the caller reports it with known_types()).
  std::unique_ptr<Plugin> create(const std::string& type, PluginSettings& settings, const Environment& env) const {
    auto it = factories_.find(type);
    return it == factories_.end() ? nullptr : it->second(settings, env);
  }

  std::vector<std::string> known_types() const {  // sorted
    std::vector<std::string> out;
    for (const auto& entry : factories_) out.push_back(entry.first);
    return out;
  }

 private:
  std::string kind_;
  std::map<std::string, Factory> factories_;
};

}  // namespace rs::common
