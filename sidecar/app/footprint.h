// Keeps the daemon's resident memory near what it actually uses (bench/README.md, "Footprint").
#pragma once

namespace rs::sidecar {

// Called first thing in main(), before any thread exists: one malloc arena for every thread
// (M_ARENA_MAX 1). glibc otherwise gives each thread that allocates an arena of its own (64 MiB
// reserved, some hundred KiB touched each), 2.4 MiB resident in all, a fifth of the sidecar; its
// threads allocate little and rarely at the same time, so sharing one arena costs nothing.
void trim_footprint();

}  // namespace rs::sidecar
