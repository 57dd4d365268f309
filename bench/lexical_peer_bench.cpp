// ragd's LexicalIndex beside Xapian (1.4, BM25Weight) on the same real corpus
// and the same queries, single thread, in one run.
//
// Usage: lexical_peer_bench [--max-chunks N] [--words W] [--phrases N]
//                           [--runs R] [--xapian-dir DIR] [--scifact DIR]
//                           [--tickets DIR]
//
// Corpus: the text on this machine: every man page under /usr/share/man
// (the roff source, gzipped or not, with the requests and font escapes
// stripped), every text file under /usr/share/doc and /usr/share/info
// (gzipped or not; files holding NUL bytes are skipped), cut into chunks of
// W words (default 150), up to N chunks (default 1,000,000; the machine
// usually has fewer, and the bench prints how many it found). HTML pages go
// through ragd's HTML connector (their text, without markup); stylesheets,
// scripts, SVG and Sphinx's `_sources` copies of the pages are skipped.
// Documentation packages add real text: with linux-doc-6.1, python3.11-doc
// and postgresql-doc-15 installed and --words 50 the machine holds about 1M
// chunks.
//
// Analysis: each chunk goes through the store's own analysis
// (Store::analyze_chunks: the document's title, here the file's name, plus
// the chunk's text, Snowball English stems, ragd's stop words). Xapian is
// fed the same analysed terms with the same within-chunk frequencies (its
// document length, the sum of the wdf, is then ragd's chunk length), so
// both engines index identical term lists: the stemmer, the stop list and
// the identifier handling are ragd's for both, and the top-10 overlap
// compares ranking, not analysis.
//
// Ranking: Xapian's BM25Weight with ragd's k1 and b, k2 = 0 (no query-length
// correction), k3 = 0 (query term frequency ignored; the queries' terms are
// distinct anyway) and min_normlen = 0 (ragd does not floor the length
// ratio). What still differs, and shows in the overlap: Xapian's idf is
// log((N - n + 0.5) / (n + 0.5)), lifted for terms in more than about a third
// of the documents (it never goes negative), where ragd's is
// log(1 + (N - n + 0.5) / (n + 0.5)).
//
// Queries, analysed once with ragd::analyze: SciFact's queries
// (../shared/testdata/eval/scifact, as real questions), the titles of the
// sample KB's tickets (examples/kb/tickets) and phrases of 2-6 consecutive
// words sampled from the corpus (fixed seed).
//
// Prints, for k = 10 and k = 100 and each engine: QPS, p50 and p99 (ms,
// wall time of the search call alone, after a warm-up pass), and the mean
// overlap of the two top-10 lists.
#include <zlib.h>

#include <xapian.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "bench_args.h"
#include "bench_stats.h"
#include "connectors/connector.h"
#include "index/analyzer.h"
#include "index/lexical_index.h"
#include "index/store.h"
#include "index/store_impl.h"  // ChunkAnalysis
#include "retrieve/eval.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ragd::bench::percentile;

