#include "docker/workload/faults.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>

#include "docker/workload/common.h"

namespace workload {

namespace {

std::uint64_t statm_field(int index) {
  std::ifstream in("/proc/self/statm");
  std::uint64_t pages = 0;
  for (int i = 0; i <= index; ++i) {
    if (!(in >> pages)) return 0;
  }
  return pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr auto kTick = std::chrono::milliseconds(100);

}  // namespace

std::uint64_t process_resident_bytes() { return statm_field(1); }
std::uint64_t process_virtual_bytes() { return statm_field(0); }

double process_cpu_seconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

MemoryGrower::MemoryGrower(std::uint64_t limit_bytes) : limit_(limit_bytes), thread_([this] { run(); }) {}

MemoryGrower::~MemoryGrower() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  release_locked();
}

void MemoryGrower::set_rate(double mib_per_second) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    rate_ = mib_per_second;
    debt_bytes_ = 0;
  }
  cv_.notify_all();
}

double MemoryGrower::rate() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rate_;
}

void MemoryGrower::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  rate_ = 0;
  debt_bytes_ = 0;
  release_locked();
}

std::uint64_t MemoryGrower::grown_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return grown_;
}

void MemoryGrower::release_locked() {
  for (const auto& c : chunks_) munmap(c.addr, c.size);
  chunks_.clear();
  grown_ = 0;
}

void MemoryGrower::run() {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::unique_lock<std::mutex> lock(mutex_);
  auto last = std::chrono::steady_clock::now();
  bool capped_logged = false;
  while (!stop_) {
    cv_.wait_for(lock, kTick);
    if (stop_) break;
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - last).count();
    last = now;
    if (rate_ <= 0) {
      capped_logged = false;
      continue;
    }
    debt_bytes_ += rate_ * kMiB * std::min(elapsed, 1.0);
    std::uint64_t want = static_cast<std::uint64_t>(debt_bytes_) / page * page;
    if (want == 0) continue;
    std::uint64_t rss = process_resident_bytes();
    std::uint64_t room = rss < limit_ ? (limit_ - rss) / page * page : 0;
    std::uint64_t size = std::min(want, room);
    if (size < want) {
      debt_bytes_ = 0;  // capped: do not save up growth for later
      if (!capped_logged) {
        log_line("serve", "memory growth capped at the memory limit (" + std::to_string(limit_) + " bytes)");
        capped_logged = true;
      }
    } else {
      debt_bytes_ -= static_cast<double>(size);
    }
    if (size == 0) continue;
    void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED) {
      log_line("serve", "memory growth: mmap of " + std::to_string(size) + " bytes failed: " + std::strerror(errno));
      continue;
    }
    std::memset(addr, 0xA5, size);  // touch every page so it becomes resident
    chunks_.push_back({addr, size});
    grown_ += size;
  }
}

CpuBurner::CpuBurner() : thread_([this] { run(); }) {}

CpuBurner::~CpuBurner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CpuBurner::set_fraction(double fraction) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fraction_ = fraction;
  }
  cv_.notify_all();
}

double CpuBurner::fraction() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fraction_;
}

void CpuBurner::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  volatile double sink = 1.0;
  while (!stop_) {
    if (fraction_ <= 0) {
      cv_.wait(lock, [&] { return stop_ || fraction_ > 0; });
      continue;
    }
    auto start = std::chrono::steady_clock::now();
    auto busy_until = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTick * fraction_);
    lock.unlock();
    // Spin in short slices so a stop or a new fraction is noticed quickly.
    while (std::chrono::steady_clock::now() < busy_until) {
      for (int i = 0; i < 10000; ++i) sink = std::sqrt(sink + i);
      std::lock_guard<std::mutex> check(mutex_);
      if (stop_ || fraction_ <= 0) break;
    }
    lock.lock();
    if (stop_) break;
    if (fraction_ < 1.0) cv_.wait_until(lock, start + kTick, [&] { return stop_; });
  }
}

}  // namespace workload
