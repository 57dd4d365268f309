// Generic record files: JSONL (BEIR corpus and friends) and CSV with a
// column mapping.
#include "connectors/json_fields.h"

namespace ragd::connectors {

void map_generic(const json& /*rec*/, RecordReader& r, Document& doc, const FileInput& in,
                 const std::string& default_source) {
  doc.id = r.str("_id");
  if (doc.id.empty()) doc.id = r.str("id", true);
  doc.title = r.str("title");
  doc.text = r.str("text");
  doc.kind = to_lower(r.str("kind"));
  doc.source = r.str("source");
  doc.url = r.str("url");
  doc.acl = r.list("acl");
  doc.created_at = r.time("created_at");
  doc.updated_at = r.time("updated_at");
  if (const json* meta = r.object("metadata")) {
    for (auto it = meta->begin(); it != meta->end(); ++it) {
      const json& v = it.value();
      if (v.is_null()) continue;
      if (v.is_string()) doc.metadata[it.key()] = v.get<std::string>();
      else if (v.is_number() || v.is_boolean()) doc.metadata[it.key()] = v.dump();
      else if (v.is_array()) {
        std::vector<std::string> items;
        for (const json& x : v) items.push_back(x.is_string() ? x.get<std::string>() : x.dump());
        doc.metadata[it.key()] = join(items, ",");
      } else {
        r.fail("metadata '" + it.key() + "' is an object");
      }
    }
  }
  if (const json* blocks = r.array("blocks")) {
    for (const json& b : *blocks) {
      if (!b.is_object()) { r.fail("a block is not an object"); break; }
      RecordReader br(b);
      Block block;
      block.text = br.str("text");
      std::string role = br.str("role");
      if (!role.empty()) block.role = role;
      block.section_path = br.list("section_path");
      if (!br.error().empty()) { r.fail("block: " + br.error()); break; }
      doc.blocks.push_back(std::move(block));
    }
  }
  if (doc.text.empty() && doc.blocks.empty() && doc.title.empty()) r.fail("no 'text', 'title' or 'blocks'");
  if (doc.kind.empty()) doc.kind = in.kind_hint.empty() ? "document" : in.kind_hint;
  if (doc.source.empty()) doc.source = default_source;
}

Status parse_jsonl(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a JSONL file; skipped");
  size_t pos = 0, line_no = 0;
  std::string_view all = in.bytes;
  while (pos < all.size()) {
    size_t nl = all.find('\n', pos);
    std::string_view line = all.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? all.size() : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty()) continue;
    const std::string where = in.name + ": line " + std::to_string(line_no);
    json rec;
    try {
      rec = json::parse(line.begin(), line.end());
    } catch (const json::parse_error& e) {
      in.error(Status::invalid_argument(where + ": invalid JSON at byte " + std::to_string(e.byte)));
      continue;
    } catch (const json::out_of_range&) {  // 1e400: nlohmann's overflow is not a parse_error
      in.error(Status::invalid_argument(where + ": a number is out of range (larger than a 64-bit float)"));
      continue;
    }
    if (!rec.is_object()) {
      in.error(Status::invalid_argument(where + ": not a JSON object"));
      continue;
    }
    Document doc;
    RecordReader r(rec);
    map_generic(rec, r, doc, in, "jsonl");
    if (!r.error().empty()) {
      in.error(Status::invalid_argument(where + (doc.id.empty() ? "" : " (" + doc.id + ")") + ": " + r.error()));
      continue;
    }
    doc.origin = in.name + " line " + std::to_string(line_no);
    in.emit(std::move(doc));
  }
  return Status::ok();
}

namespace {

struct CsvRow {
  size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> cells;
};

// RFC 4180: comma separated, "quoted" fields with "" escapes and line breaks.
// Returns false with `error` set when the input ends inside a quoted field.
bool read_csv(std::string_view s, std::vector<CsvRow>& rows, std::string& error) {
  size_t i = 0, line = 1;
  if (s.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < s.size()) {
    CsvRow row;
    row.line = line;
    std::string cell;
    bool row_done = false;
    while (!row_done) {
      cell.clear();
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (true) {
          if (i >= s.size()) {
            error = "row starting at line " + std::to_string(row.line) + ": unterminated quoted field";
            return false;
          }
          char c = s[i++];
          if (c == '"') {
            if (i < s.size() && s[i] == '"') { cell += '"'; ++i; }
            else break;
          } else {
            if (c == '\n') ++line;
            cell += c;
          }
        }
        while (i < s.size() && s[i] != ',' && s[i] != '\n' && s[i] != '\r') cell += s[i++];  // lenient
      } else {
        while (i < s.size() && s[i] != ',' && s[i] != '\n' && s[i] != '\r') cell += s[i++];
      }
      row.cells.push_back(cell);
      if (i >= s.size()) {
        row_done = true;
      } else if (s[i] == ',') {
        ++i;
      } else {
        if (s[i] == '\r') ++i;
        if (i < s.size() && s[i] == '\n') ++i;
        ++line;
        row_done = true;
      }
    }
    bool blank = row.cells.size() == 1 && trim(row.cells[0]).empty();
    if (!blank) rows.push_back(std::move(row));
  }
  return true;
}

}  // namespace