namespace {

// The file's bytes, gunzipped when its name ends in .gz. Empty when it
// cannot be read.
std::string read_text(const fs::path& p) {
  std::string out;
  if (p.extension() == ".gz") {
    gzFile g = gzopen(p.c_str(), "rb");
    if (!g) return out;
    char buf[1 << 16];
    int n = 0;
    while ((n = gzread(g, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    gzclose(g);
    return out;
  }
  std::ifstream in(p, std::ios::binary);
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return out;
}

bool looks_binary(std::string_view s) { return s.substr(0, 8192).find('\0') != std::string_view::npos; }

// Roff source to plain text: comment lines dropped, a request line keeps its
// arguments (".SH DESCRIPTION" -> "DESCRIPTION"), escapes \fB \fR \(em \*(xx
// \- \e removed or replaced.
std::string strip_roff(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  size_t at = 0;
  while (at < src.size()) {
    size_t e = src.find('\n', at);
    if (e == std::string_view::npos) e = src.size();
    std::string_view line = src.substr(at, e - at);
    at = e + 1;
    if (line.starts_with(".\\\"") || line.starts_with("'\\\"") || line.starts_with("\\\"")) continue;
    if (!line.empty() && (line[0] == '.' || line[0] == '\'')) {
      const size_t sp = line.find(' ');
      if (sp == std::string_view::npos) continue;
      line = line.substr(sp + 1);
    }
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '"') continue;
      if (c != '\\' || i + 1 == line.size()) {
        out.push_back(c);
        continue;
      }
      const char n = line[++i];
      if (n == 'f' || n == 'F') {  // font: \fB, \f(CW, \f[...]
        if (i + 1 < line.size() && line[i + 1] == '(') {
          i += 3;
        } else if (i + 1 < line.size() && line[i + 1] == '[') {
          const size_t close = line.find(']', i);
          i = close == std::string_view::npos ? line.size() : close;
        } else {
          i += 1;
        }
      } else if (n == '(') {  // special character \(em
        i += 2;
        out.push_back(' ');
      } else if (n == '*') {  // string \*(xx or \*x
        if (i + 1 < line.size() && line[i + 1] == '(') i += 3; else i += 1;
      } else if (n == '-' || n == 'e' || n == '\\') {
        out.push_back(n == '-' ? '-' : '\\');
      } else if (n == 's') {  // size \s+2, \s0
        while (i + 1 < line.size() && (line[i + 1] == '+' || line[i + 1] == '-' ||
                                        (line[i + 1] >= '0' && line[i + 1] <= '9'))) {
          ++i;
        }
      } else if (n == '&' || n == '|' || n == '^' || n == '/' || n == ',' || n == ':') {
        // zero-width
      } else {
        out.push_back(' ');
      }
    }
    out.push_back('\n');
  }
  return out;
}

struct Source {
  std::string title;  // the file's name, without .gz
  std::string text;
};

void collect_files(const fs::path& root, std::vector<fs::path>& out) {
  static const std::set<std::string> kNotText = {".js", ".css", ".svg", ".map", ".woff", ".woff2", ".ttf", ".eot"};
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && it->path().filename() == "_sources") {
      it.disable_recursion_pending();  // Sphinx's copies of the pages' sources
      continue;
    }
    if (kNotText.count(it->path().extension().string())) continue;
    if (it->is_regular_file(ec) && !it->is_symlink(ec) && it->file_size(ec) < (32u << 20)) out.push_back(it->path());
  }
}

bool is_html(const fs::path& p) {
  fs::path name = p.extension() == ".gz" ? p.stem() : p;
  return name.extension() == ".html" || name.extension() == ".htm";
}

// An HTML page's text as ragd's HTML connector extracts it; empty when it
// does not parse.
std::string html_text(const std::string& bytes, const fs::path& p) {
  std::string text;
  ragd::FetchOptions options;
  options.format = ragd::SourceFormat::kHtml;
  ragd::FetchSink sink;
  sink.on_document = [&](ragd::Document&& d) { text += d.text; };
  sink.on_error = [](const ragd::Status&) {};
  (void)ragd::fetch_buffer(bytes, p.filename().string(), options, sink);
  return text;
}

bool is_man_page(const fs::path& p) {
  const std::string s = p.string();
  return s.starts_with("/usr/share/man/");
}

// Cuts a text into chunks of `words` words.
void chunk_words(std::string_view text, size_t words, std::vector<std::string>& out, size_t max_chunks) {
  std::string cur;
  size_t n = 0;
  size_t at = 0;
  while (at < text.size() && out.size() < max_chunks) {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
    size_t e = at;
    while (e < text.size() && !std::isspace(static_cast<unsigned char>(text[e]))) ++e;
    if (e == at) break;
    if (!cur.empty()) cur.push_back(' ');
    cur.append(text.substr(at, e - at));
    at = e;
    if (++n == words) {
      out.push_back(std::move(cur));
      cur.clear();
      n = 0;
    }
  }
  if (n >= words / 4 && out.size() < max_chunks) out.push_back(std::move(cur));
}

