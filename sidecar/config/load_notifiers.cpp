// notifiers: who is told, each built through the notifier registry; `messages` and
// `give_up_after` are the dispatcher's and read here.
#include <algorithm>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

const std::vector<std::string>& notification_messages() {
  static const std::vector<std::string> all = {"RollbackStarted",    "RollbackSucceeded", "RollbackFailed",
                                               "RollbackUnverified", "RollbackDryRun",    "RuleNotify"};
  return all;
}

}  // namespace

void load_notifiers(LoadContext& c) {
  YAML::Node list = c.top.raw("notifiers");
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) {
    c.top.add("notifiers", line_of(list), "must be a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    MapReader n(list[i], "notifiers[" + std::to_string(i) + "]", line_of(list[i]), c.errors);
    std::string type = n.string("type");
    if (type.empty()) continue;
    if (!c.notifier_registry.contains(type)) {
      n.error("type",
              "unknown notifier type '" + type + "' (known: " + comma_list(c.notifier_registry.known_types()) + ")");
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
    // Whoever wants RollbackFailed also gets RollbackUnverified: traffic is on a stable version
    // that is not healthy, which pages like a failed rollback.
    auto has = [&](const char* m) {
      return std::find(spec.messages.begin(), spec.messages.end(), m) != spec.messages.end();
    };
    if (has("RollbackFailed") && !has("RollbackUnverified")) spec.messages.push_back("RollbackUnverified");
    spec.give_up_after = n.duration("give_up_after", Duration{3600000});
    if (spec.give_up_after.count() <= 0) n.error("give_up_after", "must be greater than 0");
    size_t before = c.errors.size();
    auto notifier = c.notifier_registry.create(type, n, c.notifier_env);
    n.finish();
    if (notifier && c.errors.size() == before) {
      c.loaded.notifiers.push_back(std::move(notifier));
      c.config.notifier_specs.push_back(std::move(spec));
    }
  }
}

}  // namespace rs::sidecar::config_internal
