// multipart/form-data parsing for file uploads (RFC 7578), over a body that
// is already in memory. The parts point into the body.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ragd/status.h"

namespace ragd::api {

struct MultipartPart {
  std::string name;          // form field name
  std::string filename;      // empty when the part is not a file
  std::string content_type;  // of the part, "" when absent
  std::string_view data;     // points into the body passed to parse_multipart
};

// The boundary parameter of a multipart Content-Type, "" when absent.
std::string multipart_boundary(std::string_view content_type);

// Splits a multipart body; fails with kInvalidArgument on a missing boundary,
// a part without headers or a body that ends before the closing delimiter.
Result<std::vector<MultipartPart>> parse_multipart(std::string_view body, std::string_view content_type);

}  // namespace ragd::api
