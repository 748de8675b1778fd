// GET /: a self-contained HTML status page (no external assets) that renders /api/v1/status
// and refreshes itself every two seconds.
#pragma once

#include <string>

namespace rs::sidecar {

const std::string& status_page_html();

}  // namespace rs::sidecar
