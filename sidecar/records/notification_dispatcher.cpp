#include "sidecar/records/notification_dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "common/atomic_file.h"
#include "common/read_file.h"
#include "sidecar/records/outbox_file.h"

namespace rs::sidecar {

namespace {

constexpr std::size_t kRememberedIds = 256;
constexpr auto kFirstBackoff = std::chrono::seconds(1);
constexpr auto kMaxBackoff = std::chrono::minutes(5);
constexpr auto kAttemptTimeout = std::chrono::seconds(30);  // each notifier's own timeout is usually lower

std::string message_for(const Decision& d) {
  if (d.kind == DecisionKind::kHold) return "RollbackDryRun";
  if (d.kind == DecisionKind::kNotify) return "RuleNotify";
  return "RollbackStarted";
}

std::string finished_message(const Decision& d) {
  return d.result == RollbackResult::kFailure ? "RollbackFailed" : "RollbackSucceeded";
}

constexpr const char* kUnverified = "RollbackUnverified";

bool wants(const std::vector<std::string>& wanted, const std::string& message) {
  return std::find(wanted.begin(), wanted.end(), message) != wanted.end();
}

std::vector<std::pair<std::string, std::string>> timeline_of(const Decision& d) {
  std::vector<std::pair<std::string, std::string>> t;
  if (d.first_breach)
    t.emplace_back(to_rfc3339(*d.first_breach), "first breach" + (d.rule.empty() ? "" : " of " + d.rule));
  if (d.firing_since) t.emplace_back(to_rfc3339(*d.firing_since), "firing");
  t.emplace_back(to_rfc3339(d.decided_at), "decision #" + std::to_string(d.id) + ": " + decision_kind_name(d.kind));
  if (d.completed_at) {
    for (const auto& a : d.actuators) {
      t.emplace_back(to_rfc3339(*d.completed_at),
                     a.actuator + ": " + step_result_name(a.result) + (a.detail.empty() ? "" : " (" + a.detail + ")"));
    }
    t.emplace_back(to_rfc3339(*d.completed_at), std::string("rollback ") + rollback_result_name(d.result));
  }
  return t;
}

}  // namespace

notifiers::Notification make_notification(const Config& config, const Decision& d, const std::string& message,
                                          const std::string& state) {
  notifiers::Notification n;
  // The decision time makes the id unique even when a deployment identity comes back later
  // (v2 -> v3 -> v2 restarts decision ids at 1) and stays the same across retries and restarts.
  n.id = config.deployment.identity() + "/" + std::to_string(d.id) + "/" + to_rfc3339(d.decided_at) + "/" + message;
  n.message = message;
  n.deployment = config.deployment.name;
  n.stage = config.deployment.stage;
  n.strategy = config.deployment.strategy;
  n.decision_id = d.id;
  n.trigger = trigger_name(d.trigger);
  n.rule = d.rule;
  n.severity = d.severity;
  n.query = d.query;
  n.comparison = d.comparison;
  n.value = d.value ? format_value(*d.value) : "";
  n.threshold = d.trigger == Trigger::kRule ? format_value(d.threshold) : "";
  n.reason = d.reason;
  n.state = state;
  n.result = rollback_result_name(d.result);
  n.verification = verification_name(d.verification);
  n.started_at = to_rfc3339(d.first_breach ? *d.first_breach : d.decided_at);
  n.decided_at = to_rfc3339(d.decided_at);
  n.completed_at = d.completed_at ? to_rfc3339(*d.completed_at) : "";
  n.duration_seconds = d.duration_seconds;
  n.timeline = timeline_of(d);
  return n;
}

NotificationDispatcher::NotificationDispatcher(const Config& config, std::vector<Target> targets, SelfMetrics& metrics,
                                               Clock& clock, std::string outbox_path, AttemptSink on_attempt)
    : config_(config),
      targets_(std::move(targets)),
      metrics_(metrics),
      clock_(clock),
      outbox_path_(std::move(outbox_path)),
      on_attempt_(std::move(on_attempt)) {
  for (const auto& t : targets_) metrics_.declare_notifier(t.notifier->type());
}

NotificationDispatcher::~NotificationDispatcher() { stop(); }

std::string NotificationDispatcher::outbox_path_for(const std::string& state_file) {
  return state_file.empty() ? "" : state_file + ".notifications";
}

void NotificationDispatcher::start() {
  if (targets_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    load();
  }
  worker_ = std::thread([this] { run(); });
}

void NotificationDispatcher::load() {
  if (outbox_path_.empty()) return;
  std::string error;
  bool missing = false;
  // Capped: an outbox that is not a regular file, or is absurdly large, is reported, not read.
  auto text = common::read_regular_file(outbox_path_, common::kMaxOutboxFileBytes, &error, &missing);
  if (!text) {
    if (!missing) spdlog::error("notification outbox {}: {}; starting with an empty outbox", outbox_path_, error);
    return;
  }
  auto corrupt = [&](const std::string& why) {
    const std::string aside = outbox_path_ + ".corrupt";
    std::rename(outbox_path_.c_str(), aside.c_str());
    spdlog::error("notification outbox {} is unreadable ({}); moved to {}; undelivered notifications in it are lost",
                  outbox_path_, why, aside);
    entries_.clear();
    queued_ids_.clear();
  };
  OutboxDocument doc;
  std::string why;
  if (!parse_outbox(*text, &doc, &why)) return corrupt(why);
  queued_ids_.assign(doc.queued_ids.begin(), doc.queued_ids.end());
  const MonoTime now = clock_.mono();
  for (auto& e : doc.pending) {
    auto target = std::find_if(targets_.begin(), targets_.end(),
                               [&](const Target& t) { return t.notifier->describe() == e.notifier; });
    if (target == targets_.end()) {
      spdlog::warn("notification {} for {} dropped: that notifier is no longer configured", e.notification.id,
                   e.notifier);
      dirty_ = true;
      continue;
    }
    Entry entry;
    entry.target = static_cast<std::size_t>(target - targets_.begin());
    entry.key = e.notification.id + "|" + e.notifier;
    entry.notification = std::move(e.notification);
    entry.queued_at = e.queued_at;
    entry.attempts = e.attempts;
    entry.next_attempt = now;  // a restart retries at once
    entries_.push_back(std::move(entry));
  }
  if (!entries_.empty())
    spdlog::info("notification outbox {}: {} undelivered notification(s) to resend", outbox_path_, entries_.size());
}

void NotificationDispatcher::persist_locked() {
  dirty_ = false;
  if (outbox_path_.empty()) return;
  OutboxDocument doc;
  doc.queued_ids.assign(queued_ids_.begin(), queued_ids_.end());
  for (const auto& e : entries_) {
    doc.pending.push_back({targets_[e.target].notifier->describe(), e.queued_at, e.attempts, e.notification});
  }
  std::string error;
  if (!common::write_file_atomically(outbox_path_, outbox_text(doc), 0640, &error)) {
    // Delivery goes on from memory; only crash safety of these messages is lost until a retry
    // (the worker's next wake-up, within a second) gets the outbox onto the disk.
    persist_retry_at_ = clock_.mono() + std::chrono::seconds(1);
    if (health_)
      health_->failed(PersistFile::kOutbox, "notification outbox " + error);
    else
      spdlog::error("notification outbox: {}", error);
    return;
  }
  persist_retry_at_.reset();
  if (health_) health_->succeeded(PersistFile::kOutbox);
}

void NotificationDispatcher::enqueue(const Decision& decision, const std::string& message, DeploymentState state) {
  if (targets_.empty()) return;
  notifiers::Notification n = make_notification(config_, decision, message, deployment_state_name(state));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::find(queued_ids_.begin(), queued_ids_.end(), n.id) != queued_ids_.end()) return;
    queued_ids_.push_back(n.id);
    if (queued_ids_.size() > kRememberedIds) queued_ids_.pop_front();
    for (std::size_t i = 0; i < targets_.size(); ++i) {
      if (!wants(targets_[i].spec.messages, message)) continue;
      Entry e;
      e.key = n.id + "|" + targets_[i].notifier->describe();
      e.target = i;
      e.notification = n;
      e.queued_at = clock_.wall();
      e.next_attempt = clock_.mono();
      entries_.push_back(std::move(e));
    }
    dirty_ = true;
  }
  cv_.notify_one();
}

