#include "api/process_memory.h"

#include <malloc.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace ragd::api {

namespace {

size_t vm_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return static_cast<size_t>(std::atoll(line.c_str() + 6)) * 1024;
  }
  return 0;
}

}  // namespace

bool fix_malloc_mmap_threshold(size_t bytes) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::string(tunables).find("mmap_threshold") != std::string::npos) return false;
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(bytes)) == 1;
}

ProcessMemory process_memory() {
  ProcessMemory m;
  m.resident_bytes = vm_rss_bytes();
  const struct mallinfo2 mi = mallinfo2();
  m.malloc_in_use = mi.uordblks + mi.hblkhd;
  m.malloc_free = mi.fordblks;
  m.malloc_mmapped = mi.hblkhd;
  return m;
}

void register_process_memory_metrics(Registry& registry) {
  Gauge& rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").get();
  GaugeFamily& heap = registry.gauge("ragd_malloc_bytes",
                                     "glibc malloc: bytes in use, free bytes kept in its arenas, and the "
                                     "in-use bytes in blocks mapped on their own.",
                                     {"state"});
  Gauge& in_use = heap.with({"in_use"});
  Gauge& free_bytes = heap.with({"free"});
  Gauge& mmapped = heap.with({"mmapped"});
  registry.add_collector([&rss, &in_use, &free_bytes, &mmapped] {
    const ProcessMemory m = process_memory();
    rss.set(static_cast<double>(m.resident_bytes));
    in_use.set(static_cast<double>(m.malloc_in_use));
    free_bytes.set(static_cast<double>(m.malloc_free));
    mmapped.set(static_cast<double>(m.malloc_mmapped));
  });
}

}  // namespace ragd::api
