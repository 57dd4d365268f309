#include "triage/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <map>

namespace ragd::triage {
namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

struct Feedback {
  std::string value;
  int64_t ts = 0;
};

// ticket id -> newest correction of `field`.
Result<std::map<std::string, Feedback>> load_feedback(const Store& store, const std::string& field) {
  auto recs = store.list_state("ticket_feedback/", 1000000);
  if (!recs.is_ok()) return recs.status().with_context("reading ticket feedback");
  std::map<std::string, Feedback> out;
  for (const auto& [key, value] : *recs) {
    auto j = nlohmann::json::parse(value, nullptr, false);
    if (!j.is_object()) continue;  // another record shape: not a label correction
    auto str = [&](const char* k) {
      auto it = j.find(k);
      return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (str("field") != field) continue;
    std::string id = str("ticket_id"), v = str("value");
    if (id.empty() || v.empty()) continue;
    int64_t ts = 0;
    if (auto it = j.find("ts"); it != j.end() && it->is_number()) ts = it->get<int64_t>();
    auto& f = out[id];
    if (f.value.empty() || ts >= f.ts) f = {v, ts};
  }
  return out;
}

}  // namespace

bool is_open_state(const std::map<std::string, std::string>& metadata) {
  static const char* kOpen[] = {"new", "open", "in progress", "in_progress", "active", "on hold", "hold",
                                "pending", "assigned", "work in progress", "to do", "todo", "awaiting info",
                                "1", "2", "3"};
  for (const char* key : {"state", "incident_state", "status"}) {
    auto it = metadata.find(key);
    if (it == metadata.end()) continue;
    std::string v = lower(it->second);
    for (const char* o : kOpen)
      if (v == o) return true;
  }
  return false;
}

TicketText ticket_text_of(const Document& doc, bool first_comment) {
  TicketText t;
  t.fields = doc.metadata;
  const Block* problem = nullptr;
  const Block* comment = nullptr;
  for (const auto& b : doc.blocks) {
    if (b.role == "problem" && !problem) problem = &b;
    if (b.role == "comment" && !comment) comment = &b;
  }
  if (problem) {
    t.description = problem->text;  // the connector put the subject first
  } else {
    t.subject = doc.title;
    std::string text = doc.text;
    for (const char* cut : {"Resolution:", "RESOLUTION:", "Close notes:", "Resolved:"}) {
      auto p = text.find(cut);
      if (p != std::string::npos) text.resize(p);
    }
    t.description = std::move(text);
  }
  if (first_comment && comment) t.description += "\n\n" + comment->text;
  return t;
}

bool is_training_candidate(const Document& doc, const std::string& field) {
  if (doc.kind == "runbook" || doc.kind == "policy") return false;
  auto it = doc.metadata.find(field);
  return it != doc.metadata.end() && !it->second.empty();
}

void sort_by_time(std::vector<LabeledTicket>& examples) {
  std::stable_sort(examples.begin(), examples.end(), [](const LabeledTicket& a, const LabeledTicket& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
}

Result<std::vector<LabeledTicket>> load_examples(const Store& store, const std::string& field, bool first_comment,
                                                 DatasetStats* stats) {
  DatasetStats st;
  auto feedback = load_feedback(store, field);
  if (!feedback.is_ok()) return feedback.status();
  std::vector<std::string> ids;
  store.for_each_document([&](const std::string& id) { ids.push_back(id); });
  std::vector<LabeledTicket> out;
  for (const auto& id : ids) {
    auto doc = store.get_document(id);
    if (!doc.is_ok()) {
      if (doc.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
      return doc.status().with_context("reading ticket " + id);
    }
    ++st.documents;
    auto fb = feedback->find(id);
    if (!is_training_candidate(*doc, field) && fb == feedback->end()) continue;
    if (doc->kind == "runbook" || doc->kind == "policy") continue;
    ++st.with_field;
    if (is_open_state(doc->metadata)) {
      ++st.skipped_open;
      continue;
    }
    LabeledTicket ex;
    ex.id = id;
    ex.text = ticket_text_of(*doc, first_comment);
    auto it = doc->metadata.find(field);
    ex.label = it != doc->metadata.end() ? it->second : "";
    if (fb != feedback->end() && fb->second.value != ex.label) {
      ex.label = fb->second.value;
      ++st.feedback_applied;
    }
    ex.time = doc->created_at ? doc->created_at : doc->updated_at;
    out.push_back(std::move(ex));
  }
  sort_by_time(out);
  for (const auto& e : out) {
    if (e.time == 0) continue;
    if (st.oldest == 0 || e.time < st.oldest) st.oldest = e.time;
    st.newest = std::max(st.newest, e.time);
  }
  if (stats) *stats = st;
  return out;
}

}  // namespace ragd::triage
