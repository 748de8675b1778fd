#include "actuators/aws/alb.h"

#include <tinyxml2.h>

#include <vector>

namespace rs::actuators {
namespace {

using Clock = std::chrono::steady_clock;
using tinyxml2::XMLElement;

const char* kVersion = "2015-12-01";

std::string text(const XMLElement* e) { return e && e->GetText() ? e->GetText() : ""; }

const XMLElement* child(const tinyxml2::XMLNode* n, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (!n) return nullptr;
    n = n->FirstChildElement(name);
  }
  return n ? n->ToElement() : nullptr;
}

std::vector<XMLElement*> members(XMLElement* list) {
  std::vector<XMLElement*> out;
  for (XMLElement* m = list ? list->FirstChildElement("member") : nullptr; m; m = m->NextSiblingElement("member"))
    out.push_back(m);
  return out;
}

// An XML reply's structure as Query parameters: lists as NAME.member.N, maps as NAME.entry.N.key.
void flatten(const XMLElement* e, const std::string& prefix, std::vector<std::pair<std::string, std::string>>* out) {
  const XMLElement* first = e->FirstChildElement();
  if (!first) {
    if (e->GetText()) out->emplace_back(prefix, e->GetText());
    return;  // an empty element is an empty list: sent as nothing
  }
  const std::string kind = first->Name();
  if (kind == "member" || kind == "entry") {
    int i = 0;
    for (const XMLElement* c = first; c; c = c->NextSiblingElement(kind.c_str()))
      flatten(c, prefix + "." + kind + "." + std::to_string(++i), out);
    return;
  }
  for (const XMLElement* c = first; c; c = c->NextSiblingElement()) flatten(c, prefix + "." + c->Name(), out);
}

struct Weights {
  int stable = 0, canary = 0;
  bool names_a_group = false;
};

class AlbActuator final : public Actuator {
 public:
  AlbActuator(std::shared_ptr<rs::aws::AwsClient> client, std::string listener, std::string rule, std::string stable,
              std::string canary)
      : client_(std::move(client)),
        listener_(std::move(listener)),
        rule_(std::move(rule)),
        stable_(std::move(stable)),
        canary_(std::move(canary)) {}

  std::string type() const override { return "aws-alb"; }
  std::string describe() const override {
    return "aws-alb " + (rule_.empty() ? "listener " + listener_ : "rule " + rule_);
  }

  ActResult rollback(const DecisionContext&, Clock::time_point deadline) override { return converge(0, deadline); }
  bool supports_weights() const override { return true; }
  ActResult set_canary_weight(int percent, const DecisionContext&, Clock::time_point deadline) override {
    if (percent < 0 || percent > 100)
      return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
    return converge(percent, deadline);
  }
  ActResult probe(Clock::time_point deadline) override {
    tinyxml2::XMLDocument doc;
    XMLElement* actions = nullptr;
    ActResult error;
    if (!read(&doc, &actions, &error, deadline)) return error;
    Weights w = weights(actions);
    if (!w.names_a_group)
      return ActResult::failure(describe() + ": no forward action names the stable or canary target group", false);
    return ActResult::noop(describe() + ": reachable; " + show(w));
  }

 private:
  static std::string show(const Weights& w) {
    return "stable weight " + std::to_string(w.stable) + ", canary weight " + std::to_string(w.canary);
  }

  bool read(tinyxml2::XMLDocument* doc, XMLElement** actions, ActResult* error, Clock::time_point deadline) {
    const bool rule = !rule_.empty();
    const char* op = rule ? "DescribeRules" : "DescribeListeners";
    auto r = client_->query_call(
        op, kVersion, {{rule ? "RuleArns.member.1" : "ListenerArns.member.1", rule ? rule_ : listener_}}, deadline);
    if (!r.ok) {
      *error = aws::failed(describe(), op, r);
      return false;
    }
    if (doc->Parse(r.body.c_str(), r.body.size()) != tinyxml2::XML_SUCCESS) {
      *error = ActResult::failure(describe() + ": " + op + ": reply is not XML", true);
      return false;
    }
    const XMLElement* result =
        child(doc, {rule ? "DescribeRulesResponse" : "DescribeListenersResponse",
                    rule ? "DescribeRulesResult" : "DescribeListenersResult", rule ? "Rules" : "Listeners", "member"});
    *actions =
        result ? const_cast<XMLElement*>(result)->FirstChildElement(rule ? "Actions" : "DefaultActions") : nullptr;
    if (!*actions) {
      *error =
          ActResult::failure(describe() + ": " + op + ": reply has no " + (rule ? "Actions" : "DefaultActions"), false);
      return false;
    }
    return true;
  }

  // Weights over the forward actions that name either group (the last one wins; ALB allows one).
  Weights weights(XMLElement* actions) const {
    Weights w;
    for (XMLElement* a : members(actions)) {
      if (text(a->FirstChildElement("Type")) != "forward") continue;
      XMLElement* groups = const_cast<XMLElement*>(child(a, {"ForwardConfig", "TargetGroups"}));
      auto list = members(groups);
      if (list.empty()) {
        std::string arn = text(a->FirstChildElement("TargetGroupArn"));
        if (arn == stable_ || arn == canary_) {
          w = Weights{arn == stable_ ? 100 : 0, arn == canary_ ? 100 : 0, true};
        }
        continue;
      }
      Weights here;
      for (XMLElement* g : list) {
        std::string arn = text(g->FirstChildElement("TargetGroupArn"));
        const XMLElement* weight = g->FirstChildElement("Weight");
        int value = weight ? weight->IntText(0) : 1;  // AWS's default weight
        if (arn == stable_) here.stable = value, here.names_a_group = true;
        if (arn == canary_) here.canary = value, here.names_a_group = true;
      }
      if (here.names_a_group) w = here;
    }
    return w;
  }

