// Command-line handling shared by the benchmarks: stop with an error
// message, and walk "--flag value" arguments.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ragd/status.h"

namespace ragd::bench {

// Prints "error: <status>" to stderr and exits with 1.
[[noreturn]] inline void die(const Status& st) {
  std::fprintf(stderr, "error: %s\n", st.to_string().c_str());
  std::exit(1);
}

// Walks argv[1..]: next() moves to the next argument, flag() is that
// argument, value() takes the one after it (dying when there is none) and
// unknown() dies naming the flag.
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool next() {
    if (++i_ >= argc_) return false;
    flag_ = argv_[i_];
    return true;
  }
  const std::string& flag() const { return flag_; }
  std::string value() {
    if (i_ + 1 >= argc_) die(Status::invalid_argument(flag_ + " needs a value"));
    return argv_[++i_];
  }
  [[noreturn]] void unknown() const { die(Status::invalid_argument("unknown argument " + flag_)); }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string flag_;
};

}  // namespace ragd::bench
