// A RocksDB FileSystem that fails every write with ENOSPC while a test's
// predicate says so (StoreOptions::fault_no_space): the disk-full fault test
// that needs no root and no tmpfs. Reads and deletes pass through.
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "index/store_impl.h"

namespace ragd {
namespace {

using rocksdb::FileOptions;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

using NoSpaceWhen = std::function<bool()>;

class NoSpaceFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  NoSpaceFile(std::unique_ptr<FSWritableFile> f, NoSpaceWhen when)
      : FSWritableFileOwnerWrapper(std::move(f)), when_(std::move(when)) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->Append(data, o, d);
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& v,
                  IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->Append(data, o, v, d);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->PositionedAppend(data, offset, o, d);
  }
  IOStatus Flush(const IOOptions& o, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->Flush(o, d);
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->Sync(o, d);
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    return target()->Fsync(o, d);
  }

 private:
  NoSpaceWhen when_;
};

class NoSpaceFs final : public rocksdb::FileSystemWrapper {
 public:
  NoSpaceFs(const std::shared_ptr<rocksdb::FileSystem>& base, NoSpaceWhen when)
      : FileSystemWrapper(base), when_(std::move(when)) {}
  static const char* kClassName() { return "RagdNoSpaceFs"; }
  const char* Name() const override { return kClassName(); }

  IOStatus NewWritableFile(const std::string& f, const FileOptions& fo, std::unique_ptr<FSWritableFile>* r,
                           IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    std::unique_ptr<FSWritableFile> file;
    IOStatus s = target()->NewWritableFile(f, fo, &file, d);
    if (s.ok()) *r = std::make_unique<NoSpaceFile>(std::move(file), when_);
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& f, const FileOptions& fo, std::unique_ptr<FSWritableFile>* r,
                              IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    std::unique_ptr<FSWritableFile> file;
    IOStatus s = target()->ReopenWritableFile(f, fo, &file, d);
    if (s.ok()) *r = std::make_unique<NoSpaceFile>(std::move(file), when_);
    return s;
  }
  IOStatus ReuseWritableFile(const std::string& f, const std::string& old, const FileOptions& fo,
                             std::unique_ptr<FSWritableFile>* r, IODebugContext* d) override {
    if (when_()) return IOStatus::NoSpace("injected: No space left on device");
    std::unique_ptr<FSWritableFile> file;
    IOStatus s = target()->ReuseWritableFile(f, old, fo, &file, d);
    if (s.ok()) *r = std::make_unique<NoSpaceFile>(std::move(file), when_);
    return s;
  }

 private:
  NoSpaceWhen when_;
};

}  // namespace

std::unique_ptr<rocksdb::Env> make_no_space_env(std::function<bool()> when) {
  auto fs = std::make_shared<NoSpaceFs>(rocksdb::FileSystem::Default(), std::move(when));
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace ragd