void NotificationDispatcher::on_decision(const Decision& decision) {
  const std::string message = message_for(decision);
  enqueue(decision, message, message == "RollbackStarted" ? DeploymentState::kRollingBack : DeploymentState::kFiring);
}

void NotificationDispatcher::on_rollback_finished(const Decision& decision, const StatusView& status) {
  enqueue(decision, finished_message(decision), status.state);
}

void NotificationDispatcher::on_verification_finished(const Decision& decision, WallTime) {
  if (decision.verification == Verification::kFailed) enqueue(decision, kUnverified, DeploymentState::kRolledBack);
}

void NotificationDispatcher::recover(const std::optional<Decision>& last) {
  if (!last) return;
  // Only what the decision's own record proves happened; an unfinished rollback gets its
  // RollbackSucceeded/Failed when the resumed rollback ends.
  if (last->kind == DecisionKind::kRollback || last->kind == DecisionKind::kNoop) {
    enqueue(*last, "RollbackStarted", DeploymentState::kRollingBack);
    if (last->result != RollbackResult::kRunning) {
      enqueue(
          *last, finished_message(*last),
          last->result == RollbackResult::kFailure ? DeploymentState::kRollbackFailed : DeploymentState::kRolledBack);
    }
    if (last->verification == Verification::kFailed) enqueue(*last, kUnverified, DeploymentState::kRolledBack);
  } else {  // hold, notify
    enqueue(*last, message_for(*last), DeploymentState::kFiring);
  }
}

