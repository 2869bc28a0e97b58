#include "analyzer/severity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace dropcheck::analyzer {

namespace {

// The one table: every finding type, its severity and why, and its words. In finding_types()
// order (a test checks both lists agree).
const std::vector<FindingClass> kClasses = {
    {"lost-message", Severity::critical,
     "the provider deleted it and no mailbox got it: nothing anywhere to recover",
     "deletes mail undelivered", "deletes {} messages undelivered",
     "messages deleted at the provider and never delivered"},
    {"lost-recipient", Severity::critical,
     "a recipient never got the message (at best it still waits on the provider, unnoticed)",
     "loses a recipient", "loses {} recipients", "recipients lost"},
    {"duplicate", Severity::major,
     "a recipient gets the same mail twice: confusing, and a resent order is executed twice",
     "duplicate", "{} duplicates", "duplicate copies"},
    {"envelope-header-leak", Severity::major,
     "every recipient can read the blind-copy recipients: a confidentiality breach", "leaks BCC",
     "", "blind-copy recipients disclosed"},
    {"bcc-header-leak", Severity::major,
     "the Bcc header reaches the recipients: a confidentiality breach", "leaks BCC", "",
     "Bcc header delivered"},
    {"relay-attempt", Severity::major,
     "the fetcher re-sends mail to foreign addresses; only the server's refusal stopped it",
     "tries to relay", "", "foreign recipients re-sent (refused)"},
    {"relay-leak", Severity::major,
     "mail left the site for addresses it was not meant to be re-sent to", "relays out", "",
     "foreign recipients re-sent (relayed out)"},
    {"misroute", Severity::major, "mail reached a mailbox it was not for: a confidentiality breach",
     "misroutes", "misroutes {}", "mail delivered to a mailbox it was not for"},
    {"sender-rewritten", Severity::moderate,
     "the mail arrives, but replies and bounces go to the wrong sender", "rewrites sender", "",
     "envelope sender rewritten"},
    {"message-altered", Severity::moderate,
     "the mail arrives with its body changed (signatures break, content differs)", "alters message",
     "alters {} messages", "message altered"},
    {"unknown-message", Severity::moderate,
     "a copy no longer recognisable as what was sent; the loss it implies is reported by "
     "lost-recipient and lost-message themselves",
     "mangles message", "mangles {} messages", "unknown messages delivered"},
    {"loop", Severity::major,
     "mail left the site and came back: copies multiply and load both ends", "loops", "",
     "mail loops"},
    {"cleartext-credentials", Severity::major,
     "the mailbox password crosses the network readable: whoever reads it reads all the mail",
     "password in clear", "", "password sent in clear"},
    {"login-refused", Severity::minor,
     "mail waits on the provider until the login works again; nothing is lost", "login refused", "",
     "logins refused (bad credentials)"},
    {"silent-login-failure", Severity::minor,
     "the wait above goes unreported: mail is late until somebody looks, not lost",
     "hides refused login", "", "refused logins not reported by the fetcher"},
    {"over-polling", Severity::minor,
     "the provider refuses the early polls: mail waits for the next allowed one", "over-polls", "",
     "polls faster than LOGIN-DELAY"},
    {"stuck-queue", Severity::minor,
     "mail held on the provider, not lost; recipients that never got it are lost-recipient",
     "stuck queue", "", "mail held back"},
    {"delayed", Severity::minor, "the mail arrives, later than the latency budget", "delays mail",
     "delays {} recipients", "mail delivered later than the latency budget"},
    {"stall", Severity::minor, "the mail arrives, each copy some tens of milliseconds late",
     "stalls", "", "slow delivery (stall)"},
};

// Worded once per cell: types whose words are equal ("leaks BCC") are named once.
std::string count_words(const FindingClass& c, std::size_t n) {
  if (n <= 1 || c.cell_n.empty()) return std::string(c.cell);
  return fmt::format(fmt::runtime(c.cell_n), n);
}

// "loses BCC recipient", "loses 2 BCC recipients", "loses 3 recipients (1 BCC)".
std::string lost_recipient_words(std::size_t n, std::size_t blind) {
  if (blind == 0) return count_words(*finding_class("lost-recipient"), n);
  if (blind == n) return n == 1 ? "loses BCC recipient" : fmt::format("loses {} BCC recipients", n);
  return fmt::format("loses {} recipients ({} BCC)", n, blind);
}

std::size_t rank(std::string_view type) {
  const FindingClass* c = finding_class(type);
  return c ? static_cast<std::size_t>(c - kClasses.data()) : kClasses.size();
}

}  // namespace

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::critical:
      return "critical";
    case Severity::major:
      return "major";
    case Severity::moderate:
      return "moderate";
    case Severity::minor:
      return "minor";
  }
  return "?";
}

std::string_view severity_description(Severity s) {
  switch (s) {
    case Severity::critical:
      return "mail lost, or deleted at the provider undelivered";
    case Severity::major:
      return "BCC or envelope leaked, password in clear, relayed, misrouted, duplicated, looped";
    case Severity::moderate:
      return "sender rewritten, message altered or mangled";
    case Severity::minor:
      return "refused or unreported logins, over-polling, delays, stalls";
  }
  return "?";
}

std::optional<Severity> parse_severity(std::string_view name) {
  for (std::size_t i = 0; i < kSeverityCount; ++i)
    if (severity_name(static_cast<Severity>(i)) == name) return static_cast<Severity>(i);
  return std::nullopt;
}

const std::vector<FindingClass>& finding_classes() { return kClasses; }

const FindingClass* finding_class(std::string_view type) {
  const auto it = std::find_if(kClasses.begin(), kClasses.end(),
                               [&](const FindingClass& c) { return c.type == type; });
  return it == kClasses.end() ? nullptr : &*it;
}

Severity severity_of(std::string_view type) {
  const FindingClass* c = finding_class(type);
  return c ? c->severity : Severity::critical;
}

std::optional<Severity> worst_severity(const std::vector<Finding>& findings) {
  std::optional<Severity> worst;
  for (const auto& f : findings)
    if (!worst || severity_of(f.type) < *worst) worst = severity_of(f.type);
  return worst;
}

std::vector<std::string> cell_words(const std::vector<Finding>& findings) {
  // (severity, table order, type) -> count, blind copies
  std::map<std::tuple<Severity, std::size_t, std::string>, std::pair<std::size_t, std::size_t>>
      by_type;
  for (const auto& f : findings) {
    auto& [n, blind] = by_type[{severity_of(f.type), rank(f.type), f.type}];
    ++n;
    blind += f.blind_copy ? 1 : 0;
  }
  std::vector<std::string> out;
  for (const auto& [key, counts] : by_type) {
    const FindingClass* c = finding_class(std::get<2>(key));
    std::string w = !c ? std::get<2>(key)
                    : c->type == "lost-recipient"
                        ? lost_recipient_words(counts.first, counts.second)
                        : count_words(*c, counts.first);
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(std::move(w));
  }
  return out;
}

}  // namespace dropcheck::analyzer
