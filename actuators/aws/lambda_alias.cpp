#include "actuators/aws/lambda_alias.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <sstream>

#include "common/json_text.h"
#include "common/http/url.h"

namespace rs::actuators {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct AliasState {
  std::string version;
  std::map<std::string, double> weights;  // additional versions with weight > 0
  std::string revision;
};

struct Desired {
  std::string version;                    // "" = keep
  std::map<std::string, double> weights;  // exact set wanted
};

std::string show(const AliasState& s) {
  std::ostringstream out;
  out << "version " << s.version;
  if (s.weights.empty()) out << ", no additional versions";
  for (const auto& [v, w] : s.weights) out << ", version " << v << " weight " << w;
  return out.str();
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 140) return false;
  for (unsigned char c : n)
    if (!std::isalnum(c) && c != '-' && c != '_') return false;
  return true;
}

class LambdaAliasActuator final : public Actuator {
 public:
  LambdaAliasActuator(std::shared_ptr<rs::aws::AwsClient> client, std::string function, std::string alias,
                      std::string stable, std::string canary)
      : client_(std::move(client)),
        function_(std::move(function)),
        alias_(std::move(alias)),
        stable_(std::move(stable)),
        canary_(std::move(canary)) {}

  std::string type() const override { return "aws-lambda-alias"; }
  std::string describe() const override {
    return "aws-lambda-alias " + function_ + ":" + alias_ + " (" + client_->options().region + ")";
  }

  ActResult rollback(const DecisionContext&, Clock::time_point deadline) override {
    Desired d;
    d.version = stable_;
    return converge(d, "rolled back", deadline);
  }

  bool supports_weights() const override { return !canary_.empty(); }

  ActResult set_canary_weight(int percent, const DecisionContext& context, Clock::time_point deadline) override {
    if (canary_.empty()) return Actuator::set_canary_weight(percent, context, deadline);
    if (percent < 0 || percent > 100)
      return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
    Desired d;
    if (percent == 100) {
      if (stable_.empty())
        return ActResult::failure(describe() +
                                      ": weight 100 points the alias at the canary version; set stable_version "
                                      "so a later rollback knows where to go back",
                                  false);
      d.version = canary_;
    } else {
      d.version = stable_;
      if (percent > 0) d.weights[canary_] = percent / 100.0;
    }
    return converge(d, "canary weight " + std::to_string(percent) + "%", deadline);
  }

  ActResult probe(Clock::time_point deadline) override {
    AliasState s;
    ActResult error;
    if (!read(&s, &error, deadline)) return error;
    return ActResult::noop(describe() + ": reachable; " + show(s));
  }

 private:
  std::string path() const {
    return "/2015-03-31/functions/" + rs::percent_encode(function_) + "/aliases/" + rs::percent_encode(alias_);
  }

  bool read(AliasState* s, ActResult* error, Clock::time_point deadline) {
    auto r = client_->rest_call("GET", path(), "", deadline);
    if (!r.ok) {
      *error = aws::failed(describe(), "GetAlias", r);
      return false;
    }
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("FunctionVersion") || !j["FunctionVersion"].is_string()) {
      *error = ActResult::failure(describe() + ": GetAlias: reply has no FunctionVersion", true);
      return false;
    }
    s->version = j["FunctionVersion"].get<std::string>();
    s->revision = j.value("RevisionId", "");
    s->weights.clear();
    if (j.contains("RoutingConfig") && j["RoutingConfig"].is_object() &&
        j["RoutingConfig"].contains("AdditionalVersionWeights") &&
        j["RoutingConfig"]["AdditionalVersionWeights"].is_object()) {
      for (const auto& [v, w] : j["RoutingConfig"]["AdditionalVersionWeights"].items()) {
        if (!w.is_number()) {
          *error = ActResult::failure(describe() + ": GetAlias: weight of version " + v + " is not a number", true);
          return false;
        }
        if (w.get<double>() > 0) s->weights[v] = w.get<double>();
      }
    }
    return true;
  }

  static bool matches(const AliasState& s, const Desired& d) {
    if (!d.version.empty() && s.version != d.version) return false;
    if (s.weights.size() != d.weights.size()) return false;
    for (const auto& [v, w] : d.weights) {
      auto it = s.weights.find(v);
      if (it == s.weights.end() || std::fabs(it->second - w) > 1e-6) return false;
    }
    return true;
  }

  ActResult converge(const Desired& d, const std::string& goal, Clock::time_point deadline) {
    const std::string what = describe();
    bool raced = false;
    for (int attempt = 1; attempt <= 4; ++attempt) {
      AliasState before;
      ActResult error;
      if (!read(&before, &error, deadline)) return error;
      if (matches(before, d))
        return ActResult::noop(what + ": already " + goal + " (" + show(before) + ")" +
                               (raced ? "; another writer changed it concurrently" : ""));
      json weights = json::object();
      for (const auto& [v, w] : d.weights) weights[v] = w;
      json body = {{"FunctionVersion", d.version.empty() ? before.version : d.version},
                   {"RoutingConfig", {{"AdditionalVersionWeights", weights}}}};
      if (!before.revision.empty()) body["RevisionId"] = before.revision;
      auto r = client_->rest_call("PUT", path(), common::dump_json(body), deadline);
      if (!r.ok && r.code == "PreconditionFailedException") {
        raced = true;  // someone changed the alias since we read it: read again and re-check
        continue;
      }
      if (!r.ok) return aws::failed(what, "UpdateAlias", r);
      AliasState after;
      if (!read(&after, &error, deadline)) return error;
      if (!matches(after, d))
        return ActResult::failure(what + ": UpdateAlias succeeded but GetAlias reads " + show(after), true);
      return ActResult::changed(what + ": " + goal + ": was " + show(before) + ", now " + show(after) + " (verified)");
    }
    return ActResult::failure(what +
                                  ": UpdateAlias kept failing with PreconditionFailedException (the alias changes "
                                  "under us); will retry",
                              true);
  }

  std::shared_ptr<rs::aws::AwsClient> client_;
  std::string function_, alias_, stable_, canary_;
};

}  // namespace

std::unique_ptr<Actuator> make_aws_lambda_alias_actuator(Settings& settings, const Environment& env,
                                                         aws::AwsSeams seams) {
  std::string function = settings.string("function");
  if (settings.has("function") && !valid_name(function))
    settings.error("function", "'" + function + "' is not a function name (letters, digits, - and _; not an ARN)");
  std::string alias = settings.string("alias");
  if (settings.has("alias") && !valid_name(alias)) settings.error("alias", "'" + alias + "' is not an alias name");
  std::string stable = settings.string("stable_version", "");
  std::string canary = settings.string("canary_version", "");
  if (env.strategy == "blue-green" && stable.empty())
    settings.error("stable_version", "is required with strategy blue-green (the version to switch the alias back to)");
  if (!canary.empty() && canary == stable) settings.error("canary_version", "must differ from stable_version");
  auto client = aws::make_client(settings, "lambda", "lambda", env, seams);
  return std::make_unique<LambdaAliasActuator>(std::move(client), function, alias, stable, canary);
}

}  // namespace rs::actuators
