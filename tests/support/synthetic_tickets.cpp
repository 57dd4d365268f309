#include "tests/support/synthetic_tickets.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>

namespace ragd::triage {
namespace {

struct Domain {
  const char* team;
  const char* category;
  std::vector<const char*> words;     // topic vocabulary
  std::vector<const char*> entities;  // hosts, apps, error codes
  const char* late;                   // a term that appears only in the newer tickets
};

const std::vector<Domain>& domains() {
  static const std::vector<Domain> d = {
      {"Network Operations", "Network", {"vpn", "wifi", "switch", "latency", "packet loss", "dns", "dhcp", "firewall port", "tunnel", "ssid"}, {"sw-core-02", "fw-edge-01", "10.20.4.1", "anyconnect"}, "zscaler"},
      {"Database Administration", "Database", {"database", "query", "deadlock", "tablespace", "replication", "backup job", "index rebuild", "sql login"}, {"srv-db01", "ORA-01555", "ORA-12541", "sqlprod03"}, "postgres 16"},
      {"Windows Server", "Infrastructure", {"server", "reboot", "patch", "disk space", "windows update", "event log", "service stopped", "rdp"}, {"win-app-07", "0x80070005", "C: drive", "KB5034441"}, "server 2022"},
      {"Linux Platform", "Infrastructure", {"linux", "cron", "ssh", "filesystem", "kernel", "systemd", "yum", "permission denied"}, {"lnx-web-12", "/var/log", "rhel8", "nfs mount"}, "rhel9"},
      {"SAP Basis", "Application", {"sap", "transport", "gui", "batch job", "short dump", "client", "logon group"}, {"SAP PRD", "ST22", "SM37", "ECC"}, "s4hana"},
      {"Identity and Access", "Access", {"access request", "ad group", "mfa", "okta", "locked account", "sso", "permissions", "role"}, {"okta verify", "AD-FIN-RW", "azure ad", "entra"}, "passkey"},
      {"Messaging", "Email", {"outlook", "mailbox", "shared mailbox", "distribution list", "calendar", "exchange", "email bounce", "quota"}, {"NDR 550 5.1.1", "owa", "exchange online", "pst"}, "new outlook"},
      {"End User Computing", "Hardware", {"laptop", "docking station", "monitor", "keyboard", "battery", "bitlocker", "imaging", "usb"}, {"latitude 7440", "thinkpad", "bitlocker recovery key", "dell dock"}, "windows 11"},
      {"Printing Services", "Hardware", {"printer", "print queue", "toner", "scanner", "paper jam", "follow me printing"}, {"prt-lds-3f", "papercut", "ricoh", "spooler"}, "universal print"},
      {"Telephony", "Telephony", {"phone", "voicemail", "headset", "call quality", "softphone", "extension", "teams calling"}, {"cisco jabber", "ext 4410", "polycom", "sip trunk"}, "teams phone"},
      {"Collaboration", "Application", {"sharepoint", "teams", "onedrive", "site permissions", "sync", "channel", "file share"}, {"sharepoint online", "onedrive sync client", "team site", "\\\\fs01\\shared"}, "copilot"},
      {"ERP Finance Apps", "Application", {"invoice", "purchase order", "cost center", "ledger", "month end", "approval workflow", "vendor master"}, {"coupa", "oracle ebs", "PO 4500012345", "GL"}, "fusion"},
      {"HR Systems", "Application", {"payroll", "workday", "timesheet", "leave request", "onboarding", "employee record", "benefits"}, {"workday", "successfactors", "kronos", "adp"}, "hr portal"},
      {"Storage and Backup", "Infrastructure", {"restore", "backup", "snapshot", "lun", "nas", "file restore", "retention", "storage array"}, {"veeam", "netapp", "commvault", "vol_fin01"}, "immutable backup"},
      {"Security Operations", "Security", {"phishing", "malware", "suspicious email", "antivirus", "quarantine", "incident", "blocked url"}, {"crowdstrike", "defender", "proofpoint", "ioc"}, "sentinel"},
      {"Cloud Platform", "Cloud", {"azure", "aws", "subscription", "vm", "resource group", "kubernetes", "pod", "terraform"}, {"aks-prod", "eks", "s3 bucket", "arm template"}, "landing zone"},
      {"Web Hosting", "Application", {"website", "ssl certificate", "iis", "load balancer", "404", "502 bad gateway", "cms", "dns record"}, {"www.corp.example.com", "f5", "nginx", "wordpress"}, "cloudflare"},
      {"Service Management Tools", "Application", {"servicenow", "catalog item", "workflow", "report", "dashboard", "form", "notification"}, {"sn instance", "RITM", "CHG", "incident form"}, "now assist"},
      {"Data and BI", "Application", {"power bi", "report refresh", "data warehouse", "etl", "dataset", "tableau", "pipeline"}, {"pbi gateway", "ssis", "snowflake", "adf"}, "fabric"},
      {"Facilities IT", "Facilities", {"meeting room", "badge", "door access", "av equipment", "projector", "room display", "cctv"}, {"crestron", "lenel", "room 3.14", "zoom rooms"}, "occupancy sensor"},
      {"Mobile Devices", "Hardware", {"iphone", "android", "intune", "mobile", "company portal", "sim", "enrolment"}, {"intune", "iphone 15", "mdm", "authenticator"}, "esim"},
      {"Software Distribution", "Software", {"install", "license", "software center", "update", "package", "uninstall", "adobe"}, {"sccm", "acrobat pro", "visio", "project"}, "winget"},
      {"Citrix and VDI", "Infrastructure", {"citrix", "virtual desktop", "receiver", "session", "published app", "storefront", "profile"}, {"citrix workspace", "vdi pool", "netscaler", "fslogix"}, "avd"},
      {"Developer Tools", "Software", {"git", "jenkins", "build", "pipeline failed", "artifactory", "merge request", "runner"}, {"gitlab", "jenkins-01", "nexus", "sonarqube"}, "github actions"},
  };
  return d;
}

const std::vector<const char*>& generic_words() {
  static const std::vector<const char*> w = {
      "password reset", "new starter", "how to", "question", "not working", "error", "slow", "access", "account",
      "login", "issue", "problem", "help", "request", "laptop", "email", "update", "cannot open", "user",
      "application", "screen", "message", "since this morning", "again", "urgent"};
  return w;
}

const char* kRegions[2][3] = {{"leeds", "frankfurt", "paris"}, {"singapore", "sydney", "tokyo"}};
const char* kNames[] = {"John", "Priya", "Mark", "Chen", "Sara", "Ahmed", "Olga", "Luis", "Emma", "Tom"};
const char* kSubjects[] = {"{t} not working", "Issue with {t}", "URGENT: {t} {e}", "pls help - {t}", "FW: {t} problem",
                           "{t} error {e}", "{e}", "cant use {t}", "Request: {t}", "RE: {t}", "{t} {t2} issue",
                           "[EXTERNAL] {t}"};
const char* kSentences[] = {"I am having a problem with {t} since this morning.",
                            "When I try {t} I get {e}.",
                            "{t} stopped working after the {t2} change.",
                            "Can you please check {t} on {e}?",
                            "Users in {r} report {t} is very slow.",
                            "This is blocking my work, {t} keeps failing.",
                            "Tried restarting but {t} still shows {e}.",
                            "Not sure who handles {t2}, raising it here.",
                            "Need help with {t} for the new project.",
                            "Colleague has the same {t} issue."};
const char* kOpenings[] = {"Hi team,", "Hello,", "Hi,", "Dear Service Desk,", "", "Good morning,"};
const char* kClosings[] = {"Thanks", "Regards", "Thank you", "BR", "Cheers", ""};
const char* kShort[][2] = {{"please", "pls"}, {"you", "u"}, {"cannot", "cant"}, {"password", "pwd"},
                           {"account", "acct"}, {"server", "srv"}, {"because", "bc"}, {"thanks", "thx"}};

struct Group {
  std::string name;
  int domain = -1;  // -1: the catch-all group
  int region = -1;  // -1: not regional; else index into kRegions
};

class Gen {
 public:
  explicit Gen(const SyntheticOptions& o) : o_(o), rng_(o.seed) {}

