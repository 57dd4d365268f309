#include "cluster/message.h"

#include <nlohmann/json.hpp>

namespace ragd::cluster {

using Json = nlohmann::json;

std::string encode_message(const WriteMessage& m) {
  Json j;
  if (m.remove) {
    j = Json{{"op", m.purge ? "purge" : "delete"}, {"id", m.doc.id}};
  } else {
    const Document& d = m.doc;
    Json blocks = Json::array();
    for (const auto& b : d.blocks) blocks.push_back(Json{{"section_path", b.section_path}, {"role", b.role}, {"text", b.text}});
    j = Json{{"op", "put"},         {"id", d.id},         {"title", d.title},       {"kind", d.kind},
             {"source", d.source},  {"url", d.url},       {"metadata", d.metadata}, {"acl", d.acl},
             {"created_at", d.created_at}, {"updated_at", d.updated_at}, {"text", d.text}, {"blocks", blocks}};
  }
  if (m.writer_groups) j["writer_groups"] = *m.writer_groups;
  if (m.skip_tombstoned) j["skip_tombstoned"] = true;
  // Invalid UTF-8 cannot reach here (ingest's normaliser repairs it), but
  // a replacement character is better than an exception on the write path.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<WriteMessage> decode_message(std::string_view bytes) {
  Json j = Json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::invalid_argument("stream message is not a JSON object");
  try {
    WriteMessage m;
    const std::string op = j.at("op").get<std::string>();
    m.doc.id = j.at("id").get<std::string>();
    if (auto w = j.find("writer_groups"); w != j.end()) m.writer_groups = w->get<std::vector<std::string>>();
    if (auto t = j.find("skip_tombstoned"); t != j.end()) m.skip_tombstoned = t->get<bool>();
    if (op == "delete" || op == "purge") {
      m.remove = true;
      m.purge = op == "purge";
      return m;
    }
    if (op != "put") return Status::invalid_argument("stream message has unknown op '" + op + "'");
    Document& d = m.doc;
    d.title = j.at("title").get<std::string>();
    d.kind = j.at("kind").get<std::string>();
    d.source = j.at("source").get<std::string>();
    d.url = j.at("url").get<std::string>();
    d.metadata = j.at("metadata").get<std::map<std::string, std::string>>();
    d.acl = j.at("acl").get<std::vector<std::string>>();
    d.created_at = j.at("created_at").get<int64_t>();
    d.updated_at = j.at("updated_at").get<int64_t>();
    d.text = j.at("text").get<std::string>();
    for (const auto& b : j.at("blocks")) {
      d.blocks.push_back(Block{b.at("section_path").get<std::vector<std::string>>(), b.at("role").get<std::string>(),
                               b.at("text").get<std::string>()});
    }
    return m;
  } catch (const Json::exception& e) {
    return Status::invalid_argument(std::string("stream message: ") + e.what());
  }
}

}  // namespace ragd::cluster
