// The ANN snapshot: the vector index saved in its library's format
// (ann.index) plus a small header file (ann.meta) that tags it with the op
// number it covers and checks it (size and 64-bit checksum). Both are written
// to temporary names and renamed, header last, so a crash leaves either the
// old pair or a mismatch that load_snapshot() detects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "index/vector_index.h"
#include "ragd/status.h"

namespace ragd {

struct SnapshotTag {
  uint64_t op = 0;        // last index operation the snapshot contains
  std::string type;       // VectorIndexOptions::type
  int dim = 0;
  std::string encoder;    // encoder fingerprint of the vectors
};

Status save_snapshot(const VectorIndex& index, const std::filesystem::path& dir,
                     const SnapshotTag& tag);

// Loads the snapshot into `index` (empty, of the right type and dim) and
// returns its tag. kNotFound when there is none; kCorruption when it fails
// any check, with the reason.
Result<SnapshotTag> load_snapshot(VectorIndex& index, const std::filesystem::path& dir);

// fsync of a file, or of a directory (so a rename into it is durable). Shared
// by the ANN snapshot and the lexical index snapshot.
Status fsync_path(const std::filesystem::path& p, bool directory);

// Asks for transparent huge pages over the 2 MiB-aligned part of a large
// allocation that a snapshot load is about to fill (the HNSW level-0 array,
// the longest posting lists). Filling touches every page once, and on a VM
// each 4 KiB page fault is costly; searches then also miss the TLB less.
// Advice only: with THP set to "never", or below 4 MiB, nothing changes.
void advise_huge_pages(void* p, size_t bytes);

// A failed write to a file of ours, from its errno: kNoSpace for ENOSPC and
// EDQUOT (the HTTP layer answers 507), else kIoError.
Status file_write_error(const std::string& what, int err);

}  // namespace ragd