  std::vector<SyntheticTicket> run() {
    build_groups();
    std::vector<SyntheticTicket> out;
    std::vector<int> true_group;
    int64_t t = o_.start_time;
    for (size_t i = 0; i < o_.tickets; ++i) {
      t += static_cast<int64_t>(exp_(rng_) * 3600.0) + 1;
      double progress = static_cast<double>(i) / std::max<size_t>(1, o_.tickets);
      SyntheticTicket tk;
      int g;
      if (!out.empty() && uni_(rng_) < o_.duplicate_share) {
        size_t j = pick(std::min<size_t>(out.size(), 300));
        j = out.size() - 1 - j;
        g = true_group[j];
        tk.subject = "RE: " + typos(out[j].subject);
        tk.description = typos(out[j].description) + "\nStill happening.";
        tk.category = out[j].category;
        tk.priority = out[j].priority;
      } else {
        g = sample_group();
        compose(g, progress, tk);
      }
      true_group.push_back(g);
      int label = uni_(rng_) < o_.label_noise ? sample_group() : g;
      tk.assignment_group = groups_[label].name;
      char id[32];
      std::snprintf(id, sizeof id, "TK%07zu", i + 1);
      tk.id = id;
      tk.created_at = t;
      tk.state = uni_(rng_) < o_.open_share ? (uni_(rng_) < 0.5 ? "New" : "In Progress")
                                           : (uni_(rng_) < 0.7 ? "Closed" : "Resolved");
      tk.resolution = "Resolved by " + groups_[g].name + ": " +
                      (groups_[g].domain >= 0 ? domains()[groups_[g].domain].words[0] : "reset") +
                      " fixed, user confirmed.";
      out.push_back(std::move(tk));
    }
    return out;
  }

