// actuators, cleanup: the plugins that move traffic (and run after a rollback), each built
// through the actuator registry, which checks its settings.
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

void load_actuator_list(const YAML::Node& list, const std::string& where, MapReader& parent,
                        const actuators::Registry& registry, const actuators::Environment& env, Errors& errors,
                        std::vector<std::unique_ptr<actuators::Actuator>>* out, std::vector<ActuatorSpec>* specs,
                        std::vector<LoadContext::ActuatorEntry>* entries) {
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
    const actuators::Actuator* built = nullptr;
    if (actuator && errors.size() == before) {
      built = actuator.get();
      out->push_back(std::move(actuator));
    }
    if (specs) specs->push_back(ActuatorSpec{type, a.line()});
    if (entries) entries->push_back(LoadContext::ActuatorEntry{i, a.line(), type, built});
  }
}

}  // namespace

void load_actuators(LoadContext& c) {
  actuators::Environment env{c.config.deployment.strategy, &c.world};
  YAML::Node acts = c.top.raw("actuators");
  c.actuator_entries = (acts && !acts.IsNull()) ? acts.size() : 0;  // as written, even when not a list
  load_actuator_list(acts, "actuators", c.top, c.actuator_registry, env, c.errors, &c.loaded.actuators,
                     &c.config.actuator_specs, &c.actuator_entries_loaded);
  if (!c.top.has("cleanup")) {
    c.top.raw("cleanup");  // known, even when absent
    return;
  }
  MapReader cl = c.top.child("cleanup");
  c.config.cleanup.delay = cl.duration("delay");
  YAML::Node list = cl.raw("actuators");
  if (!list || !list.IsSequence() || list.size() == 0) {
    cl.error("actuators", "must list what to run after a rollback (e.g. exec: stop the failed colour)");
  } else {
    load_actuator_list(list, cl.key_path("actuators"), cl, c.actuator_registry, env, c.errors,
                       &c.loaded.cleanup_actuators, nullptr, nullptr);
  }
  c.config.cleanup.enabled = true;
  cl.finish();
}

}  // namespace rs::sidecar::config_internal
