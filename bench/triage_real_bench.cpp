// triage_real_bench: the triage models on real text that every Debian
// machine has after `apt-get update`: the package lists, read with
// `apt-cache dumpavail`. Each source package becomes one ticket (one of its
// binary packages, picked by a seeded hash, so that a library's -dev and
// -doc twins, which share maintainer and wording by construction, never sit
// on both sides of the split):
//   subject        the short Description
//   description    the package name and its Tag (debtags) words
//   fields         category = Section, priority = Priority (what a ticket
//                  carries when it is opened)
//   assignment_group  the Maintainer (by mail address): the --groups
//                  largest maintainers keep their own group, a seeded sample
//                  of all other maintainers' packages forms one catch-all
//                  group of --catch-all-share of the set
//   category       the Section (a second field to predict)
//   created_at     a hash of the seed and the package name, so the trainer's
//                  time-ordered split is a seeded random split
// and goes through the trainer exactly as triage_bench's tickets do. Prints
// the held-out table per field, the train times and the predict latency.
//
//   triage_real_bench [--tickets N] [--groups G] [--catch-all-share X] [--seed S] [--field F]...
//
// Without the lists (no apt-cache, or no `apt-get update` yet) it says so and
// exits 0.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench_args.h"
#include "triage/features.h"
#include "triage_table.h"

using namespace ragd;
using namespace ragd::triage;

namespace {

constexpr const char* kCatchAll = "(other maintainers)";

struct Package {
  std::string name, source, maintainer, description, tags, section, priority;
};

// The stanzas of `apt-cache dumpavail` (deb822: "Field: value", continuation
// lines start with a space, a blank line ends a record).
std::vector<Package> read_packages(FILE* in) {
  std::vector<Package> out;
  Package cur;
  std::string last;  // field the continuation lines belong to
  auto finish = [&] {
    if (!cur.name.empty() && !cur.maintainer.empty() && !cur.description.empty()) {
      if (cur.source.empty()) cur.source = cur.name;
      out.push_back(std::move(cur));
    }
    cur = Package{};
    last.clear();
  };
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) >= 0) {
    std::string_view l(line, static_cast<size_t>(len));
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.remove_suffix(1);
    if (l.empty()) {
      finish();
      continue;
    }
    if (l[0] == ' ' || l[0] == '\t') {
      if (last == "Tag") cur.tags += std::string(l);
      continue;
    }
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) continue;
    last = std::string(l.substr(0, colon));
    std::string value(l.substr(std::min(l.size(), colon + 2)));
    if (last == "Package") cur.name = value;
    else if (last == "Source") cur.source = value.substr(0, value.find(' '));  // "src (version)"
    else if (last == "Maintainer") cur.maintainer = value;
    else if (last == "Description") cur.description = value;
    else if (last == "Tag") cur.tags = value;
    else if (last == "Section") cur.section = value;
    else if (last == "Priority") cur.priority = value;
  }
  finish();
  std::free(line);
  return out;
}