 private:
  void build_groups() {
    groups_.push_back({"Service Desk", -1, -1});
    const int nd = static_cast<int>(domains().size());
    const int n = std::clamp(o_.groups, 1, 2 * nd);
    for (int i = 0; i < n; ++i) {
      Group g;
      g.domain = i % nd;
      if (i >= nd) {  // a regional twin: the base team becomes EMEA, this one APAC
        g.region = 1;
        groups_[1 + g.domain].region = 0;
        groups_[1 + g.domain].name = std::string(domains()[g.domain].team) + " EMEA";
        g.name = std::string(domains()[g.domain].team) + " APAC";
      } else {
        g.name = domains()[g.domain].team;
      }
      groups_.push_back(g);
    }
    // The catch-all takes its share; the rest follow a Zipf-like curve in a
    // seeded random order.
    std::vector<double> w(groups_.size() - 1);
    for (size_t i = 0; i < w.size(); ++i) w[i] = 1.0 / std::pow(static_cast<double>(i + 1), 0.9);
    std::shuffle(w.begin(), w.end(), rng_);
    double sum = 0;
    for (double x : w) sum += x;
    weights_.push_back(o_.catch_all_share);
    for (double x : w) weights_.push_back((1 - o_.catch_all_share) * x / sum);
    dist_ = std::discrete_distribution<int>(weights_.begin(), weights_.end());
  }

  int sample_group() { return dist_(rng_); }
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <class V>
  std::string any(const V& v) {
    return v[pick(std::size(v))];
  }

  std::string topic(int domain, double progress) {
    if (domain >= 0 && uni_(rng_) < o_.signal) {
      const Domain& d = domains()[domain];
      if (progress > 0.6 && uni_(rng_) < 0.2) return d.late;
      return any(d.words);
    }
    return any(generic_words());
  }

  std::string entity(int domain) {
    if (domain >= 0 && uni_(rng_) < 0.7) return any(domains()[domain].entities);
    const auto& d = domains()[pick(domains().size())];
    return uni_(rng_) < 0.5 ? any(d.entities) : "error " + std::to_string(100 + pick(900));
  }

  void compose(int g, double progress, SyntheticTicket& tk) {
    const Group& grp = groups_[g];
    // The catch-all group gets generic requests and, often, topics of other
    // teams that the desk resolved itself.
    int dom = grp.domain;
    if (dom < 0 && uni_(rng_) < 0.35) dom = static_cast<int>(pick(domains().size()));
    int region = grp.region >= 0 ? grp.region : static_cast<int>(pick(2));
    auto fill = [&](std::string s) {
      for (const char* key : {"{t2}", "{t}", "{e}", "{r}"}) {
        for (size_t p; (p = s.find(key)) != std::string::npos;) {
          std::string v = key[1] == 'e' ? entity(dom)
                          : key[1] == 'r' ? std::string(kRegions[region][pick(3)])
                                          : topic(dom, progress);
          s.replace(p, std::string(key).size(), v);
        }
      }
      return s;
    };
    tk.subject = style(fill(any(kSubjects)));
    std::string body = any(kOpenings);
    if (!body.empty()) body += "\n\n";
    const size_t n = 1 + pick(3);
    for (size_t i = 0; i < n; ++i) body += fill(any(kSentences)) + " ";
    if (grp.region >= 0 && uni_(rng_) < 0.5) body += "Site: " + std::string(kRegions[grp.region][pick(3)]) + ". ";
    std::string closing = any(kClosings);
    if (!closing.empty()) body += "\n\n" + closing + ",\n" + any(kNames);
    if (uni_(rng_) < 0.2) body += "\nSent from my iPhone";
    if (uni_(rng_) < 0.15) body += "\n\nCAUTION: This email originated from outside the organisation.";
    tk.description = style(body);
    const auto& doms = domains();
    tk.category = uni_(rng_) < 0.8 && dom >= 0 ? doms[dom].category
                  : uni_(rng_) < 0.5          ? "Inquiry / Help"
                                              : doms[pick(doms.size())].category;
    std::string all = tk.subject + " " + tk.description;
    bool urgent = all.find("URGENT") != std::string::npos || all.find("blocking") != std::string::npos;
    double r = uni_(rng_);
    tk.priority = urgent ? (r < 0.3 ? "1 - Critical" : "2 - High")
                         : (r < 0.1 ? "2 - High" : r < 0.75 ? "3 - Moderate" : "4 - Low");
  }

