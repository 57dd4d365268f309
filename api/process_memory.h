// The server process's memory as the kernel and glibc's malloc see it, for
// GET /metrics (and so for the soak in bench/answer_bench.cpp):
//
//   process_resident_memory_bytes     VmRSS (the model file's mapped pages included)
//   ragd_malloc_bytes{state="in_use"} bytes handed out by malloc and not yet freed
//   ragd_malloc_bytes{state="free"}   freed bytes malloc keeps in its arenas
//   ragd_malloc_bytes{state="mmapped"} of in_use, blocks malloc mapped on their own
//
// in_use growing over a soak is live heap (a cache or a leak); free growing
// while in_use stays flat is the allocator holding memory it does not give
// back (arena fragmentation).
//
// Thread safety: free functions, callable from any thread.
#pragma once

#include <cstddef>

#include "api/metrics.h"

namespace ragd::api {

struct ProcessMemory {
  size_t resident_bytes = 0;  // VmRSS from /proc/self/status; 0 when unreadable
  size_t malloc_in_use = 0;   // mallinfo2: uordblks + hblkhd
  size_t malloc_free = 0;     // mallinfo2: fordblks (free chunks in every arena)
  size_t malloc_mmapped = 0;  // mallinfo2: hblkhd
};

// Walks every malloc arena (mallinfo2 takes each arena's lock for the
// duration of its walk): for scrapes, not for a request path.
ProcessMemory process_memory();

// glibc's malloc serves a block of at least its mmap threshold from a
// mapping of its own, given back to the kernel on free(); but every such
// free() raises the threshold to that block's size (up to 32 MiB), so the
// server's per-request blocks of 1-8 MiB (logits of a token and its drafts,
// a prompt's exported keys and values for the prefix cache) soon come from
// the arenas, and freed they stay there: 80 MB of free arena memory after
// 16 streams (bench/README.md, serve_bench). This fixes the threshold at
// `bytes` (which also stops its adjustment), unless GLIBC_TUNABLES already
// sets glibc.malloc.mmap_threshold. Returns whether it set it. Call at
// start-up.
bool fix_malloc_mmap_threshold(size_t bytes = size_t{1} << 20);

// Registers the gauges above and a collector that fills them at every scrape.
void register_process_memory_metrics(Registry& registry);

}  // namespace ragd::api