Status parse_csv(const FileInput& in) {
  if (looks_binary(in.bytes)) return Status::invalid_argument("binary content in a CSV file; skipped");
  std::vector<CsvRow> rows;
  std::string error;
  bool complete = read_csv(in.bytes, rows, error);
  if (!complete) in.error(Status::invalid_argument(in.name + ": " + error));
  if (rows.empty()) return complete ? Status::invalid_argument("empty CSV file") : Status::ok();
  std::vector<std::string> header;
  for (const auto& h : rows[0].cells) header.push_back(to_lower(trim(h)));
  auto column = [&](const std::string& name) -> int {
    std::string n = to_lower(trim(name));
    for (size_t c = 0; c < header.size(); ++c)
      if (header[c] == n) return static_cast<int>(c);
    return -1;
  };
  const auto& mapping = in.options->csv_columns;
  for (const auto& [field, col] : mapping) {
    for (const auto& part : split_list(col)) {
      if (column(part) < 0)
        return Status::invalid_argument("column '" + part + "' (for field '" + field + "') is not in the header");
    }
  }
  // ServiceNow's CSV export of the incident table maps like its JSON.
  const bool servicenow = mapping.empty() && column("number") >= 0 && column("short_description") >= 0;

  // field -> columns (several columns of "text" are joined as paragraphs).
  static const char* kFields[] = {"id", "title", "text", "kind", "url", "acl", "updated_at", "created_at", "source"};
  std::map<std::string, std::vector<int>> fields;
  std::vector<bool> used(header.size(), false);
  for (const char* f : kFields) {
    auto it = mapping.find(f);
    std::vector<std::string> cols = it != mapping.end() ? split_list(it->second) : std::vector<std::string>{f};
    if (it == mapping.end() && std::string_view(f) == "id" && column("id") < 0) cols = {"_id"};
    for (const auto& c : cols) {
      int idx = column(c);
      if (idx >= 0) { fields[f].push_back(idx); used[idx] = true; }
    }
  }
  std::vector<std::pair<std::string, int>> meta;
  for (const auto& [field, col] : mapping) {
    if (field.rfind("meta:", 0) == 0) {
      int idx = column(col);
      meta.emplace_back(field.substr(5), idx);
      used[idx] = true;
    }
  }
  if (mapping.empty()) {
    for (size_t c = 0; c < header.size(); ++c)
      if (!used[c] && !header[c].empty()) meta.emplace_back(header[c], static_cast<int>(c));
  }
  if (!servicenow && fields["id"].empty()) return Status::invalid_argument("no id column (map one with csv_columns[\"id\"])");

  for (size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    const std::string where = in.name + ": row " + std::to_string(r) + " (line " + std::to_string(row.line) + ")";
    if (row.cells.size() != header.size()) {
      in.error(Status::invalid_argument(where + ": " + std::to_string(row.cells.size()) + " fields, header has " +
                                        std::to_string(header.size())));
      continue;
    }
    Document doc;
    if (servicenow) {
      json rec = json::object();
      for (size_t c = 0; c < header.size(); ++c) rec[header[c]] = row.cells[c];
      RecordReader rr(rec);
      map_servicenow(rec, rr, doc, in);
      if (!rr.error().empty()) {
        in.error(Status::invalid_argument(where + ": " + rr.error()));
        continue;
      }
    } else {
      auto get = [&](const char* f, const char* sep = " ") {
        std::string out;
        for (int c : fields[f]) {
          std::string_view v = trim(row.cells[c]);
          if (v.empty()) continue;
          if (!out.empty()) out += sep;
          out += v;
        }
        return out;
      };
      doc.id = get("id");
      if (doc.id.empty()) {
        in.error(Status::invalid_argument(where + ": empty id"));
        continue;
      }
      doc.title = get("title");
      doc.text = get("text", "\n\n");
      doc.kind = to_lower(get("kind"));
      doc.url = get("url");
      doc.source = get("source");
      doc.acl = split_list(get("acl", ","));
      std::string bad;
      for (const char* tf : {"updated_at", "created_at"}) {
        std::string v = get(tf);
        if (v.empty()) continue;
        auto t = parse_timestamp(v);
        if (!t) { bad = std::string("'") + tf + "' is not a timestamp: \"" + v.substr(0, 40) + "\""; break; }
        (std::string_view(tf) == "updated_at" ? doc.updated_at : doc.created_at) = *t;
      }
      if (!bad.empty()) {
        in.error(Status::invalid_argument(where + " (" + doc.id + "): " + bad));
        continue;
      }
      for (const auto& [name, c] : meta) {
        std::string_view v = trim(row.cells[c]);
        if (!v.empty()) doc.metadata[name] = std::string(v);
      }
      if (doc.kind.empty()) doc.kind = in.kind_hint.empty() ? "document" : in.kind_hint;
      if (doc.source.empty()) doc.source = "csv";
    }
    doc.origin = in.name + " row " + std::to_string(r);
    in.emit(std::move(doc));
  }
  return Status::ok();
}

}  // namespace ragd::connectors
