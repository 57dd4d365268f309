// ANN snapshot files: see index/snapshot.h.
#include "index/snapshot.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "index/codec.h"

namespace ragd {
namespace {

constexpr std::string_view kMagic = "RAGD-ANN-SNAPSHOT-1";

Result<std::pair<uint64_t, uint64_t>> file_size_and_hash(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status::not_found("cannot open " + p.string());
  codec::Hasher h;
  std::vector<char> buf(1 << 20);
  uint64_t size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    h.bytes(buf.data(), n);
    size += n;
  }
  return std::make_pair(size, h.digest());
}

}  // namespace

Status save_snapshot(const VectorIndex& index, const std::filesystem::path& dir,
                     const SnapshotTag& tag) {
  const auto data = dir / "ann.index";
  const auto meta = dir / "ann.meta";
  const auto data_tmp = dir / "ann.index.tmp";
  const auto meta_tmp = dir / "ann.meta.tmp";
  RAGD_RETURN_IF_ERROR(index.save(data_tmp).with_context("ANN snapshot"));
  RAGD_RETURN_IF_ERROR(fsync_path(data_tmp, false));
  RAGD_ASSIGN_OR_RETURN(auto size_hash, file_size_and_hash(data_tmp));
  std::string header;
  codec::Writer w(header);
  w.str(kMagic);
  w.u64(tag.op);
  w.str(tag.type);
  w.u64(static_cast<uint64_t>(tag.dim));
  w.str(tag.encoder);
  w.u64(size_hash.first);
  w.u64(size_hash.second);
  codec::Hasher hh;
  hh.bytes(header.data(), header.size());
  header += codec::key_u64(hh.digest());  // fixed 8 bytes: the header's own check
  {
    std::ofstream out(meta_tmp, std::ios::binary | std::ios::trunc);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.flush();
    if (!out) return file_write_error("writing " + meta_tmp.string(), errno);
  }
  RAGD_RETURN_IF_ERROR(fsync_path(meta_tmp, false));
  std::error_code ec;
  std::filesystem::rename(data_tmp, data, ec);
  if (!ec) std::filesystem::rename(meta_tmp, meta, ec);
  if (ec) return Status::io_error("renaming ANN snapshot in " + dir.string() + ": " + ec.message());
  return fsync_path(dir, true);
}

Result<SnapshotTag> load_snapshot(VectorIndex& index, const std::filesystem::path& dir) {
  const auto data = dir / "ann.index";
  const auto meta = dir / "ann.meta";
  std::error_code ec;
  if (!std::filesystem::exists(meta, ec) || !std::filesystem::exists(data, ec)) {
    return Status::not_found("no ANN snapshot in " + dir.string());
  }
  std::string header;
  {
    std::ifstream in(meta, std::ios::binary);
    header.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (header.size() > (1 << 20)) return Status::corruption(meta.string() + ": too large");
  }
  auto corrupt = [&](const std::string& why) { return Status::corruption(meta.string() + ": " + why); };
  if (header.size() < 8) return corrupt("truncated header");
  std::string_view body(header.data(), header.size() - 8);
  codec::Hasher hh;
  hh.bytes(body.data(), body.size());
  if (hh.digest() != codec::parse_key_u64(std::string_view(header).substr(body.size()))) {
    return corrupt("header checksum mismatch");
  }
  codec::Reader r(body);
  if (r.str() != kMagic) return corrupt("bad magic");
  SnapshotTag tag;
  tag.op = r.u64();
  tag.type = r.str();
  tag.dim = static_cast<int>(r.u64());
  tag.encoder = r.str();
  const uint64_t size = r.u64();
  const uint64_t hash = r.u64();
  if (!r.ok()) return corrupt("truncated header");
  auto actual = file_size_and_hash(data);
  if (!actual.is_ok()) return actual.status();
  if (actual->first != size) {
    return Status::corruption(data.string() + ": size " + std::to_string(actual->first) +
                              ", header says " + std::to_string(size));
  }
  if (actual->second != hash) return Status::corruption(data.string() + ": checksum mismatch");
  if (tag.type != index.options().type || tag.dim != index.options().dim) {
    return corrupt("snapshot is of " + tag.type + " dim " + std::to_string(tag.dim) +
                   ", the store uses " + index.options().type + " dim " +
                   std::to_string(index.options().dim));
  }
  RAGD_RETURN_IF_ERROR(index.load(data));
  return tag;
}

Status fsync_path(const std::filesystem::path& p, bool directory) {
  int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return Status::io_error("open " + p.string() + " for fsync failed");
  int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return file_write_error("fsync " + p.string(), err);
  return Status::ok();
}

void advise_huge_pages(void* p, size_t bytes) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  if (p == nullptr || bytes < 2 * kHuge) return;
  const auto at = reinterpret_cast<uintptr_t>(p);
  const uintptr_t begin = (at + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (at + bytes) & ~(kHuge - 1);
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

Status file_write_error(const std::string& what, int err) {
  std::string m = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return Status::no_space(std::move(m));
  return Status::io_error(std::move(m));
}

}  // namespace ragd
