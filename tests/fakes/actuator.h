// A scripted actuator for unit tests: each rollback() call returns the next scripted result (the
// last one repeats), and the calls are counted.
#pragma once

#include <deque>
#include <string>
#include <utility>

#include "actuators/actuator.h"

namespace rs::fakes {

class ScriptedActuator : public actuators::Actuator {
 public:
  ScriptedActuator(std::string name, std::deque<actuators::ActResult> script)
      : name_(std::move(name)), script_(std::move(script)) {}
  std::string type() const override { return "scripted"; }
  std::string describe() const override { return name_; }
  actuators::ActResult rollback(const actuators::DecisionContext&, std::chrono::steady_clock::time_point) override {
    ++calls;
    actuators::ActResult r = script_.front();
    if (script_.size() > 1) script_.pop_front();
    return r;
  }
  actuators::ActResult probe(std::chrono::steady_clock::time_point) override {
    return actuators::ActResult::noop("ok");
  }
  int calls = 0;

 private:
  std::string name_;
  std::deque<actuators::ActResult> script_;
};

}  // namespace rs::fakes
