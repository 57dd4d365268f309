// The training examples of a triage field: the tickets in the store that
// carry it, in time order, with agents' corrections (feedback) applied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index/store.h"
#include "ragd/document.h"
#include "ragd/status.h"
#include "triage/features.h"

namespace ragd::triage {

struct LabeledTicket {
  std::string id;
  TicketText text;
  std::string label;
  int64_t time = 0;  // created_at, else updated_at, else 0 (then id order)
};

struct DatasetStats {
  size_t documents = 0;        // documents visited
  size_t with_field = 0;       // tickets carrying the field
  size_t skipped_open = 0;     // left out: still open (new, in progress, ...)
  size_t feedback_applied = 0; // labels replaced by an agent's correction
  int64_t oldest = 0, newest = 0;
};

// True when a ticket's state says it is still being worked on (ServiceNow
// New/In Progress/On Hold and their codes 1-3, Jira To Do/In Progress,
// Zendesk new/open/pending/hold). An absent state counts as closed, as in a
// plain CSV export.
bool is_open_state(const std::map<std::string, std::string>& metadata);

// The triage view of a stored ticket: subject and description (the
// "problem" block of a connector's ticket, else title and text with any
// "Resolution:" tail cut off), never the resolution or close notes, plus
// the first comment when `first_comment`.
TicketText ticket_text_of(const Document& doc, bool first_comment);

// A document is a triage example when it carries `field` and is not a
// runbook or policy (a CSV export ingests as kind "document" unless a kind
// column says "ticket").
bool is_training_candidate(const Document& doc, const std::string& field);

// Every example of `field` in the store, sorted by (time, id). Feedback
// records under state keys "ticket_feedback/" ({"ticket_id","field","value",
// "ts"}) override the stored value; the newest one per ticket wins.
Result<std::vector<LabeledTicket>> load_examples(const Store& store, const std::string& field, bool first_comment,
                                                 DatasetStats* stats);

// Sorts examples by (time, id): the order every split follows.
void sort_by_time(std::vector<LabeledTicket>& examples);

}  // namespace ragd::triage
