// rollback: deadline and retries, preflight (stable healthy first), verify (after), stagger.
#include <algorithm>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

// query + above|below of preflight/verify, templated.
std::optional<QueryCondition> read_condition(MapReader& r, const Vars& vars) {
  QueryCondition c;
  auto q = r.render("query", r.string("query"), vars);
  if (!q) return std::nullopt;
  c.query = *q;
  auto above = r.number("above");
  auto below = r.number("below");
  if (above && below) r.error("above", "set either above or below, not both");
  if (!above && !below) {
    r.error("query", "needs a threshold: set above or below");
    return std::nullopt;
  }
  c.comparison = above ? Comparison::kAbove : Comparison::kBelow;
  c.threshold = above ? *above : *below;
  return c;
}

}  // namespace

void load_rollback(LoadContext& c) {
  if (!c.top.has("rollback")) {
    c.top.raw("rollback");  // known, even when absent
    return;
  }
  RollbackConfig& out = c.config.rollback;
  MapReader rb = c.top.child("rollback");
  out.deadline = rb.duration("deadline", Duration{30000});
  out.initial_backoff = rb.duration("initial_backoff", Duration{100});
  out.max_backoff = rb.duration("max_backoff", Duration{2000});
  if (out.deadline.count() <= 0) rb.error("deadline", "must be greater than 0");
  if (out.initial_backoff.count() <= 0) rb.error("initial_backoff", "must be greater than 0");
  if (out.max_backoff < out.initial_backoff) rb.error("max_backoff", "must be at least initial_backoff");
  out.stagger = rb.duration("stagger", Duration{0});
  long long replica = rb.integer("replica_index", 0);
  if (replica < 0 || replica > 1000) rb.error("replica_index", "must be 0-1000");
  out.replica_index = static_cast<int>(std::clamp(replica, 0LL, 1000LL));
  if (rb.has("replica_index") && out.stagger.count() == 0) {
    rb.error("stagger", "is needed with replica_index (e.g. 250ms: replica N waits N * stagger)");
  }
  if (rb.has("preflight")) {
    MapReader pf = rb.child("preflight");
    PreflightConfig& p = out.preflight;
    p.enabled = true;
    if (pf.has("http")) {
      auto url = pf.render("http", pf.string("http"), c.vars);
      if (url && url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
        pf.error("http", "'" + *url + "' must start with http:// or https://");
      } else if (url) {
        p.http_url = *url;
      }
    }
    if (pf.has("query")) p.query = read_condition(pf, c.vars);
    p.timeout = pf.duration("timeout", Duration{5000});
    if (!pf.has("http") && !pf.has("query"))
      pf.error("http", "preflight needs http:, query: (with above/below), or both");
    pf.finish();
  }
  if (rb.has("verify")) {
    MapReader vf = rb.child("verify");
    VerifyConfig& v = out.verify;
    v.enabled = true;
    if (auto cond = read_condition(vf, c.vars)) v.condition = *cond;
    v.for_duration = vf.duration("for", Duration{60000});
    v.timeout = vf.duration("timeout", Duration{300000});
    if (v.timeout < v.for_duration) vf.error("timeout", "must be at least `for`");
    vf.finish();
  }
  rb.finish();
}

}  // namespace rs::sidecar::config_internal
