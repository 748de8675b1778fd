#include "sidecar/app/footprint.h"

#include <malloc.h>

namespace rs::sidecar {

void trim_footprint() { mallopt(M_ARENA_MAX, 1); }

}  // namespace rs::sidecar
