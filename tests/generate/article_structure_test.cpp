// Knowledge articles whose Symptoms and Cause sections are a line each
// (the Microsoft KB shape: Symptoms, Cause, Resolution). The chunker merges
// sections too short to stand alone into the next one, so one chunk holds
// all three under the path "... > Resolution"; the headings it keeps in the
// text (ragd/chunk_text.h) let the answerer quote the fix steps alone for a
// fix question, and the cause for a cause question. And a FAQ, whose
// sections each have a topic of their own. Ingested through the real
// pipeline with the real GloVe vectors and the shipped options.
#include "tests/generate/docs_fixture.h"

namespace ragd {
namespace {

constexpr const char* kArticle = R"(# Outlook cannot open the set of folders

## Symptoms

Outlook does not start.

## Cause

The OST file is damaged.

## Resolution

1. Close Outlook and open Control Panel > Mail > Show Profiles.
2. Add a new mail profile and set it as the default profile.
3. Start Outlook again; it downloads the mailbox into a new OST file.
)";

// A FAQ: every section has a topic of its own, and the one whose heading
// asks for a fix is not the fix of every question the FAQ's hits touch.
constexpr const char* kFaq = R"(# Cluster FAQ

## Why does a new member fail to join?

A new member fails to join when its peer URL cannot be reached from the other members, or when it starts with the
state "new" instead of "existing". Start it again with the state "existing" after the member add command.

## What does "database space exceeded" mean and how do I fix it?

The store raises a space alarm when its database file reaches the quota, and refuses writes until it is cleared. To
recover from the alarm:

1. Compact the key history.
2. Defragment every endpoint.
3. Disarm the alarm.

## How do I add a member to a running cluster?

Run the member add command on an existing member with the new member's name and peer URL. Then start the new member
with the initial cluster state set to existing, and check the member list.
)";

// An administration guide: its procedures are named after their tasks, and
// none of its headings says "fix" or "resolution".
constexpr const char* kGuide = R"(# Runtime reconfiguration

Members can be added, removed and updated while the cluster serves requests.

## Remove a member

Removing a member takes one command on any healthy member:

```
$ memberctl remove 8211f1d0f64f3269
```

The removed member stops itself and logs the removal.

## Replace a failed disk

Stop the member, mount the new disk at the data directory, restore the latest snapshot into it and start the
member again; it catches up from the leader.
)";

// A setting described in running text, its command after a sentence that
// introduces it.
constexpr const char* kAudit = R"(# Audit trail

## Settings

The audit trail is off on a new server. Switch the audit trail on with:

```
auditctl trail --on --all-users
```

Entries are kept in the audit database and rotate every night.

## Memory

Trailkeeper keeps its index in memory, and its speed depends on having enough memory. It caches every open
session. Typically 12 GB is enough for a desk of five hundred agents.

## Meetings

The ROC meets on the first Monday of every month and archives the trail of the month before.

## Flags

### --trail-retention

+ Days an audit trail entry is kept before it is purged.
+ default: 90
+ env variable: TRAIL_RETENTION_DAYS

### --trail-dir

+ Directory where the audit trail files are written.
+ default: "/var/lib/trail"
)";

// A product manual without a fix section: facts that lean on the sentence or
// list before them, and a problem described before what to do about it.
constexpr const char* kManual = R"(# Trailkeeper manual

## Storage engine

Trailkeeper keeps its records in a separate key-value engine, ledgerdb. This provides crash-safe writes and
snapshots without a global lock.

## Start-up

At start-up `~/.config/trail/main.toml` is read; it is created on the first sign-in.

The older per-operator settings file is also read, if it exists: `~/.trailrc`.

## Supported platforms

- Debian 12 and Rocky Linux 9.
- x86-64 and arm64 processors.

Trailkeeper is tested on each of the platforms listed above. Other platforms may work but are not supported.

## Signed exports

Trailkeeper can sign its exports with the host's key store. Signing needs a recent kernel and the signing helper.

- Linux 6.1 or newer.
- trailsign 2 or newer.

## Linker cache

After an upgrade the linker cache may be stale. If you later get a message like:

```
trailctl: error while loading shared libraries: libtrail.so.2
```

then the cache must be rebuilt. As root, run:

```
ldconfig /opt/trail/lib
```

## Verified imports

- Use Trailkeeper 5.2 or newer.
- Install the keyring-bridge package, so that trailctl verifies signatures with the system keyring.

## Store connection