// Ticket titles from the sample KB: the csv's title column and the
// short_description / summary / subject / title fields of the JSON exports.
std::vector<std::string> ticket_titles(const fs::path& dir) {
  std::vector<std::string> out;
  std::vector<fs::path> files;
  collect_files(dir, files);
  for (const auto& f : files) {
    const std::string text = read_text(f);
    if (f.extension() == ".csv") {
      size_t at = text.find('\n');
      while (at != std::string::npos && at + 1 < text.size()) {
        const size_t e = text.find('\n', at + 1);
        const std::string line = text.substr(at + 1, e == std::string::npos ? std::string::npos : e - at - 1);
        const size_t c1 = line.find(',');
        const size_t c2 = c1 == std::string::npos ? c1 : line.find(',', c1 + 1);
        if (c2 != std::string::npos) out.push_back(line.substr(c1 + 1, c2 - c1 - 1));
        at = e;
      }
      continue;
    }
    for (const char* key : {"\"short_description\"", "\"summary\"", "\"subject\"", "\"title\""}) {
      size_t at = 0;
      while ((at = text.find(key, at)) != std::string::npos) {
        at += std::strlen(key);
        const size_t q = text.find('"', text.find(':', at));
        if (q == std::string::npos) break;
        const size_t end = text.find('"', q + 1);
        if (end == std::string::npos) break;
        if (end > q + 1) out.push_back(text.substr(q + 1, end - q - 1));
        at = end;
      }
    }
  }
  return out;
}

struct Timing {
  std::vector<double> ms;
  double total_s = 0;
};

void print_row(const char* engine, size_t k, const Timing& t) {
  std::printf("  %-6s k=%-3zu  QPS %8.0f   p50 %7.3f ms   p99 %7.3f ms\n", engine, k,
              static_cast<double>(t.ms.size()) / t.total_s, percentile(t.ms, 0.5), percentile(t.ms, 0.99));
}

}  // namespace