  static bool at(const Weights& w, int percent) {
    if (percent == 0) return w.canary == 0 && w.stable > 0;
    return w.canary == percent && w.stable == 100 - percent;
  }

  void set_weight(XMLElement* groups, const std::string& arn, int weight) {
    for (XMLElement* g : members(groups)) {
      if (text(g->FirstChildElement("TargetGroupArn")) != arn) continue;
      XMLElement* w = g->FirstChildElement("Weight");
      if (!w) w = g->InsertNewChildElement("Weight");
      w->SetText(weight);
      return;
    }
    XMLElement* m = groups->InsertNewChildElement("member");
    m->InsertNewChildElement("TargetGroupArn")->SetText(arn.c_str());
    m->InsertNewChildElement("Weight")->SetText(weight);
  }

  // Rewrites the forward actions naming either group in place: canary `percent`, stable the rest.
  void rewrite(XMLElement* actions, int percent) {
    for (XMLElement* a : members(actions)) {
      // DescribeListeners never returns the OIDC client secret; keep the stored one.
      if (XMLElement* oidc = a->FirstChildElement("AuthenticateOidcConfig")) {
        if (!oidc->FirstChildElement("ClientSecret") && !oidc->FirstChildElement("UseExistingClientSecret"))
          oidc->InsertNewChildElement("UseExistingClientSecret")->SetText("true");
      }
      if (text(a->FirstChildElement("Type")) != "forward") continue;
      XMLElement* forward = a->FirstChildElement("ForwardConfig");
      XMLElement* groups = forward ? forward->FirstChildElement("TargetGroups") : nullptr;
      std::string single = text(a->FirstChildElement("TargetGroupArn"));
      bool names = single == stable_ || single == canary_;
      for (XMLElement* g : members(groups)) {
        std::string arn = text(g->FirstChildElement("TargetGroupArn"));
        names = names || arn == stable_ || arn == canary_;
      }
      if (!names) continue;
      if (!forward) forward = a->InsertNewChildElement("ForwardConfig");
      if (!groups) groups = forward->InsertNewChildElement("TargetGroups");
      if (members(groups).empty() && !single.empty()) {
        XMLElement* m = groups->InsertNewChildElement("member");
        m->InsertNewChildElement("TargetGroupArn")->SetText(single.c_str());
      }
      set_weight(groups, stable_, 100 - percent);
      set_weight(groups, canary_, percent);
      // The action-level TargetGroupArn may only name the one group of a single-group ForwardConfig.
      if (XMLElement* arn = a->FirstChildElement("TargetGroupArn")) a->DeleteChild(arn);
    }
  }

  ActResult converge(int percent, Clock::time_point deadline) {
    const std::string what = describe();
    const std::string goal = percent == 0 ? "rolled back" : "canary weight " + std::to_string(percent) + "%";
    tinyxml2::XMLDocument doc;
    XMLElement* actions = nullptr;
    ActResult error;
    if (!read(&doc, &actions, &error, deadline)) return error;
    Weights before = weights(actions);
    if (!before.names_a_group)
      return ActResult::failure(what + ": no forward action names " + stable_ + " or " + canary_, false);
    if (at(before, percent)) return ActResult::noop(what + ": already " + goal + " (" + show(before) + ")");
    rewrite(actions, percent);
    const bool rule = !rule_.empty();
    std::vector<std::pair<std::string, std::string>> params = {
        {rule ? "RuleArn" : "ListenerArn", rule ? rule_ : listener_}};
    flatten(actions, rule ? "Actions" : "DefaultActions", &params);
    const char* op = rule ? "ModifyRule" : "ModifyListener";
    auto r = client_->query_call(op, kVersion, params, deadline);
    if (!r.ok) return aws::failed(what, op, r);
    tinyxml2::XMLDocument again;
    if (!read(&again, &actions, &error, deadline)) return error;
    Weights after = weights(actions);
    if (!at(after, percent))
      return ActResult::failure(what + ": " + op + " succeeded but reading back shows " + show(after), true);
    return ActResult::changed(what + ": " + goal + ": was " + show(before) + ", now " + show(after) + " (verified)");
  }

  std::shared_ptr<rs::aws::AwsClient> client_;
  std::string listener_, rule_, stable_, canary_;
};

}  // namespace

std::unique_ptr<Actuator> make_aws_alb_actuator(Settings& settings, const Environment& env, aws::AwsSeams seams) {
  std::string listener = settings.string("listener_arn", "");
  std::string rule = settings.string("rule_arn", "");
  if (listener.empty() == rule.empty())
    settings.error(listener.empty() ? "listener_arn" : "rule_arn", "set exactly one of listener_arn and rule_arn");
  if (!listener.empty() && listener.find(":listener/") == std::string::npos)
    settings.error("listener_arn", "'" + listener + "' is not a listener ARN");
  if (!rule.empty() && rule.find(":listener-rule/") == std::string::npos)
    settings.error("rule_arn", "'" + rule + "' is not a listener rule ARN");
  std::string stable = settings.string("stable_target_group");
  std::string canary = settings.string("canary_target_group");
  if (!stable.empty() && stable == canary)
    settings.error("canary_target_group", "must differ from stable_target_group");
  auto client = aws::make_client(settings, "elasticloadbalancing", "elasticloadbalancing", env, seams);
  return std::make_unique<AlbActuator>(std::move(client), listener, rule, stable, canary);
}

}  // namespace rs::actuators