// The first entry of each notifier is the only one eligible (in-order delivery).
std::optional<std::size_t> NotificationDispatcher::next_due_locked(MonoTime now, MonoTime* earliest) const {
  std::vector<bool> seen(targets_.size(), false);
  std::optional<std::size_t> due;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (seen[e.target]) continue;
    seen[e.target] = true;
    if (e.next_attempt <= now) {
      if (!due) due = i;
    } else if (e.next_attempt < *earliest) {
      *earliest = e.next_attempt;
    }
  }
  return due;
}

void NotificationDispatcher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (dirty_ || (persist_retry_at_ && clock_.mono() >= *persist_retry_at_)) persist_locked();
    const MonoTime now = clock_.mono();
    MonoTime earliest = now + std::chrono::hours(1);
    auto due = next_due_locked(now, &earliest);
    if (!due) {
      // Bounded wait, so an injected clock that runs ahead is noticed within a second.
      const auto wait = std::min<MonoTime::duration>(earliest - now, std::chrono::seconds(1));
      cv_.wait_for(lock, wait, [this] { return stopping_ || dirty_; });
      continue;
    }
    Entry entry = entries_[*due];
    notifiers::Notifier* notifier = targets_[entry.target].notifier;
    lock.unlock();
    notifiers::SendResult result;
    try {
      result =
          notifier->send(entry.notification, std::chrono::duration_cast<std::chrono::milliseconds>(kAttemptTimeout));
    } catch (const std::exception& e) {  // the contract says never; a bug must not end delivery
      result = notifiers::SendResult::failure(notifier->describe() + ": " + e.what(), true);
    }
    lock.lock();
    // The target too: two notifiers may describe themselves alike (same URL, other labels).
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.key == entry.key && e.target == entry.target; });
    if (it != entries_.end()) finish_attempt(static_cast<std::size_t>(it - entries_.begin()), result);
  }
}

// Called with mu_ held.
void NotificationDispatcher::finish_attempt(std::size_t index, const notifiers::SendResult& result) {
  Entry& e = entries_[index];
  ++e.attempts;
  const std::string type = targets_[e.target].notifier->type();
  const std::string describe = targets_[e.target].notifier->describe();
  metrics_.count_notification(type, result.ok ? "success" : "failure");
  if (on_attempt_) {
    on_attempt_({{"decision_id", e.notification.decision_id},
                 {"notification_id", e.notification.id},
                 {"notifier", type},
                 {"target", describe},
                 {"message", e.notification.message},
                 {"attempt", e.attempts},
                 {"result", result.ok ? "success" : "failure"},
                 {"detail", result.detail}});
  }
  if (result.ok) {
    spdlog::info("notification {} sent to {} ({}, attempt {})", e.notification.message, describe, result.detail,
                 e.attempts);
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
  } else {
    const bool expired = clock_.wall() - e.queued_at >= targets_[e.target].spec.give_up_after;
    if (!result.retryable || expired) {
      metrics_.count_notification(type, "dropped");
      spdlog::error("notification {} to {} DROPPED after {} attempt(s) ({}): {}", e.notification.message, describe,
                    e.attempts, result.retryable ? "gave up after give_up_after" : "not retryable", result.detail);
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
    } else {
      auto backoff = kFirstBackoff * (1LL << std::min(e.attempts - 1, 20));
      if (backoff > kMaxBackoff) backoff = kMaxBackoff;
      e.next_attempt = clock_.mono() + backoff;
      spdlog::warn("notification {} to {} failed (attempt {}): {}; retrying in {}s", e.notification.message, describe,
                   e.attempts, result.detail, std::chrono::duration_cast<std::chrono::seconds>(backoff).count());
    }
  }
  dirty_ = true;
}

void NotificationDispatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (dirty_ || persist_retry_at_) persist_locked();
}

std::size_t NotificationDispatcher::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace rs::sidecar
