#include <stdexcept>

#include "actuators/actuator.h"
#include "actuators/exec.h"
#include "actuators/file.h"
#include "actuators/haproxy.h"
#include "actuators/nginx.h"
#include "actuators/webhook.h"

namespace rs::actuators {

void Registry::add(const std::string& type, Factory factory) {
  if (type.empty()) throw std::logic_error("actuator registry: empty type name");
  if (!factory) throw std::logic_error("actuator registry: null factory for \"" + type + "\"");
  if (!factories_.emplace(type, std::move(factory)).second)
    throw std::logic_error("actuator registry: type \"" + type + "\" registered twice");
}

bool Registry::contains(const std::string& type) const { return factories_.count(type) != 0; }

std::unique_ptr<Actuator> Registry::create(const std::string& type, Settings& settings,
                                           const Environment& env) const {
  auto it = factories_.find(type);
  return it == factories_.end() ? nullptr : it->second(settings, env);
}

std::vector<std::string> Registry::known_types() const {
  std::vector<std::string> out;  // std::map iterates in sorted order
  for (const auto& entry : factories_) out.push_back(entry.first);
  return out;
}

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    r.add("haproxy", [](Settings& s, const Environment& e) { return make_haproxy_actuator(s, e); });
    r.add("exec", [](Settings& s, const Environment& e) { return make_exec_actuator(s, e); });
    r.add("file", [](Settings& s, const Environment& e) { return make_file_actuator(s, e); });
    r.add("nginx", [](Settings& s, const Environment& e) { return make_nginx_actuator(s, e); });
    r.add("webhook", [](Settings& s, const Environment& e) { return make_webhook_actuator(s, e); });
    return r;
  }();
  return registry;
}

}  // namespace rs::actuators