int main(int argc, char** argv) {
  size_t max_chunks = 1000000, words = 150, n_phrases = 2000, runs = 1;
  fs::path xdir = fs::temp_directory_path() / "ragd-lexical-peer-xapian";
  fs::path scifact = "../shared/testdata/eval/scifact";
  fs::path tickets = fs::path(RAGD_SOURCE_DIR) / "examples/kb/tickets";
  ragd::bench::ArgReader args(argc, argv);
  auto number = [&] {
    const std::string v = args.value();
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') ragd::bench::die(ragd::Status::invalid_argument(args.flag() + ": not a number: " + v));
    return static_cast<size_t>(n);
  };
  while (args.next()) {
    if (args.flag() == "--max-chunks") {
      max_chunks = number();
    } else if (args.flag() == "--words") {
      words = std::max<size_t>(10, number());
    } else if (args.flag() == "--phrases") {
      n_phrases = number();
    } else if (args.flag() == "--runs") {
      runs = std::max<size_t>(1, number());
    } else if (args.flag() == "--xapian-dir") {
      xdir = args.value();
    } else if (args.flag() == "--scifact") {
      scifact = args.value();
    } else if (args.flag() == "--tickets") {
      tickets = args.value();
    } else {
      args.unknown();
    }
  }

  // Corpus.
  auto t0 = Clock::now();
  std::vector<fs::path> files;
  collect_files("/usr/share/man", files);
  collect_files("/usr/share/doc", files);
  collect_files("/usr/share/info", files);
  std::sort(files.begin(), files.end());
  std::vector<std::string> chunks;
  std::vector<uint32_t> chunk_file;  // index into titles
  std::vector<std::string> titles;
  size_t man_files = 0, doc_files = 0;
  for (const auto& f : files) {
    if (chunks.size() >= max_chunks) break;
    std::string text = read_text(f);
    if (text.empty() || looks_binary(text)) continue;
    const bool man = is_man_page(f);
    if (man) text = strip_roff(text);
    if (!man && is_html(f)) text = html_text(text, f);
    const size_t before = chunks.size();
    chunk_words(text, words, chunks, max_chunks);
    if (chunks.size() == before) continue;
    (man ? man_files : doc_files) += 1;
    fs::path name = f.filename();
    if (name.extension() == ".gz") name = name.stem();
    titles.push_back(name.string());
    chunk_file.resize(chunks.size(), static_cast<uint32_t>(titles.size() - 1));
  }
  std::printf("corpus: %zu chunks of %zu words from %zu man pages and %zu files of /usr/share/doc and "
              "/usr/share/info (%.1f s)%s\n",
              chunks.size(), words, man_files, doc_files, std::chrono::duration<double>(Clock::now() - t0).count(),
              chunks.size() < max_chunks ? ": all the text there is" : "");

  // Analysis, through the store's own.
  t0 = Clock::now();
  std::vector<std::vector<ragd::TermFreq>> terms(chunks.size());
  std::vector<uint32_t> lengths(chunks.size());
  for (size_t i = 0; i < chunks.size();) {
    size_t j = i;
    while (j < chunks.size() && chunk_file[j] == chunk_file[i]) ++j;
    ragd::Document doc;
    doc.title = titles[chunk_file[i]];
    std::vector<ragd::Chunk> cs(j - i);
    for (size_t c = i; c < j; ++c) cs[c - i].text = std::move(chunks[c]);
    auto a = ragd::Store::analyze_chunks(doc, cs);
    for (size_t c = i; c < j; ++c) {
      terms[c] = std::move(a->terms[c - i]);
      lengths[c] = a->lengths[c - i];
      chunks[c] = std::move(cs[c - i].text);
    }
    i = j;
  }
  std::printf("analysis: %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());

  // ragd.
  t0 = Clock::now();
  ragd::LexicalIndex lex;
  for (size_t i = 0; i < chunks.size(); ++i) lex.add(static_cast<uint32_t>(i), terms[i], lengths[i]);
  std::printf("ragd LexicalIndex: %zu chunks, %zu terms, built in %.1f s\n", lex.chunks(), lex.terms(),
              std::chrono::duration<double>(Clock::now() - t0).count());

  // Xapian, on disk (glass), the same terms and frequencies; docid = label + 1.
  t0 = Clock::now();
  fs::remove_all(xdir);
  {
    Xapian::WritableDatabase db(xdir.string(), Xapian::DB_CREATE_OR_OVERWRITE);
    for (size_t i = 0; i < chunks.size(); ++i) {
      Xapian::Document d;
      for (const auto& t : terms[i]) d.add_term(t.term, t.tf);
      db.add_document(d);
      if ((i + 1) % 200000 == 0) db.commit();
    }
    db.commit();
  }
  Xapian::Database xdb(xdir.string());
  std::printf("Xapian %s (glass, %s): %u documents, built in %.1f s\n", Xapian::version_string(), xdir.c_str(),
              xdb.get_doccount(), std::chrono::duration<double>(Clock::now() - t0).count());

  // Queries.
  std::vector<std::string> texts;
  size_t n_scifact = 0, n_tickets = 0;
  if (auto q = ragd::load_beir_queries(scifact / "queries-train.jsonl"); q.is_ok()) {
    for (const auto& x : *q) texts.push_back(x.text);
    n_scifact = q->size();
  } else {
    std::printf("no SciFact queries (%s)\n", q.status().to_string().c_str());
  }
  for (auto& t : ticket_titles(tickets)) {
    texts.push_back(std::move(t));
    ++n_tickets;
  }
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < n_phrases && !chunks.empty(); ++i) {
    const std::string& c = chunks[rng() % chunks.size()];
    std::vector<std::string_view> ws;
    size_t at = 0;
    while (at < c.size()) {
      size_t e = c.find(' ', at);
      if (e == std::string::npos) e = c.size();
      ws.emplace_back(c.data() + at, e - at);
      at = e + 1;
    }
    const size_t len = std::min<size_t>(ws.size(), 2 + rng() % 5);
    const size_t from = rng() % (ws.size() - len + 1);
    std::string q;
    for (size_t w = 0; w < len; ++w) q.append(ws[from + w]).push_back(' ');
    texts.push_back(std::move(q));
  }
  std::vector<std::vector<std::string>> queries;
  for (const auto& t : texts) {
    std::vector<std::string> q;
    for (auto& w : ragd::analyze(t)) {
      if (std::find(q.begin(), q.end(), w) == q.end()) q.push_back(std::move(w));
    }
    if (!q.empty()) queries.push_back(std::move(q));
  }
  size_t total_terms = 0;
  for (const auto& q : queries) total_terms += q.size();
  std::printf("queries: %zu (%zu SciFact, %zu ticket titles, %zu corpus phrases; empty after analysis dropped), "
              "%.1f distinct terms each on average\n",
              queries.size(), n_scifact, n_tickets, n_phrases,
              queries.empty() ? 0.0 : static_cast<double>(total_terms) / static_cast<double>(queries.size()));
  if (queries.empty()) return 1;

  const ragd::Bm25Params params;  // the store's defaults
  Xapian::Enquire enquire(xdb);
  enquire.set_weighting_scheme(Xapian::BM25Weight(params.k1, 0, 0, params.b, 0));
  enquire.set_docid_order(Xapian::Enquire::ASCENDING);
  std::printf("BM25: k1 %.2f, b %.2f (Xapian: BM25Weight(k1, k2=0, k3=0, b, min_normlen=0))\n", params.k1, params.b);

  auto run_ragd = [&](const std::vector<std::string>& q, size_t k) { return lex.search(q, k, params, nullptr); };
  auto run_xapian = [&](const std::vector<std::string>& q, size_t k) {
    enquire.set_query(Xapian::Query(Xapian::Query::OP_OR, q.begin(), q.end()));
    return enquire.get_mset(0, static_cast<Xapian::doccount>(k));
  };

  // Warm-up (and the overlap of the top 10).
  double overlap_sum = 0;
  size_t overlap_n = 0, identical = 0;
  for (const auto& q : queries) {
    auto r = run_ragd(q, 10);
    auto x = run_xapian(q, 10);
    std::set<uint32_t> a;
    for (const auto& h : r) a.insert(h.label);
    size_t both = 0;
    for (auto it = x.begin(); it != x.end(); ++it) both += a.count(*it - 1);
    const size_t denom = std::max<size_t>(a.size(), x.size());
    if (denom == 0) continue;
    overlap_sum += static_cast<double>(both) / static_cast<double>(denom);
    ++overlap_n;
    identical += both == denom;
  }

  for (size_t k : {10u, 100u}) {
    Timing tr, tx;
    size_t sink = 0;
    for (size_t run = 0; run < runs; ++run) {
      // Interleaved per query, so a slow spell of the machine hits both.
      for (const auto& q : queries) {
        auto s = Clock::now();
        sink += run_ragd(q, k).size();
        auto m = Clock::now();
        sink += run_xapian(q, k).size();
        auto e = Clock::now();
        const double rm = std::chrono::duration<double, std::milli>(m - s).count();
        const double xm = std::chrono::duration<double, std::milli>(e - m).count();
        tr.ms.push_back(rm);
        tx.ms.push_back(xm);
        tr.total_s += rm / 1e3;
        tx.total_s += xm / 1e3;
      }
    }
    std::printf("k=%zu, %zu queries x %zu runs, single thread (%zu hits):\n", k, queries.size(), runs, sink);
    print_row("ragd", k, tr);
    print_row("Xapian", k, tx);
    std::printf("  ragd/Xapian QPS %.2fx, p99 %.2fx\n", tx.total_s / tr.total_s,
                percentile(tr.ms, 0.99) / percentile(tx.ms, 0.99));
  }
  std::printf("top-10 overlap: mean %.3f over %zu queries; identical sets for %zu (the idf formulas differ, see "
              "the header)\n",
              overlap_n ? overlap_sum / static_cast<double>(overlap_n) : 0.0, overlap_n, identical);
  fs::remove_all(xdir);
  return 0;
}