trailctl reaches the store over its local socket, whose path main.toml sets. Every request carries the operator's
token, and the store logs each request it refuses with the token's owner. Requests from one operator are served in
the order they were sent. When the store is busy, trailctl waits for it to answer before it gives up and reports the
store as down. Setting the wait to 0 waits forever. The default is 30 seconds. A store that was reported as down is
tried again at the next request.

## Exit status

trailctl returns 0 when the store answered, 1 when the store refused the request, and 2 when the store did not answer.

## Agent sign-in

Trailkeeper checks the sign-in of every agent against the directory before it opens a session, and locks an agent
out after five failures. Kerberos is the default.

## Storage format

Trailkeeper compresses archived trails with the default codec of its build. Archives can be repacked later with
trailctl pack. Older archives keep the codec they were written with. On every platform the default is Zstandard.

## Stale exports

In some cases the export cache is undesirable. When a report was first exported without its charts, the cached
plain export is served again even after the chart renderer is installed. The recommended approach is to export
from the report source instead of the cache. This usually means running:

```
trailctl export --from-source monthly.rpt
```
)";

// A command's reference page: a synopsis of code spans, then one section
// per option, named after the option (the shape of man pages and of
// PostgreSQL's and Sphinx's option lists).
constexpr const char* kCommand = R"(# vaultctl

## Synopsis

`vaultctl` `seal` [`-D` `dir`] [`-m` `g[raceful]` | `a[bort]`] [`-w` `seconds`]

`vaultctl` `snapshot` [`-D` `dir`] [`-l` `label`]

## Description

vaultctl seals, unseals and snapshots a Vault-like secret store from the command line. It talks to the store over
its local socket. vaultctl seals the store and returns a nonzero exit status when the store cannot be sealed.
Local operators sign in to vaultctl with the authentication method their store was set up with.

## Options

### -m mode, --mode=mode

Selects how the store is sealed. graceful waits for open sessions to finish; abort closes them at once and may lose
writes in flight. The mode can be graceful or abort, or the first letter of either. If this option is omitted,
graceful is used.

### -l label, --label=label

Names the snapshot in the catalogue of snapshots. If none is specified, "vaultctl snapshot" is given.

### -A method, --auth=method

This option specifies the default authentication method for local operators. Do not use peer unless every local
account is trusted. Password is the default for new stores.

### -w seconds, --wait=seconds

How long vaultctl waits for the store to answer before it gives up.
)";

// Parallel instructions per operating system, as tabs write them: a label
// line, then the variant.
constexpr const char* kClient = R"(# Agent configuration

## Configuration file

The agent reads one configuration file per user. Its place depends on the operating system.

Windows:

The per-user configuration file is `%APPDATA%\agent\agent.ini`.

MacOS:

The per-user configuration file is `~/Library/Preferences/agent/agent.conf`.

Unix:

The per-user configuration file is `~/.config/agent/agent.conf`.

## Cache

The agent caches the policy bundles and inventory results it downloads, so that it does not fetch them twice. A
cached bundle is used until the server publishes a newer one.

### Cache location

Unix:

```
~/.cache/agent
```

Windows:

```
%LOCALAPPDATA%\agent\Cache
```

## Proxy

Unix:

The agent reads its proxy from the HTTPS_PROXY variable of the session that starts it.

Windows:

The agent reads its proxy from the system settings of the machine. It follows the settings that Group Policy
pushes, and it picks up a change within a minute without a restart. A proxy auto-configuration script is honoured
when the system settings name one. Connections to the management server are retried every thirty seconds while the
proxy is unreachable. The agent logs each retry in the event log under the source AgentService, with the proxy's
address and the error the system reported. Administrators can exempt internal addresses with the bypass list of the
system settings, which the agent honours as well. Traffic to the update service goes through the same proxy unless
the update service is on the bypass list. The proxy's certificate must be trusted by the machine store, or the
agent stops with a certificate error at the next connection. When the machine is off the corporate network the
agent connects directly and goes back to the proxy as soon as the system settings change again. A proxy that needs
a password has it stored in the Credential Manager under the name agent-proxy.
)";

// Variants per system as sections of their own.
constexpr const char* kMonitoring = R"(# Monitoring agent service

## Installing the service

### Windows

Install the monitoring agent's service from an elevated prompt, then start it and set it to start with the machine:

```
sc.exe create monagent binPath= "C:\\Program Files\\monagent\\monagent.exe" start= auto
```

### Linux

Install the monitoring agent's service with the package, then enable it so that it starts with the machine and
start it at once:

```
systemctl enable --now monagent
```
)";

// A reference page whose prose repeats more of a question's words than the
// option entry that answers it.
constexpr const char* kDaemon = R"(# cachectl

