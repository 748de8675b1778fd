#include "sidecar/core/state_store.h"

#include <algorithm>

#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/read_file.h"

namespace rs::sidecar {
namespace {

constexpr int kFormatVersion = 1;

}  // namespace

bool parse_persisted_state(const std::string& text, PersistedState* out, std::string* why) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto fail = [&](const std::string& what) {
    *why = what;
    return false;
  };
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  if (!j.contains("version") || j["version"] != kFormatVersion) return fail("unsupported format version");
  if (!j.contains("identity") || !j["identity"].is_string()) return fail("identity is missing");
  if (!j.contains("state") || !j["state"].is_string()) return fail("state is missing");
  PersistedState state;
  state.identity = j["identity"].get<std::string>();
  auto parsed = parse_deployment_state(j["state"].get<std::string>());
  if (!parsed) return fail("unknown state \"" + j["state"].get<std::string>() + "\"");
  state.state = *parsed;
  if (j.contains("last_decision") && !j["last_decision"].is_null()) {
    Decision d;
    std::string bad;
    if (!decision_from_json(j["last_decision"], &d, &bad)) return fail(bad);
    state.last_decision = std::move(d);
  }
  if (j.contains("freeze") && !j["freeze"].is_null()) {
    const auto& f = j["freeze"];
    WallTime since;
    if (!f.is_object() || !f.contains("since") || !f["since"].is_string() ||
        !parse_rfc3339(f["since"].get<std::string>(), &since)) {
      return fail("freeze is malformed (needs since as RFC 3339)");
    }
    state.freeze = Freeze{f.value("reason", ""), f.value("actor", ""), since};
  }
  if (j.contains("promotion") && !j["promotion"].is_null()) {
    const auto& p = j["promotion"];
    int step = 0, weight = 0;
    if (!p.is_object() || !p.contains("step") || !common::json_integer(p["step"], &step) || !p.contains("weight") ||
        !common::json_integer(p["weight"], &weight) || !p.contains("state") || !p["state"].is_string()) {
      return fail("promotion is malformed (needs step, weight, state)");
    }
    auto promotion_state = parse_promotion_state(p["state"].get<std::string>());
    if (!promotion_state) return fail("unknown promotion state \"" + p["state"].get<std::string>() + "\"");
    state.promotion = PromotionProgress{step, weight, *promotion_state};
  }
  if (j.contains("deployment_since") && !j["deployment_since"].is_null()) {
    WallTime since;
    if (!j["deployment_since"].is_string() || !parse_rfc3339(j["deployment_since"].get<std::string>(), &since)) {
      return fail("deployment_since is malformed (needs RFC 3339)");
    }
    state.deployment_since = since;
  }
  if (j.contains("seen_alerts") && !j["seen_alerts"].is_null()) {
    if (!j["seen_alerts"].is_array()) return fail("seen_alerts is malformed (needs an array of strings)");
    for (const auto& key : j["seen_alerts"]) {
      if (!key.is_string()) return fail("seen_alerts is malformed (needs an array of strings)");
      state.seen_alerts.push_back(key.get<std::string>());
    }
  }
  if (j.contains("tests") && !j["tests"].is_null()) {
    if (!j["tests"].is_object()) return fail("tests is malformed (needs an object of rule name to test state)");
    for (const auto& [rule, test] : j["tests"].items()) state.tests[rule] = test;
  }
  if (state.state == DeploymentState::kRollingBack && !state.last_decision) {
    return fail("state rolling_back without the decision being executed");
  }
  *out = std::move(state);
  return true;
}

std::string persisted_state_text(const PersistedState& state) {
  nlohmann::json j = {
      {"version", kFormatVersion},
      {"identity", state.identity},
      {"state", deployment_state_name(state.state)},
      {"last_decision", state.last_decision ? to_json(*state.last_decision) : nlohmann::json(nullptr)},
      {"freeze", state.freeze ? nlohmann::json{{"reason", state.freeze->reason},
                                               {"actor", state.freeze->actor},
                                               {"since", to_rfc3339(state.freeze->since)}}
                              : nlohmann::json(nullptr)},
      {"promotion", state.promotion ? nlohmann::json{{"step", state.promotion->step},
                                                     {"weight", state.promotion->weight},
                                                     {"state", promotion_state_name(state.promotion->state)}}
                                    : nlohmann::json(nullptr)},
      {"deployment_since",
       state.deployment_since ? nlohmann::json(to_rfc3339(*state.deployment_since)) : nlohmann::json(nullptr)},
      {"seen_alerts", state.seen_alerts}};
  if (!state.tests.empty()) j["tests"] = state.tests;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool StateStore::load(std::optional<PersistedState>* out, std::string* error) const {
  out->reset();
  if (path_.empty()) return true;
  std::string why;
  bool missing = false;
  auto text = common::read_regular_file(path_, common::kMaxStateFileBytes, &why, &missing);
  if (!text) {
    if (missing) return true;
    *error = "state file " + path_ + ": cannot read: " + why.substr(std::min(why.size(), path_.size() + 2));
    return false;
  }
  PersistedState state;
  if (!parse_persisted_state(*text, &state, &why)) {
    *error = "state file " + path_ + ": " + why + " (fix or remove the file; it holds the latched rollback state)";
    return false;
  }
  *out = std::move(state);
  return true;
}

bool StateStore::save(const PersistedState& state, std::string* error) const {
  if (path_.empty()) return true;
  const std::string data = persisted_state_text(state);
  std::string why;
  if (!common::write_file_atomically(path_, data, 0640, &why)) {
    *error = "state file " + why;
    return false;
  }
  return true;
}

}  // namespace rs::sidecar
