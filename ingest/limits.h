// Per-document limits, checked where every connector's and every request's
// documents pass (Ingestor::add's batch, before normalising), so one hostile
// document costs little and is never stored: a CSV with 100k columns or a
// JSONL record with 100k metadata keys would otherwise be copied into every
// search hit that cites it.
#pragma once

#include <cstddef>

#include "ragd/document.h"
#include "ragd/status.h"

namespace ragd {

struct DocumentLimits {
  // Metadata keys of one document. Default: 256.
  size_t max_metadata_keys = 256;
  // Bytes of one metadata key. Default: 256.
  size_t max_metadata_key_bytes = 256;
  // Bytes of one metadata value. Default: 64 KiB.
  size_t max_metadata_value_bytes = 64u << 10;
  // Chunks of one document; a file that splits into more (a decompression
  // bomb, a 60 MB log pasted into one page) is rejected before it is
  // embedded. Default: 10,000 (about 12 MB of text at the default chunk size).
  size_t max_chunks = 10000;
};

// kResourceExhausted naming the document, the limit and the option when a
// document's metadata is over a limit; ok otherwise. Cheap: it reads sizes
// only and stops at the first problem.
Status check_metadata_limits(const Document& doc, const DocumentLimits& limits);

}  // namespace ragd
