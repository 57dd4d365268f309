// A seeded generator of realistic help-desk tickets for developing and
// testing the triage models (never for tuning them: real desks differ).
// Dozens of assignment groups, one catch-all group taking about 45%, groups
// that share vocabulary (regional twins of one team), shorthand, typos,
// templated mails, duplicates and mislabelled tickets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "index/store.h"
#include "ragd/document.h"
#include "ragd/status.h"
#include "triage/dataset.h"

namespace ragd::triage {

struct SyntheticOptions {
  // Tickets to write. Default: 8000.
  size_t tickets = 8000;
  // Assignment groups besides the catch-all one (at most 48). Default: 40.
  int groups = 40;
  // Share of tickets the catch-all group ("Service Desk") takes. Default: 0.45.
  double catch_all_share = 0.45;
  // Share of tickets whose group is replaced by a random one. Default: 0.12.
  double label_noise = 0.12;
  // Share of tickets that repeat an earlier one (reworded). Default: 0.05.
  double duplicate_share = 0.05;
  // Chance that a word gets a typo. Default: 0.04.
  double typo_rate = 0.04;
  // Share of tickets still open (New / In Progress). Default: 0.03.
  double open_share = 0.03;
  // How many of a ticket's topic words come from its own group rather than
  // the generic desk vocabulary, 0..1: the learnable signal. Default: 0.6.
  double signal = 0.6;
  // Seed of everything. Default: 7.
  uint64_t seed = 7;
  // created_at of the first ticket (unix seconds); tickets follow every
  // hour on average. Default: 2024-01-01.
  int64_t start_time = 1704067200;
};

struct SyntheticTicket {
  std::string id, subject, description;
  std::string assignment_group, category, priority, state;
  std::string resolution;  // close notes: must never reach the features
  int64_t created_at = 0;
};

std::vector<SyntheticTicket> generate_tickets(const SyntheticOptions& o);

// CSV with the header
//   Ticket ID,Type,Subject,Body,Assigned Team,Category,Priority,Status,Opened,Resolution Notes
// read by: ragd ingest FILE --csv-map "id=Ticket ID,kind=Type,title=Subject,text=Body,
//   created_at=Opened,meta:assignment_group=Assigned Team,meta:category=Category,
//   meta:priority=Priority,meta:state=Status"
std::string tickets_csv(const std::vector<SyntheticTicket>& tickets);
// The --csv-map value for tickets_csv().
const char* tickets_csv_map();

// The ticket as the CSV connector with that mapping would produce it.
Document ticket_document(const SyntheticTicket& t);
// Stores the tickets' documents (one chunk each, a constant 4-d vector:
// triage reads text and metadata only). REQUIRES: the store is bound to an
// encoder of dimension 4.
Status put_ticket_documents(Store& store, const std::vector<SyntheticTicket>& tickets);
// Closed tickets as training examples of `field` (assignment_group,
// category or priority), in time order.
std::vector<LabeledTicket> synthetic_examples(const std::vector<SyntheticTicket>& tickets,
                                              const std::string& field = "assignment_group");

}  // namespace ragd::triage
