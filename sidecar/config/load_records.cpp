// state_file, audit_log, incidents_dir: what the sidecar keeps on disk.
#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {

void load_records(LoadContext& c) {
  c.config.state_file = c.top.string("state_file", "");
  c.config.audit_log = c.top.string("audit_log", "");
  c.config.incidents_dir = c.top.string("incidents_dir", "");
}

}  // namespace rs::sidecar::config_internal
