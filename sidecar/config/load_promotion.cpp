// promotion: the canary's traffic steps and how long each must stay healthy. Whether the
// actuators can set weights is validate()'s (it spans sections).
#include <cstdlib>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {

void load_promotion(LoadContext& c) {
  if (!c.top.has("promotion")) {
    c.top.raw("promotion");  // known, even when absent
    return;
  }
  PromotionConfig& p = c.config.promotion;
  MapReader pr = c.top.child("promotion");
  p.enabled = true;
  int previous = 0;
  for (const auto& text : pr.string_list("steps")) {
    char* end = nullptr;
    long step = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || step <= previous || step > 100) {
      pr.error("steps", "must be increasing whole percentages in 1-100 ending at 100 ('" + text + "' is not)");
      break;
    }
    p.steps.push_back(static_cast<int>(step));
    previous = static_cast<int>(step);
  }
  if (!p.steps.empty() && p.steps.back() != 100) pr.error("steps", "must end at 100 (full promotion)");
  if (c.config.deployment.strategy == "blue-green" && p.steps != std::vector<int>{100}) {
    pr.error("steps",
             "blue-green switches all traffic at once: use steps: [100] (the analysis window is step_duration)");
  }
  p.step_duration = pr.duration("step_duration", Duration{120000});
  if (p.step_duration < c.config.evaluation_interval) pr.error("step_duration", "must be at least evaluation_interval");
  pr.finish();
}

}  // namespace rs::sidecar::config_internal
