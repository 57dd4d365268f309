#include "connectors/json_fields.h"

namespace ragd::connectors {

std::optional<std::string> ref_text(const json& obj) {
  if (!obj.is_object()) return std::nullopt;
  for (const char* k : {"display_value", "name", "displayName", "value"}) {
    auto it = obj.find(k);
    if (it == obj.end()) continue;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number()) return it->dump();
  }
  return std::nullopt;
}

std::string RecordReader::scalar(const json& parent, const char* key, const std::string& what, bool required) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (required) fail("missing field '" + what + "'");
    return "";
  }
  const json& v = *it;
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned() || v.is_number_float()) return v.dump();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_object()) {
    if (auto t = ref_text(v)) return *t;
    fail("'" + what + "' is an object without display_value, name or value");
    return "";
  }
  fail("'" + what + "' is not a string");
  return "";
}

std::vector<std::string> RecordReader::list(const char* key) {
  std::vector<std::string> out;
  auto it = rec_.find(key);
  if (it == rec_.end() || it->is_null()) return out;
  if (it->is_string()) return split_list(it->get<std::string>());
  if (!it->is_array()) {
    fail(std::string("'") + key + "' is not a list");
    return out;
  }
  for (const json& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
    else if (v.is_number()) out.push_back(v.dump());
    else if (auto t = ref_text(v)) out.push_back(*t);
    else fail(std::string("'") + key + "' holds an item that is not a string");
  }
  return out;
}

int64_t RecordReader::time(const char* key) {
  auto it = rec_.find(key);
  if (it == rec_.end() || it->is_null()) return 0;
  if (it->is_number_integer() || it->is_number_unsigned()) {
    int64_t v = it->get<int64_t>();
    return v > 100000000000LL ? v / 1000 : v;
  }
  std::string s = scalar(rec_, key, key, false);
  if (s.empty()) return 0;
  if (auto t = parse_timestamp(s)) return *t;
  fail(std::string("'") + key + "' is not a timestamp: \"" + s.substr(0, 40) + "\"");
  return 0;
}

const json* RecordReader::object(const char* key) {
  auto it = rec_.find(key);
  if (it == rec_.end() || it->is_null()) return nullptr;
  if (!it->is_object()) {
    fail(std::string("'") + key + "' is not an object");
    return nullptr;
  }
  return &*it;
}

const json* RecordReader::array(const char* key) {
  auto it = rec_.find(key);
  if (it == rec_.end() || it->is_null()) return nullptr;
  if (!it->is_array()) {
    fail(std::string("'") + key + "' is not an array");
    return nullptr;
  }
  return &*it;
}

namespace {

std::string attr_string(const json& node, const char* key) {
  auto a = node.find("attrs");
  if (a == node.end() || !a->is_object()) return "";
  auto v = a->find(key);
  if (v == a->end()) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number()) return v->dump();
  return "";
}

void adf_walk(const json& node, std::string& out, int depth);

void adf_children(const json& node, std::string& out, int depth) {
  auto c = node.find("content");
  if (c == node.end() || !c->is_array()) return;
  for (const json& child : *c) adf_walk(child, out, depth + 1);
}

void ensure_para(std::string& out) {
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.empty() || out.ends_with("\n\n")) return;
  out += out.back() == '\n' ? "\n" : "\n\n";
}

void adf_walk(const json& node, std::string& out, int depth) {
  if (depth > 64) return;  // hostile nesting: stop rather than overflow the stack
  if (node.is_string()) { out += node.get<std::string>(); return; }
  if (!node.is_object()) return;
  auto t = node.find("type");
  const std::string type = (t != node.end() && t->is_string()) ? t->get<std::string>() : "";
  if (type == "text") {
    auto x = node.find("text");
    if (x != node.end() && x->is_string()) out += x->get<std::string>();
  } else if (type == "hardBreak") {
    out += '\n';
  } else if (type == "mention" || type == "status") {
    out += attr_string(node, "text");
  } else if (type == "emoji") {
    std::string e = attr_string(node, "text");
    out += e.empty() ? attr_string(node, "shortName") : e;
  } else if (type == "inlineCard" || type == "blockCard") {
    out += attr_string(node, "url");
  } else if (type == "date") {
    out += attr_string(node, "timestamp");
  } else if (type == "media" || type == "mediaSingle" || type == "mediaGroup") {
    // no text
  } else if (type == "rule") {
    ensure_para(out);
  } else if (type == "bulletList" || type == "orderedList") {
    ensure_para(out);
    auto c = node.find("content");
    int n = 0;
    if (c != node.end() && c->is_array()) {
      for (const json& item : *c) {
        std::string text;
        adf_children(item, text, depth + 1);
        std::string_view tt = trim(text);
        if (tt.empty()) continue;
        out += type == "orderedList" ? std::to_string(++n) + ". " : "- ";
        out += tt;
        out += '\n';
      }
    }
    ensure_para(out);
  } else if (type == "tableRow") {
    auto c = node.find("content");
    std::string row;
    if (c != node.end() && c->is_array()) {
      for (const json& cell : *c) {
        std::string text;
        adf_children(cell, text, depth + 1);
        if (!row.empty()) row += " | ";
        row += trim(text);
      }
    }
    out += row;
    out += '\n';
  } else {
    // doc, paragraph, heading, codeBlock, blockquote, panel, table, ...
    bool block = type == "paragraph" || type == "heading" || type == "codeBlock" || type == "blockquote" ||
                 type == "panel" || type == "table" || type == "expand";
    if (block) ensure_para(out);
    adf_children(node, out, depth);
    if (block) ensure_para(out);
  }
}

}  // namespace

std::string adf_to_text(const json& node) {
  std::string out;
  adf_walk(node, out, 0);
  return std::string(trim(out));
}

void add_ticket_blocks(Document& doc, const std::string& subject, const std::string& description,
                       const std::string& resolution, std::vector<std::string> comments) {
  Block problem;
  problem.role = "problem";
  problem.text = subject;
  std::string_view d = trim(description);
  if (!d.empty() && d != trim(subject)) {
    problem.text += "\n\n";
    problem.text += d;
  }
  doc.blocks.push_back(std::move(problem));
  if (!trim(resolution).empty()) {
    Block r;
    r.role = "resolution";
    r.text = std::string(trim(resolution));
    doc.blocks.push_back(std::move(r));
  }
  for (auto& c : comments) {
    if (trim(c).empty()) continue;
    Block b;
    b.role = "comment";
    b.text = std::move(c);
    doc.blocks.push_back(std::move(b));
  }
}

}  // namespace ragd::connectors
