#include "sidecar/core/scrape_aligner.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <variant>

#include <spdlog/spdlog.h>

#include "promql/selectors.h"

namespace rs::sidecar {
namespace {

std::int64_t unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::string series_key(const std::map<std::string, std::string>& labels) {
  std::string key = "{";
  for (const auto& [name, value] : labels) key += (key.size() > 1 ? "," : "") + name + "=\"" + value + "\"";
  return key + "}";
}

}  // namespace

ScrapeAligner::ScrapeAligner(const Config& config, const std::vector<std::string>& queries, promql::Client& client,
                             Clock& clock, SelfMetrics& metrics)
    : config_(config),
      client_(client),
      clock_(clock),
      metrics_(metrics),
      phase_(std::chrono::duration_cast<std::chrono::milliseconds>(config.evaluation_interval).count()) {
  for (const auto& q : queries) {
    for (auto& selector : promql::vector_selectors(q)) {
      if (selectors_.size() < kMaxSelectors &&
          std::find(selectors_.begin(), selectors_.end(), selector) == selectors_.end()) {
        selectors_.push_back(std::move(selector));
      }
    }
  }
  for (const auto& s : selectors_) query_ += (query_.empty() ? "" : " or ") + ("timestamp(" + s + ")");
  view_.selectors = selectors_;
  view_.state = selectors_.empty() ? AlignmentState::kUnaligned : AlignmentState::kLearning;
  if (selectors_.empty()) view_.reason = "no series selector found in the rules' queries";
}

std::optional<std::vector<ScrapePhase::SeriesTime>> ScrapeAligner::read_timestamps(std::int64_t at_ms) {
  promql::QueryOutcome outcome = promql::refuse_partial(client_.query(query_, static_cast<double>(at_ms) / 1000.0));
  const auto* data = std::get_if<promql::QueryData>(&outcome);
  if (!data) return std::nullopt;  // the rules' own queries report Prometheus's troubles
  std::vector<ScrapePhase::SeriesTime> series;
  for (const auto& sample : data->samples) {
    if (!std::isfinite(sample.value)) continue;
    series.push_back({series_key(sample.labels), std::llround(sample.value * 1000)});
  }
  return series;
}

void ScrapeAligner::before_evaluation() {
  if (selectors_.empty()) return;
  try {
    const std::int64_t start = unix_ms(clock_.wall());
    auto series = read_timestamps(start);
    if (!series) return;
    std::optional<std::int64_t> cycle;
    std::int64_t max_wait_ms = 0;
    bool late = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      phase_.observe(*series);
      cycle = phase_.expected_cycle(start);
      if (cycle) {
        const auto eval_ms = std::chrono::duration_cast<std::chrono::milliseconds>(config_.evaluation_interval).count();
        max_wait_ms = std::min(*phase_.scrape_interval_ms(), eval_ms) / 4;
        late = !phase_.current(*series, *cycle);
      }
    }
    bool waited = false, landed = true;
    std::int64_t seen = start;
    const MonoTime wait_start = clock_.mono();
    if (late) {
      waited = true;
      landed = false;
      const MonoTime deadline = clock_.mono() + std::chrono::milliseconds(max_wait_ms);
      while (clock_.mono() < deadline) {
        if (!clock_.sleep_until(clock_.mono() + kPoll)) return;  // stopping
        const std::int64_t now = unix_ms(clock_.wall());
        auto again = read_timestamps(now);
        if (!again) continue;
        series = std::move(again);
        std::lock_guard<std::mutex> lock(mu_);
        if (phase_.current(*series, *cycle)) {
          landed = true;
          seen = now;
          break;
        }
      }
    }
    std::int64_t newest = 0;
    for (const auto& s : *series) newest = std::max(newest, s.ms);
    const double lag_seconds = static_cast<double>(unix_ms(clock_.wall()) - newest) / 1000.0;
    if (!series->empty()) metrics_.set_evaluation_sample_lag(lag_seconds);
    if (waited) metrics_.count_alignment_wait(landed);

    std::lock_guard<std::mutex> lock(mu_);
    waited_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.mono() - wait_start).count();
    if (cycle && landed) phase_.landed(*cycle, seen, waited);
    if (cycle && !landed) phase_.missed(*cycle, unix_ms(clock_.wall()));
    if (waited) ++(landed ? view_.waits : view_.misses);
    if (!series->empty()) view_.sample_lag_seconds = lag_seconds;
    view_.state = phase_.state();
    view_.reason = phase_.reason();
    view_.scrape_interval_ms = phase_.scrape_interval_ms();
    view_.phase_ms = phase_.aligned_phase_ms();
    view_.margin_ms = phase_.margin_ms();
    const std::string said = std::string(alignment_state_name(view_.state)) + view_.reason;
    if (said != logged_) {
      logged_ = said;
      if (view_.state == AlignmentState::kAligned) {
        spdlog::info("evaluation aligned to scrapes: every {}ms at phase {}ms, evaluating {}ms after it",
                     *view_.scrape_interval_ms, *view_.phase_ms, view_.margin_ms);
      } else if (!view_.reason.empty()) {
        spdlog::warn("evaluation alignment {}: {}", alignment_state_name(view_.state), view_.reason);
      }
    }
    if (waited && !landed) {
      spdlog::debug("evaluation alignment: the samples of the scrape at {} ms had not landed after {} ms", *cycle,
                    max_wait_ms);
    }
  } catch (const std::exception& e) {
    spdlog::error("evaluation alignment failed: {}", e.what());
  }
}

std::optional<MonoTime> ScrapeAligner::next_tick(MonoTime now, MonoTime next) {
  std::optional<std::int64_t> grid;
  std::int64_t later = 0;  // how far past `next` the tick may go
  {
    std::lock_guard<std::mutex> lock(mu_);
    grid = phase_.grid_phase();
    if (waited_ms_ > 0) later = waited_ms_ + phase_.spare_ms();
  }
  if (!grid) return std::nullopt;
  const std::int64_t every = std::chrono::duration_cast<std::chrono::milliseconds>(config_.evaluation_interval).count();
  const std::int64_t bound_wall =
      unix_ms(clock_.wall()) + std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + later;
  const std::int64_t before = ((bound_wall - *grid) % every + every) % every;  // bound - latest grid point
  const std::int64_t shift = later - before;                                   // from `next`; > 0 is later
  if (std::llabs(shift) < kMinMoveMs || every - before < kMinMoveMs) return std::nullopt;
  const MonoTime moved = next + std::chrono::milliseconds(shift);
  if (moved <= now) return std::nullopt;
  return moved;
}

AlignmentView ScrapeAligner::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return view_;
}

}  // namespace rs::sidecar