## Description

cachectl starts, stops and inspects a local cache daemon. When the daemon is stopped, cachectl waits until every
client has been disconnected, and gives up waiting once the disconnect timeout has passed, reporting the daemon as
still running.

## Options

### -t seconds, --timeout=seconds

The longest time to wait for the clients to go. The default is 60.

### -q, --quiet

Prints nothing but errors.
)";

// A guide whose many sections repeat the question's words, and whose fix
// is in a short section worded otherwise ("Removing the cache").
constexpr const char* kSpool = R"(# Spool caching

## What is cached

The spooler keeps cached spool files of every print job in its spool cache, so that a reprint does not render the
job again. Cached spool files are kept per printer, and each printer has its own part of the spool cache. A job
that prints twice reads its cached spool files the second time instead of rendering the document again. Large jobs
gain the most: a two hundred page report takes minutes to render and seconds to read from the spool cache. Small
jobs gain little, and their cached spool files take little room.

## Cached spool files and reprints

A reprint uses the cached spool files of the job when they are still in the spool cache. Cached spool files of a
job that was cancelled are not used for reprints. A reprint from another workstation also uses the cached spool
files, as long as the job was sent to the same printer. When the printer's driver changed since the job was
printed, the cached spool files are ignored and the job is rendered again, because the old files would not match
the new driver.

## Where the spool cache is

The spool cache is a directory of cached spool files under the spooler's data directory, one file per job and one
directory per printer. The files are named after the job number and the printer. Moving the data directory moves
the spool cache with it. Backups may leave the spool cache out: cached spool files are made again whenever a job is
rendered, and nothing in them is needed to restore the spooler.

## Avoiding the spool cache

Some printers need every job rendered again, such as label printers whose templates change during the day. Set
render_always for them, and their cached spool files are never used, though the files are still written to the
spool cache. Jobs that hold personal data can be sent with the no_cache flag, and then no cached spool files are
written for them at all, and a reprint renders the job again from the document.

## Spool cache statistics

spoolctl stats shows how many cached spool files the spool cache holds, and their total size per printer. It also
shows how many reprints were served from cached spool files since the spooler started, and how many were rendered
again because the files were missing or did not match the driver. The figures are reset when the spooler restarts.
A spool cache that serves few reprints takes room for nothing.

## Spool cache size

The spool cache grows until it reaches the size set by cache_limit, two gigabytes unless set otherwise. When the
limit is reached, the spooler drops the cached spool files of the oldest jobs first, printer by printer, until the
spool cache is below the limit again. Cached spool files of jobs still printing are never dropped. A larger limit
keeps more cached spool files for reprints, at the cost of disk space on the print server.

## Removing the cache

`spoolctl purge` wipes every cached spool file from the spooler completely, on every printer. Run it while no job
prints.
)";

// A file format's page: its first section names the file over and over;
// a later one, whose heading names nothing the question asks, says the
// encoding.
constexpr const char* kFormat = R"(# Manifest file format

## Manifest files

Files that use this format are usually called "manifest.trl files", since `manifest.trl` is what trailctl names them
when it writes an export. A manifest.trl file lists the trails of one export, one per line.

## Other rules

trailctl reads them as Latin-1 by default; a first line `# charset: utf-8` changes the encoding.
)";

// A command's reference page: prose about what the command writes, which
// repeats a how-to question's words, then its options, each under its own
// heading; the answer is an option whose entry says it in other words.
constexpr const char* kArchive = R"(# shelfdump

shelfdump writes every shelf of a library server into one export file. It does this by calling shelfcopy for each
shelf on the server. shelfdump also writes the catalogue objects that all shelves share, namely the readers,
the labels and the loan rules of the library server, which shelfcopy does not export.

The export file holds commands that the shelfload tool replays to restore the shelves and the catalogue objects of
a library server. Reading every shelf needs the librarian role on the server.

## Options

### -a, --append

Adds to an existing export file instead of replacing it.

### -r, --readers-only

Writes the readers alone, no shelves or labels.

### -c, --catalogue-only

Exports the catalogue objects alone (readers, labels and loan rules), no shelf contents.

### -v, --verbose

Prints each shelf's name while it is written.

### -z level, --compress=level

Compresses the export file at the given level, 0 to 9.
)";