// A maintainer's identity: the lower-cased mail address (teams write their
// name in several ways), else the whole field.
std::string maintainer_key(const std::string& m) {
  size_t a = m.rfind('<'), b = m.rfind('>');
  std::string k = a != std::string::npos && b != std::string::npos && b > a ? m.substr(a + 1, b - a - 1) : m;
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  size_t tickets = 8000;
  int groups = 73;
  double catch_all_share = 0.45;
  uint64_t seed = 7;
  std::vector<std::string> fields;
  bench::ArgReader args(argc, argv);
  while (args.next()) {
    if (args.flag() == "--tickets") tickets = std::stoul(args.value());
    else if (args.flag() == "--groups") groups = std::stoi(args.value());
    else if (args.flag() == "--catch-all-share") catch_all_share = std::stod(args.value());
    else if (args.flag() == "--seed") seed = std::stoull(args.value());
    else if (args.flag() == "--field") fields.push_back(args.value());
    else args.unknown();
  }
  if (fields.empty()) fields = {"assignment_group", "category"};
  if (groups < 1 || !(catch_all_share > 0 && catch_all_share < 1) || tickets < 100) {
    bench::die(Status::invalid_argument("need --groups >= 1, --catch-all-share in (0, 1), --tickets >= 100"));
  }

  FILE* in = ::popen("apt-cache dumpavail 2>/dev/null", "r");
  std::vector<Package> all;
  if (in) {
    all = read_packages(in);
    ::pclose(in);
  }
  if (all.empty()) {
    std::printf("skipped: no package lists (`apt-cache dumpavail` printed no packages; run `apt-get update` on a "
                "Debian or Ubuntu machine first)\n");
    return 0;
  }

  // One binary package per source package: the one with the smallest hash.
  std::map<std::string, const Package*> by_source;
  for (const auto& p : all) {
    auto [it, added] = by_source.emplace(p.source, &p);
    if (!added && text_hash(p.name, seed) < text_hash(it->second->name, seed)) it->second = &p;
  }
  std::unordered_map<std::string, size_t> per_maintainer;
  for (const auto& [src, p] : by_source) ++per_maintainer[maintainer_key(p->maintainer)];
  std::vector<std::pair<size_t, std::string>> ranked;
  for (const auto& [k, n] : per_maintainer) ranked.emplace_back(n, k);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::unordered_map<std::string, bool> own_group;
  for (size_t i = 0; i < std::min<size_t>(groups, ranked.size()); ++i) own_group[ranked[i].second] = true;

  // Seeded samples: the catch-all share from the other maintainers' sources,
  // the rest from the large maintainers' (in proportion to their sizes).
  std::vector<const Package*> top, rest;
  for (const auto& [src, p] : by_source) (own_group.count(maintainer_key(p->maintainer)) ? top : rest).push_back(p);
  auto by_hash = [&](const Package* a, const Package* b) {
    uint64_t ha = text_hash("sample:" + a->source, seed), hb = text_hash("sample:" + b->source, seed);
    return ha != hb ? ha < hb : a->source < b->source;
  };
  std::sort(top.begin(), top.end(), by_hash);
  std::sort(rest.begin(), rest.end(), by_hash);
  size_t n_rest = std::min(rest.size(), static_cast<size_t>(tickets * catch_all_share + 0.5));
  size_t n_top = std::min(top.size(), tickets - n_rest);
  std::printf("package lists: %zu binary records, %zu source packages, %zu maintainers; the %zu largest keep their "
              "own group (%zu sources), the other %zu maintainers (%zu sources) form the catch-all\n",
              all.size(), by_source.size(), ranked.size(), own_group.size(), top.size(),
              ranked.size() - own_group.size(), rest.size());

  std::vector<LabeledTicket> base;
  std::map<std::string, size_t> group_count;
  auto add = [&](const Package* p, bool catch_all) {
    LabeledTicket t;
    t.id = p->name;
    t.text.subject = p->description;
    t.text.description = p->name + (p->tags.empty() ? "" : " " + p->tags);
    if (!p->section.empty()) t.text.fields["category"] = p->section;
    if (!p->priority.empty()) t.text.fields["priority"] = p->priority;
    t.label = catch_all ? kCatchAll : maintainer_key(p->maintainer);
    // 2023-01-01 plus up to a year, fixed per package and seed.
    t.time = 1672531200 + static_cast<int64_t>(text_hash("time:" + p->name, seed) % (365 * 86400));
    ++group_count[t.label];
    base.push_back(std::move(t));
  };
  for (size_t i = 0; i < n_top; ++i) add(top[i], false);
  for (size_t i = 0; i < n_rest; ++i) add(rest[i], true);
  sort_by_time(base);
  std::printf("set: %zu tickets (seed %llu), %zu assignment groups, catch-all share %.3f, largest own group %.3f, "
              "smallest %zu tickets; created_at is a seeded hash of the package name, so the time-ordered split "
              "is a seeded random split\n",
              base.size(), static_cast<unsigned long long>(seed), group_count.size(),
              static_cast<double>(group_count[kCatchAll]) / base.size(),
              static_cast<double>(ranked.empty() ? 0 : group_count[ranked[0].second]) / base.size(),
              [&] {
                size_t m = base.size();
                for (const auto& [g, n] : group_count) m = std::min(m, n);
                return m;
              }());

  for (const auto& field : fields) {
    std::vector<LabeledTicket> examples;
    for (const auto& t : base) {
      LabeledTicket e = t;
      if (field == "category") {
        auto it = e.text.fields.find("category");
        if (it == e.text.fields.end()) continue;
        e.label = it->second;
      } else if (field != "assignment_group") {
        bench::die(Status::invalid_argument("--field is assignment_group or category"));
      }
      examples.push_back(std::move(e));
    }
    bench::print_triage_table(examples, field);
  }
  return 0;
}
