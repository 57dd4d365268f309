// ragd_make_office_docs: turns the text sources of the sample knowledge
// base's office policies into real PDF and DOCX files at build time, so that
// the repository holds only text and the connectors still meet real files.
//
//   ragd_make_office_docs SOURCE.txt OUTPUT.pdf [SOURCE.txt OUTPUT.docx ...]
//
// The output format follows the output's extension.
#include <cstdio>
#include <filesystem>
#include <string>

#include "office_doc.h"

namespace {

ragd::Status convert(const std::filesystem::path& src, const std::filesystem::path& out) {
  ragd::Result<ragd::examples::OfficeDoc> doc = ragd::examples::parse_office_source(src);
  if (!doc) return doc.status();
  std::error_code ec;
  if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path(), ec);
  if (ec) return ragd::Status::io_error(out.parent_path().string() + ": cannot create: " + ec.message());
  const std::string ext = out.extension().string();
  if (ext == ".pdf") return ragd::examples::write_pdf(*doc, out);
  if (ext == ".docx") return ragd::examples::write_docx(*doc, out);
  return ragd::Status::invalid_argument(out.string() + ": unknown output type (want .pdf or .docx)");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (argc - 1) % 2 != 0) {
    std::fprintf(stderr, "usage: %s SOURCE.txt OUTPUT.{pdf,docx} [SOURCE OUTPUT ...]\n", argv[0]);
    return 2;
  }
  int failures = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const ragd::Status st = convert(argv[i], argv[i + 1]);
    if (!st) {
      std::fprintf(stderr, "ragd_make_office_docs: %s\n", st.to_string().c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
