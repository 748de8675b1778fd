#include "sidecar/core/persist_health.h"

#include <spdlog/spdlog.h>

namespace rs::sidecar {

const char* persist_file_name(PersistFile file) {
  switch (file) {
    case PersistFile::kState: return "state";
    case PersistFile::kAudit: return "audit";
    case PersistFile::kIncident: return "incident";
    case PersistFile::kOutbox: return "outbox";
  }
  return "unknown";
}

void PersistHealth::failed(PersistFile file, const std::string& error) {
  metrics_.count_persist_error(persist_file_name(file));
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string& slot = errors_[static_cast<std::size_t>(file)];
    first = slot.empty();
    slot = error.empty() ? "write failed" : error;
  }
  if (first) {
    spdlog::error("{} (the {} file is retried; decisions hold in memory; logged once until it works again)", error,
                  persist_file_name(file));
  } else {
    spdlog::debug("{} (still failing)", error);
  }
}

void PersistHealth::succeeded(PersistFile file) {
  std::string was;
  {
    std::lock_guard<std::mutex> lock(mu_);
    was.swap(errors_[static_cast<std::size_t>(file)]);
  }
  if (!was.empty()) spdlog::info("{} file written again (it had failed: {})", persist_file_name(file), was);
}

std::string PersistHealth::failing() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    if (errors_[i].empty()) continue;
    out += (out.empty() ? "" : "; ") + std::string(persist_file_name(static_cast<PersistFile>(i))) + ": " + errors_[i];
  }
  return out;
}

}  // namespace rs::sidecar
