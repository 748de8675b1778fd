// listen, evaluation_interval, evaluation_alignment, dry_run, use_recording_rules: how this sidecar runs.
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// `listen`: host:port, the host without ':' or whitespace (at most 253 characters: a DNS name's
// limit), the port 0..65535.
bool is_listen_address(const std::string& listen) {
  const auto colon = listen.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 253) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    const char c = listen[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return false;
  }
  const std::size_t digits = listen.size() - colon - 1;
  if (digits < 1 || digits > 5) return false;
  long port = 0;
  for (std::size_t i = colon + 1; i < listen.size(); ++i) {
    if (!is_ascii_digit(listen[i])) return false;
    port = port * 10 + (listen[i] - '0');
  }
  return port <= 65535;
}

}  // namespace

void load_runtime(LoadContext& c) {
  Config& cfg = c.config;
  cfg.listen = c.top.string("listen", "127.0.0.1:9107");
  if (!is_listen_address(cfg.listen)) {
    c.top.error("listen",
                quote_clipped(cfg.listen) + " must be host:port (host at most 253 characters, port 0..65535)");
  }
  cfg.evaluation_interval = c.top.duration("evaluation_interval", Duration{5000});
  if (cfg.evaluation_interval < Duration{100}) c.top.error("evaluation_interval", "must be at least 100ms");
  const std::string alignment = c.top.string("evaluation_alignment", "scrape");
  if (alignment == "fixed") {
    cfg.evaluation_alignment = EvaluationAlignment::kFixed;
  } else if (alignment != "scrape") {
    c.top.error("evaluation_alignment", quote_clipped(alignment) + " is not an alignment (scrape or fixed)");
  }
  cfg.dry_run = c.top.boolean("dry_run", false);
  cfg.use_recording_rules = c.top.boolean("use_recording_rules", false);
}

}  // namespace rs::sidecar::config_internal