class ArticleStructure : public DocsFixture {
 protected:
  void SetUp() override {
    load("article-structure", {{"outlook-set-of-folders.md", kArticle},
                               {"cluster-faq.md", kFaq},
                               {"runtime-reconfiguration.md", kGuide},
                               {"audit-trail.md", kAudit},
                               {"trailkeeper-manual.md", kManual},
                               {"vaultctl.md", kCommand},
                               {"agent-configuration.md", kClient},
                               {"monitoring-agent.md", kMonitoring},
                               {"cachectl.md", kDaemon},
                               {"spool-caching.md", kSpool},
                               {"manifest-format.md", kFormat},
                               {"shelfdump.md", kArchive}});
    if (HasFatalFailure() || IsSkipped()) return;
    auto chunks = scratch_->store().chunks_of("outlook-set-of-folders.md");
    ASSERT_TRUE(chunks.is_ok());
    ASSERT_EQ(chunks->size(), 1u) << "the three sections share one chunk";
    EXPECT_EQ(chunks->front().section_path.back(), "Resolution");
  }
};

TEST_F(ArticleStructure, AFixQuestionGetsTheStepsAlone) {
  const Answer a = ask("How do I fix Outlook when it cannot open the set of folders?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "fix");
  EXPECT_NE(a.text.find("(Resolution)"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("Add a new mail profile"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("downloads the mailbox"), std::string::npos) << a.text;
  for (const char* foreign : {"Symptoms", "does not start", "Cause", "is damaged"}) {
    EXPECT_EQ(a.text.find(foreign), std::string::npos) << foreign << " in:\n" << a.text;
  }
}

TEST_F(ArticleStructure, ACauseQuestionGetsTheCause) {
  const Answer a = ask("Why can Outlook not open the set of folders?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "cause");
  EXPECT_NE(a.text.find("The OST file is damaged"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("mail profile"), std::string::npos) << a.text;
}

TEST_F(ArticleStructure, AFaqsFixSectionAnswersOnlyItsOwnQuestion) {
  const Answer other = ask("How do I add a member to a running cluster?");
  ASSERT_FALSE(other.refused) << other.text << " conf=" << other.confidence;
  EXPECT_NE(other.text.find("member add command"), std::string::npos) << other.text;
  EXPECT_EQ(other.text.find("Defragment"), std::string::npos) << other.text;
  const Answer own = ask("How do I fix database space exceeded?");
  ASSERT_FALSE(own.refused) << own.text << " conf=" << own.confidence;
  EXPECT_NE(own.text.find("Defragment every endpoint"), std::string::npos) << own.text;
}

// A how-to question about a task gets the procedure named after it: the
// sentence that introduces the command comes with the command.
TEST_F(ArticleStructure, AHowToGetsTheProcedureNamedAfterItsTask) {
  const Answer a = ask("How do I remove a member from the cluster?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.text.rfind("The steps from", 0), 0u) << a.text;
  EXPECT_NE(a.text.find("(Remove a member)"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("memberctl remove 8211f1d0f64f3269"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("new disk"), std::string::npos) << a.text;
}

// A fact that introduces a command (it ends with ':') brings the command.
TEST_F(ArticleStructure, AFactThatIntroducesACommandBringsIt) {
  const Answer a = ask("Which command switches the audit trail on?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "fact");
  EXPECT_NE(a.text.find("Switch the audit trail on with"), std::string::npos) << a.text;
  EXPECT_NE(a.text.find("auditctl trail --on --all-users"), std::string::npos) << a.text;
}

// A reference entry (a flag with its description, default and variable):
// the description that answers brings the entry's fields.
TEST_F(ArticleStructure, AReferenceEntryComesWithItsFields) {
  const Answer a = ask("How many days is an audit trail entry kept before it is purged?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("default: 90"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("/var/lib/trail"), std::string::npos) << a.text;
  // The entry's term, which its text does not repeat, leads the answer.
  EXPECT_EQ(a.text.rfind("According to “Audit trail” (--trail-retention):", 0), 0u) << a.text;
}

// A question that asks for a number gets the number when the sentence that
// names its subject does not hold one but one of the next two does.
TEST_F(ArticleStructure, AQuantityQuestionGetsTheNumberThatFollows) {
  const Answer a = ask("How much memory does Trailkeeper need?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("12 GB"), std::string::npos) << a.text;
}

// The question's own words do not count as terms the answer must hold,
// whatever the analyser makes of them ("does" -> "doe"): before, such a
// stem counted as the rarest word there is, and a section that answers was
// refused.
TEST_F(ArticleStructure, QuestionWordsAreNotTermsToCover) {
  const Answer a = ask("How much memory does the Trailkeeper service need?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_GT(a.confidence, 0.8) << a.text;
  EXPECT_NE(a.text.find("12 GB"), std::string::npos) << a.text;
}

// An abbreviation in the text stands for the question's words it abbreviates.
TEST_F(ArticleStructure, AnAbbreviationStandsForTheWordsOfTheQuestion) {
  const Answer a = ask("When does the Records Oversight Committee meet?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("first Monday"), std::string::npos) << a.text;
}

// A fact that opens with a pronoun ("This provides ...") comes with the
// sentence it points back to.
TEST_F(ArticleStructure, AFactThatPointsBackBringsWhatItPointsTo) {
  const Answer a = ask("What provides crash-safe writes and snapshots without a global lock?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  const size_t engine = a.text.find("ledgerdb"), writes = a.text.find("This provides crash-safe writes");
  ASSERT_NE(engine, std::string::npos) << a.text;
  ASSERT_NE(writes, std::string::npos) << a.text;
  EXPECT_LT(engine, writes) << a.text;
}

// A fact that adds to the one before it ("... is also read") comes with
// it: the older file is no answer alone to where the settings are.
TEST_F(ArticleStructure, AFactThatAddsToThePreviousOneBringsIt) {
  const Answer a = ask("Which file holds my per-operator Trailkeeper settings?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  const size_t current = a.text.find("~/.config/trail/main.toml"), older = a.text.find("~/.trailrc");
  ASSERT_NE(current, std::string::npos) << a.text;
  ASSERT_NE(older, std::string::npos) << a.text;
  EXPECT_LT(current, older) << a.text;
}

// A fix question reads every section of a short top document, not only
// the chunks retrieval found: here the hits hold every section but the one
// with the fix (retrieval ranked it below, as it ranks pip's "Removing the
// cache" for "wipe the cached wheels").
TEST_F(ArticleStructure, AFixQuestionReadsTheWholeTopDocument) {
  SearchRequest r;
  r.query = "How do I wipe the spooler's cached spool files completely?";
  r.k = 6;
  auto found = retriever_->retrieve(r);
  ASSERT_TRUE(found.is_ok()) << found.status().to_string();
  std::vector<Hit> hits;
  for (const Hit& h : *found)
    if (h.doc_id == "spool-caching.md" && !h.section_path.empty() && h.section_path.back() != "Removing the cache")
      hits.push_back(h);
  ASSERT_GE(hits.size(), 2u);
  auto answer_with = [&](ExtractiveOptions o) {
    o.word_ranks = glove_.get();
    auto a = ExtractiveAnswerer(*retriever_, o).answer_from(r, hits);
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    return a.is_ok() ? std::move(a).value() : Answer{};
  };
  const Answer a = answer_with({});
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("spoolctl purge"), std::string::npos) << a.text;
  ExtractiveOptions hits_only;
  hits_only.whole_document_chunks = 0;
  const Answer h = answer_with(hits_only);
  ASSERT_FALSE(h.refused) << "the hits alone answer from other sections";
  EXPECT_EQ(h.text.find("spoolctl purge"), std::string::npos) << h.text;
}

// A question that asks for a number gets it from a list item after the
// fact that names its subject.
TEST_F(ArticleStructure, AQuantityQuestionGetsTheNumberFromTheListThatFollows) {
  const Answer a = ask("What is the minimum kernel version needed to sign Trailkeeper exports?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("Linux 6.1 or newer"), std::string::npos) << a.text;
}

// A question that asks for a number gets its number from the section
// that answers it, not from another section's (the exit codes): the value
// after the description, and of the sentences with a number the one that
// states the default ("Setting it to 0 ..." is a special value).
TEST_F(ArticleStructure, AQuantityQuestionGetsTheNumberOfItsOwnSection) {
  const Answer a = ask("How long does trailctl wait for the store to answer before it gives up?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("The default is 30 seconds"), std::string::npos) << a.text;
  // In the order of the text.
  const size_t zero = a.text.find("Setting the wait to 0");
  ASSERT_NE(zero, std::string::npos) << a.text;
  EXPECT_LT(zero, a.text.find("The default is 30 seconds")) << a.text;
}

// The number can be in the item before the fact that names the subject.
TEST_F(ArticleStructure, AQuantityQuestionGetsTheNumberFromTheItemBefore) {
  const Answer a = ask("What is the minimum version needed for trailctl to verify signatures with the system keyring?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("Trailkeeper 5.2 or newer"), std::string::npos) << a.text;
}

// A question asking for a number or a default, or naming the kind of thing
// it asks for, reads more chunks: the answer is often in a short entry
// ranked below the prose about its subject.
TEST_F(ArticleStructure, AQuestionAskingForANumberReadsMoreChunks) {
  const ExtractiveAnswerer answerer(*retriever_);
  SearchRequest r;
  r.query = "How do I seal the store?";
  EXPECT_EQ(answerer.chunks_for(r), answerer.options().max_chunks);
  r.query = "How many days is an audit trail entry kept?";
  EXPECT_EQ(answerer.chunks_for(r), answerer.options().max_chunks + 4);
  r.query = "Which codec does Trailkeeper use by default?";
  EXPECT_EQ(answerer.chunks_for(r), answerer.options().max_chunks + 4);
  r.query = "What character encoding does trailctl assume?";
  EXPECT_EQ(answerer.chunks_for(r), answerer.options().max_chunks + 4) << "a question naming what it asks for";
  r.k = 3;
  EXPECT_EQ(answerer.chunks_for(r), 3) << "the request's k caps it";
}

// A question about a default gets the sentence that states it after the
// fact that names the subject.
TEST_F(ArticleStructure, ADefaultQuestionGetsTheSentenceThatStatesTheDefault) {
  const Answer a = ask("Which sign-in check does Trailkeeper run for every agent by default?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("Kerberos is the default"), std::string::npos) << a.text;
}

// A fix question that quotes an error the page shows as output: the answer
// starts at that output and reads on to what to do.
TEST_F(ArticleStructure, AFixReadsOnFromTheErrorOutputThePageQuotes) {
  const Answer a = ask("trailctl stops with \"error while loading shared libraries: libtrail.so.2\". How do I fix it?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("ldconfig /opt/trail/lib"), std::string::npos) << a.text;
}

// A fact about "the platforms listed above" comes with that list.
TEST_F(ArticleStructure, AFactAboutAListAboveBringsTheList) {
  const Answer a = ask("Which platforms is Trailkeeper tested on?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("Debian 12 and Rocky Linux 9"), std::string::npos) << a.text;
}

// A fix question that no fix section answers, asked after its situation:
// the answer reads on from the passage that describes the situation to
// what to do, with the command.
TEST_F(ArticleStructure, AFixReadsOnFromTheSituationToWhatToDo) {
  const Answer a = ask("Trailkeeper serves the cached plain export of a report even now that the chart renderer is "
                       "installed. How do I force a fresh export?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.intent, "fix");
  EXPECT_NE(a.text.find("trailctl export --from-source monthly.rpt"), std::string::npos) << a.text;
}

// A question that names an option by its flag gets the option's entry,
// which leads the answer and reads on to what the flag's absence means.
// The synopsis, all code spans, states no fact.
TEST_F(ArticleStructure, AQuestionNamingAnEntryGetsTheEntry) {
  const Answer a = ask("Which way of sealing does vaultctl use if I don't pass -m?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_EQ(a.text.rfind("According to “vaultctl” (-m mode, --mode=mode):", 0), 0u) << a.text;
  EXPECT_NE(a.text.find("graceful is used"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("`-D`"), std::string::npos) << a.text;
}

// A sentence that names "the default codec" does not state the default;
// the one that says "the default is Zstandard" does.
TEST_F(ArticleStructure, ADefaultQuestionGetsTheValueNotTheName) {
  const Answer a = ask("Which codec does Trailkeeper compress archived trails with by default?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("the default is Zstandard"), std::string::npos) << a.text;
}

// A question that describes its situation before it asks: its situation's
// words are in the document, its ask's in the sentence that answers, and
// no one sentence holds both. The document's coverage is its evidence too
// (situation_doc_weight: the sentence alone scores much less); a situated
// question the document does not answer is still refused.
TEST_F(ArticleStructure, ASituatedQuestionCountsItsDocumentsEvidence) {
  const std::string q = "We switched the audit trail on for all users with auditctl on the new server. When do the old "
                        "entries go away?";
  const Answer a = ask(q);
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("rotate every night"), std::string::npos) << a.text;
  ExtractiveOptions unit_only;
  unit_only.word_ranks = glove_.get();
  unit_only.situation_doc_weight = 0;
  SearchRequest r;
  r.query = q;
  auto alone = ExtractiveAnswerer(*retriever_, unit_only).answer(r);
  ASSERT_TRUE(alone.is_ok()) << alone.status().to_string();
  EXPECT_GT(a.confidence, alone->confidence + 0.05) << "the document's coverage counts: " << a.confidence << " vs "
                                                     << alone->confidence << " for the sentence alone";
  const Answer other = ask("We switched the audit trail on for all users with auditctl on the new server. Which SIEM "
                           "vendor receives the forwarded entries?");
  EXPECT_TRUE(other.refused) << other.text << " conf=" << other.confidence;
}

// A question that names its system gets that system's variant: Linux is
// one family with Unix.
TEST_F(ArticleStructure, AQuestionAboutOneSystemGetsItsVariant) {
  const Answer linux_box = ask("On my Linux laptop, which per-user configuration file does the agent read?");
  ASSERT_FALSE(linux_box.refused) << linux_box.text << " conf=" << linux_box.confidence;
  EXPECT_NE(linux_box.text.find("~/.config/agent/agent.conf"), std::string::npos) << linux_box.text;
  for (const char* other : {"%APPDATA%", "~/Library/Preferences"})
    EXPECT_EQ(linux_box.text.find(other), std::string::npos) << other << " in:\n" << linux_box.text;
  const Answer windows = ask("Which per-user configuration file does the agent read on Windows?");
  ASSERT_FALSE(windows.refused) << windows.text << " conf=" << windows.confidence;
  EXPECT_NE(windows.text.find("%APPDATA%"), std::string::npos) << windows.text;
  for (const char* other : {"~/.config/agent", "~/Library/Preferences"})
    EXPECT_EQ(windows.text.find(other), std::string::npos) << other << " in:\n" << windows.text;
}

// A variant's label introduces its code: the path under "Unix:" answers
// where the cache is on Linux (code alone is no fact otherwise).
TEST_F(ArticleStructure, AVariantsLabelIntroducesItsCode) {
  const Answer a = ask("Where does the agent keep its download cache on Linux?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("~/.cache/agent"), std::string::npos) << a.text;
  EXPECT_EQ(a.text.find("%LOCALAPPDATA%"), std::string::npos) << a.text;
}

// Variants as sections of their own ("## Windows", "## Linux"), each its
// own chunk: the heading names the system.
TEST_F(ArticleStructure, AVariantNamedByItsHeadingIsThatSystems) {
  const Answer linux_box = ask("On Linux, how do I install the monitoring agent's service?");
  ASSERT_FALSE(linux_box.refused) << linux_box.text << " conf=" << linux_box.confidence;
  EXPECT_NE(linux_box.text.find("systemctl enable --now monagent"), std::string::npos) << linux_box.text;
  EXPECT_EQ(linux_box.text.find("sc.exe"), std::string::npos) << linux_box.text;
  const Answer windows = ask("On Windows, how do I install the monitoring agent's service?");
  ASSERT_FALSE(windows.refused) << windows.text << " conf=" << windows.confidence;
  EXPECT_NE(windows.text.find("sc.exe create monagent"), std::string::npos) << windows.text;
  EXPECT_EQ(windows.text.find("systemctl"), std::string::npos) << windows.text;
}

// A variant that a chunk boundary cuts keeps its system in the next chunk:
// the Windows proxy's password store is no answer for Linux.
TEST_F(ArticleStructure, AVariantCutByAChunkBoundaryKeepsItsSystem) {
  auto chunks = scratch_->store().chunks_of("agent-configuration.md");
  ASSERT_TRUE(chunks.is_ok());
  size_t proxy_chunks = 0;
  for (const Chunk& c : *chunks) proxy_chunks += c.section_path.back() == "Proxy";
  ASSERT_GE(proxy_chunks, 2u) << "the Windows variant must cross a chunk boundary";
  const Answer windows = ask("On Windows, where does the agent keep the password of a proxy that needs one?");
  EXPECT_NE(windows.text.find("Credential Manager"), std::string::npos) << windows.text;
  const Answer linux_box = ask("On Linux, where does the agent keep the password of a proxy that needs one?");
  EXPECT_EQ(linux_box.text.find("Credential Manager"), std::string::npos) << linux_box.text;
  EXPECT_NE(windows.text.find("Credential Manager"), std::string::npos) << windows.text;
}

// "Which option ...?" asks for a name written as code: the entry headed by
// the option leads, before the prose that shares more of the question's words.
TEST_F(ArticleStructure, AQuestionForAnOptionGetsTheEntryFirst) {
  const Answer a = ask("Which option sets how long to wait for clients to go away on stop?");
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  const size_t entry = a.text.find("The longest time to wait");
  const size_t prose = a.text.find("gives up waiting");
  ASSERT_NE(entry, std::string::npos) << a.text;
  EXPECT_TRUE(prose == std::string::npos || entry < prose) << a.text;
  EXPECT_NE(a.text.find("--timeout=seconds"), std::string::npos) << a.text;
  // Without the weight for a name in code, the prose leads.
  ExtractiveOptions plain;
  plain.w_named_in_code = 0;
  const Answer p = ask("Which option sets how long to wait for clients to go away on stop?", plain);
  const size_t p_entry = p.text.find("The longest time to wait");
  const size_t p_prose = p.text.find("gives up waiting");
  ASSERT_NE(p_prose, std::string::npos) << p.text;
  EXPECT_TRUE(p_entry == std::string::npos || p_prose < p_entry) << p.text;
}


// A fact question that names the kind of thing it asks for ("What
// character encoding ...") is answered first by the unit that says it, not
// by the one that repeats the subject's name more often.
TEST_F(ArticleStructure, AFactQuestionIsLedByTheUnitThatSaysWhatItAsksFor) {
  const std::string q = "What character encoding does trailctl assume when it reads a manifest.trl file?";
  const Answer a = ask(q);
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  const size_t encoding = a.text.find("reads them as Latin-1 by default");
  ASSERT_NE(encoding, std::string::npos) << a.text;
  const size_t named = a.text.find("usually called");
  EXPECT_TRUE(named == std::string::npos || encoding < named) << a.text;
  // Without it, the unit about the file's name leads.
  ExtractiveOptions plain;
  plain.focus_lead_share = 2;
  const Answer p = ask(q, plain);
  const size_t p_named = p.text.find("usually called");
  ASSERT_NE(p_named, std::string::npos) << p.text;
  const size_t p_encoding = p.text.find("reads them as Latin-1 by default");
  EXPECT_TRUE(p_encoding == std::string::npos || p_named < p_encoding) << p.text;
}

// A how-to question on a command's reference page gets the options whose
// entries say what it asks, each named by its heading (the option is the
// answer, and its entry does not say it), ahead of the page's prose about
// what the command does, which holds more of the question's words.
TEST_F(ArticleStructure, AHowToQuestionOnACommandsPageGetsTheOptionByName) {
  const std::string q = "How do I export only the readers and labels of a library server, without any shelf contents?";
  const std::string prose = "writes every shelf of a library server";
  const Answer a = ask(q);
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  const size_t option = a.text.find("-c, --catalogue-only");
  ASSERT_NE(option, std::string::npos) << a.text;
  const size_t a_prose = a.text.find(prose);
  EXPECT_TRUE(a_prose == std::string::npos || option < a_prose) << a.text;
  // Without the weight, the prose leads.
  ExtractiveOptions plain;
  plain.w_option_entry = 0;
  const Answer p = ask(q, plain);
  const size_t p_prose = p.text.find(prose);
  ASSERT_NE(p_prose, std::string::npos) << p.text;
  const size_t p_option = p.text.find("--catalogue-only");
  EXPECT_TRUE(p_option == std::string::npos || p_prose < p_option) << p.text;
}

// A how-to question on a command's page whose option entries retrieval
// did not bring (one chunk read here, the prose's, and not the whole page)
// reads them all.
TEST_F(ArticleStructure, AHowToQuestionOnACommandsPageReadsItsOptionEntries) {
  const std::string q = "How do I export only the readers and labels of a library server, without any shelf contents?";
  ExtractiveOptions one;
  one.max_chunks = 1;
  one.whole_document_chunks = 0;
  const Answer a = ask(q, one);
  ASSERT_FALSE(a.refused) << a.text << " conf=" << a.confidence;
  EXPECT_NE(a.text.find("--catalogue-only"), std::string::npos) << a.text;
  one.max_option_chunks = 0;
  const Answer none = ask(q, one);
  EXPECT_EQ(none.text.find("--catalogue-only"), std::string::npos) << none.text;
}

// A second option's entry in an answer is said after its heading, which
// its quote holds too.
TEST_F(ArticleStructure, AnOptionsEntryIsSaidAfterItsHeading) {
  const std::string q = "Which shelfdump option exports only the readers and labels, without any shelf contents?";
  const Answer all = ask(q);
  ASSERT_FALSE(all.refused) << all.text;
  const size_t lead_end = all.text.find('\n');
  ASSERT_NE(lead_end, std::string::npos) << all.text;
  EXPECT_NE(all.text.find("`-c, --catalogue-only`: Exports the catalogue objects", lead_end), std::string::npos)
      << all.text;
  bool quoted = false;
  for (const Citation& c : all.citations) quoted |= c.quote.find("-c, --catalogue-only: Exports") != std::string::npos;
  EXPECT_TRUE(quoted) << all.text;
}

}  // namespace
}  // namespace ragd