  // Shorthand, casing and typos, word by word.
  std::string style(const std::string& s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      size_t j = i;
      while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
      if (j == i) {
        out += s[i++];
        continue;
      }
      std::string w = s.substr(i, j - i);
      for (const auto& sh : kShort)
        if (w == sh[0] && uni_(rng_) < 0.35) w = sh[1];
      out += typo(w);
      i = j;
    }
    return out;
  }

  std::string typos(const std::string& s) { return style(s); }

  std::string typo(std::string w) {
    if (w.size() < 4 || uni_(rng_) >= o_.typo_rate) return w;
    size_t p = 1 + pick(w.size() - 2);
    switch (pick(3)) {
      case 0: std::swap(w[p], w[p + 1 < w.size() ? p + 1 : p - 1]); break;
      case 1: w.erase(p, 1); break;
      default: w.insert(p, 1, w[p]); break;
    }
    return w;
  }

  SyntheticOptions o_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uni_{0.0, 1.0};
  std::exponential_distribution<double> exp_{1.0};
  std::vector<Group> groups_;
  std::vector<double> weights_;
  std::discrete_distribution<int> dist_;
};

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}

std::string iso_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::vector<SyntheticTicket> generate_tickets(const SyntheticOptions& o) { return Gen(o).run(); }

const char* tickets_csv_map() {
  return "id=Ticket ID,kind=Type,title=Subject,text=Body,created_at=Opened,meta:assignment_group=Assigned Team,"
         "meta:category=Category,meta:priority=Priority,meta:state=Status";
}

std::string tickets_csv(const std::vector<SyntheticTicket>& tickets) {
  std::string out = "Ticket ID,Type,Subject,Body,Assigned Team,Category,Priority,Status,Opened,Resolution Notes\n";
  for (const auto& t : tickets) {
    for (const std::string* f : {&t.id}) out += csv_cell(*f);
    out += ",ticket";
    for (const std::string* f : {&t.subject, &t.description, &t.assignment_group, &t.category, &t.priority, &t.state}) {
      out += "," + csv_cell(*f);
    }
    out += "," + iso_time(t.created_at) + "," + csv_cell(t.resolution) + "\n";
  }
  return out;
}

Document ticket_document(const SyntheticTicket& t) {
  Document d;
  d.id = t.id;
  d.kind = "ticket";
  d.source = "csv";
  d.title = t.subject;
  d.text = t.description;
  d.created_at = t.created_at;
  d.metadata = {{"assignment_group", t.assignment_group},
                {"category", t.category},
                {"priority", t.priority},
                {"state", t.state}};
  return d;
}

std::vector<LabeledTicket> synthetic_examples(const std::vector<SyntheticTicket>& tickets, const std::string& field) {
  std::vector<LabeledTicket> out;
  for (const auto& t : tickets) {
    Document d = ticket_document(t);
    if (!is_training_candidate(d, field) || is_open_state(d.metadata)) continue;
    LabeledTicket ex;
    ex.id = t.id;
    ex.text = ticket_text_of(d, false);
    ex.label = d.metadata[field];
    ex.time = t.created_at;
    out.push_back(std::move(ex));
  }
  sort_by_time(out);
  return out;
}

Status put_ticket_documents(Store& store, const std::vector<SyntheticTicket>& tickets) {
  std::vector<Document> docs;
  std::vector<std::vector<Chunk>> chunks;
  for (const auto& t : tickets) {
    docs.push_back(ticket_document(t));
    Chunk c;
    c.id = t.id + "#0";
    c.doc_id = t.id;
    c.text = t.subject + "\n" + t.description;
    chunks.push_back({c});
  }
  const std::vector<float> vec = {1, 0, 0, 0};
  for (size_t b = 0; b < docs.size(); b += 256) {
    std::vector<DocumentWrite> writes;
    for (size_t i = b; i < std::min(docs.size(), b + 256); ++i) {
      DocumentWrite w;
      w.doc = &docs[i];
      w.chunks = chunks[i];
      w.vectors = vec;
      writes.push_back(w);
    }
    for (const auto& r : store.upsert_batch(writes)) {
      if (!r.is_ok()) return r.status();
    }
  }
  return Status::ok();
}

}  // namespace ragd::triage
