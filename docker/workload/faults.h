// Resource faults of the demo workload: a memory grower and a CPU burner, each driven by its own
// background thread, plus readers for the process's own CPU time and resident memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace workload {

// Resident set size from /proc/self/statm (0 when unreadable).
std::uint64_t process_resident_bytes();
// Virtual memory size from /proc/self/statm (0 when unreadable).
std::uint64_t process_virtual_bytes();
// User + system CPU time of the whole process (getrusage).
double process_cpu_seconds();

// Allocates (mmap) and touches memory at a given rate in MiB/s, never letting the process's
// resident memory exceed `limit_bytes`. release() unmaps everything, so RSS really goes down.
class MemoryGrower {
 public:
  explicit MemoryGrower(std::uint64_t limit_bytes);
  ~MemoryGrower();  // stops the thread and releases the memory
  MemoryGrower(const MemoryGrower&) = delete;
  MemoryGrower& operator=(const MemoryGrower&) = delete;

  void set_rate(double mib_per_second);
  double rate() const;
  // Stops growing (rate 0) and frees all grown memory.
  void reset();
  std::uint64_t grown_bytes() const;

 private:
  void run();
  void release_locked();

  const std::uint64_t limit_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  double rate_ = 0;
  double debt_bytes_ = 0;  // fractional growth carried to the next tick
  struct Chunk {
    void* addr;
    std::size_t size;
  };
  std::vector<Chunk> chunks_;
  std::uint64_t grown_ = 0;
  std::thread thread_;
};

// Keeps one thread busy for `fraction` of every 100 ms period (0 = idle, 1 = one full core).
class CpuBurner {
 public:
  CpuBurner();
  ~CpuBurner();
  CpuBurner(const CpuBurner&) = delete;
  CpuBurner& operator=(const CpuBurner&) = delete;

  void set_fraction(double fraction);
  double fraction() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  double fraction_ = 0;
  std::thread thread_;
};

}  // namespace workload
