// Properties of fetcher::route_message over random header sections: recipients are local
// mailboxes only and exactly the local envelope recipients; every envelope header and Bcc is
// gone; every other byte is unchanged after the one added Received line. The expectations are
// computed here by a plain line scan, independent of mail/ (the parser route_message uses).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "fetcher/config.hpp"
#include "fetcher/route.hpp"
#include "mail/envelope.hpp"

namespace dropcheck::fetcher {
namespace {

// 2026-11-21 10:00:00 UTC
const RouteContext kContext{"prop", "pop.provider.example", "catchall",
                            std::chrono::milliseconds{1'795'255'200'000}};
const std::vector<std::string> kLocalDomains = {"firma.example", "zweig.example"};

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

struct Addr {
  std::string local;
  std::string domain;  // as written (may have upper case)
  std::string written() const { return local + "@" + domain; }
  std::string normalized() const { return local + "@" + lower(domain); }
  bool is_local() const {
    return std::find(kLocalDomains.begin(), kLocalDomains.end(), lower(domain)) !=
           kLocalDomains.end();
  }
};

rc::Gen<Addr> gen_addr() {
  return rc::gen::build<Addr>(
      rc::gen::set(&Addr::local, rc::gen::element<std::string>("a", "b", "hans.meier", "info",
                                                               "x+tag", "Mixed.Case")),
      // Near misses of the local domains are foreign: exact domain match only.
      rc::gen::set(&Addr::domain,
                   rc::gen::element<std::string>("firma.example", "FIRMA.Example", "zweig.example",
                                                 "foreign.example", "sub.firma.example",
                                                 "firma.example.evil", "partner.example")));
}

// One header field: name and value lines (the first follows "name: ", the rest are folded).
struct Field {
  std::string name;
  std::vector<std::string> lines;
  std::vector<Addr> envelope;  // X-Envelope-To only: the addresses it names
};

std::string random_case(const std::string& s, const std::vector<bool>& flips) {
  std::string out = s;
  for (std::size_t i = 0; i < out.size() && i < flips.size(); ++i) {
    if (!flips[i]) continue;
    char& c = out[i];
    if (c >= 'a' && c <= 'z')
      c = static_cast<char>(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Address list as a header value: "a@x" or "<a@x>", comma separated, folded at random.
std::vector<std::string> address_lines(const std::vector<Addr>& addrs) {
  std::vector<std::string> lines{""};
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    const bool angle = *rc::gen::arbitrary<bool>();
    std::string a = angle ? "<" + addrs[i].written() + ">" : addrs[i].written();
    if (i + 1 < addrs.size()) a += ",";
    if (!lines.back().empty() && *rc::gen::inRange(0, 3) == 0) {
      lines.push_back(a);  // folded onto a continuation line
    } else {
      lines.back() += (lines.back().empty() ? "" : " ") + a;
    }
  }
  return lines;
}

rc::Gen<std::string> gen_text() {
  // Printable ASCII without CR/LF; never empty (a value line of only blanks is still fine).
  return rc::gen::map(rc::gen::container<std::string>(rc::gen::inRange<char>(0x20, 0x7f)),
                      [](std::string s) { return s.empty() ? std::string("x") : s.substr(0, 60); });
}

Field gen_field() {
  static const std::vector<std::string> kStripped = {
      "X-Envelope-To", "Envelope-To",    "X-Original-To", "X-Rcpt-To",
      "X-MDRcpt-To",   "X-Recipient-To", "Delivered-To",  "Bcc"};
  Field f;
  const int kind = *rc::gen::inRange(0, 8);
  const auto flips = *rc::gen::container<std::vector<bool>>(rc::gen::arbitrary<bool>());
  switch (kind) {
    case 0:
    case 1: {  // the configured envelope header, any case
      f.name = random_case("X-Envelope-To", flips);
      f.envelope = *rc::gen::container<std::vector<Addr>>(
          static_cast<std::size_t>(*rc::gen::inRange(1, 4)), gen_addr());
      f.lines = address_lines(f.envelope);
      break;
    }
    case 2: {  // another stripped header (other envelope headers, Bcc)
      f.name = random_case(*rc::gen::elementOf(kStripped), flips);
      if (lower(f.name) == "x-envelope-to") f.name = "Bcc";
      f.lines = address_lines(*rc::gen::container<std::vector<Addr>>(
          static_cast<std::size_t>(*rc::gen::inRange(1, 3)), gen_addr()));
      break;
    }
    case 3: {  // visible recipients
      f.name = *rc::gen::element<std::string>("To", "Cc", "Reply-To");
      f.lines = address_lines(*rc::gen::container<std::vector<Addr>>(
          static_cast<std::size_t>(*rc::gen::inRange(1, 4)), gen_addr()));
      break;
    }
    case 4: {  // names that only look like stripped ones: must stay
      f.name = *rc::gen::element<std::string>("X-Envelope-To-Count", "X-Envelope", "Bcc-Note",
                                              "Resent-Bcc", "X-Delivered-To-Hash");
      f.lines = {*gen_text()};
      break;
    }
    case 5: {
      f.name = "Received";
      f.lines = {"from mx.outside.example (mx.outside.example [192.0.2.7])",
                 "by pop.provider.example; Mon, 23 Nov 2026 10:00:00 +0000"};
      if (*rc::gen::arbitrary<bool>()) f.lines.resize(1);
      break;
    }
    default: {
      f.name = *rc::gen::element<std::string>("Subject", "X-Mailer", "Comments", "Message-ID");
      f.lines = *rc::gen::container<std::vector<std::string>>(
          static_cast<std::size_t>(*rc::gen::inRange(1, 3)), gen_text());
      break;
    }
  }
  return f;
}

struct Generated {
  std::string raw;
  std::string eol;
  std::vector<Field> fields;
  std::string return_path;  // "" none, "<>" null, else the address inside <>
  std::string from;         // From address
};

Generated gen_message() {
  Generated g;
  g.eol = *rc::gen::weightedElement<std::string>({{9, "\r\n"}, {1, "\n"}});
  const auto rp = *rc::gen::inRange(0, 3);
  if (rp == 1) g.return_path = "<>";
  if (rp == 2) g.return_path = (*gen_addr()).written();
  g.from = (*gen_addr()).written();
  g.fields = *rc::gen::container<std::vector<Field>>(
      static_cast<std::size_t>(*rc::gen::inRange(0, 12)), rc::gen::exec(gen_field));
  std::vector<Field> all;
  if (!g.return_path.empty())
    all.push_back({"Return-Path", {g.return_path == "<>" ? "<>" : "<" + g.return_path + ">"}, {}});
  all.push_back({"From", {g.from}, {}});
  all.insert(all.end(), g.fields.begin(), g.fields.end());
  // Shuffle everything but a leading Return-Path.
  const std::size_t fixed = g.return_path.empty() ? 0 : 1;
  std::vector<Field> tail(all.begin() + static_cast<std::ptrdiff_t>(fixed), all.end());
  for (std::size_t i = tail.size(); i > 1; --i)  // Fisher-Yates, driven by the generator
    std::swap(tail[i - 1], tail[*rc::gen::inRange<std::size_t>(0, i)]);
  all.resize(fixed);
  all.insert(all.end(), tail.begin(), tail.end());
  g.fields = all;
  for (const auto& f : all) {
    g.raw += f.name + ": " + f.lines.front() + g.eol;
    for (std::size_t i = 1; i < f.lines.size(); ++i)
      g.raw += *rc::gen::element<std::string>(" ", "\t", "  ") + f.lines[i] + g.eol;
  }
  g.raw += g.eol;
  // Body lines that look like headers must not be touched.
  const auto body = *rc::gen::container<std::vector<std::string>>(rc::gen::oneOf(
      gen_text(), rc::gen::element<std::string>(
                      "Bcc: c@firma.example", "X-Envelope-To: b@firma.example", ".", "..dot", "")));
  for (const auto& l : body) g.raw += l + g.eol;
  return g;
}

Config make_config() {
  Config c = default_config();
  c.routing.local_domains = kLocalDomains;
  c.routing.fallback = "postmaster@firma.example";
  return c;
}

// The message with every field in `strip` removed (continuations included), by a line scan.
std::string expected_stripped(const std::string& raw, const std::set<std::string>& strip) {
  std::string out;
  std::size_t pos = 0;
  bool dropping = false;
  while (pos < raw.size()) {
    std::size_t nl = raw.find('\n', pos);
    const std::size_t end = nl == std::string::npos ? raw.size() : nl + 1;
    const std::string line = raw.substr(pos, end - pos);
    if (line == "\r\n" || line == "\n") {  // end of the header section
      out += raw.substr(pos);
      return out;
    }
    if (line[0] == ' ' || line[0] == '\t') {
      if (!dropping) out += line;
    } else {
      std::string name = line.substr(0, line.find(':'));
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      dropping = strip.count(lower(name)) > 0;
      if (!dropping) out += line;
    }
    pos = end;
  }
  return out;
}

// The configured strip list plus Return-Path (the receiving MTA writes its own).
std::set<std::string> strip_set(const Config& c) {
  std::set<std::string> s{"return-path"};
  for (const auto& h : c.routing.strip_headers) s.insert(lower(h));
  return s;
}

RC_GTEST_PROP(RouteProperty, RecipientsAreExactlyTheLocalEnvelopeRecipients, ()) {
  const Generated g = gen_message();
  const Config c = make_config();
  const Route r = route_message(c, g.raw, kContext);
  RC_ASSERT(r.error.empty());

  std::vector<std::string> local;  // in header order, de-duplicated
  bool header_present = false;
  bool any_candidate = false;
  for (const auto& f : g.fields) {
    if (lower(f.name) != "x-envelope-to") continue;
    header_present = true;
    for (const auto& a : f.envelope) {
      any_candidate = true;
      if (a.is_local() && std::find(local.begin(), local.end(), a.normalized()) == local.end())
        local.push_back(a.normalized());
    }
  }
  for (const auto& rcpt : r.recipients) {
    const std::string d = lower(rcpt.substr(rcpt.rfind('@') + 1));
    RC_ASSERT(std::find(kLocalDomains.begin(), kLocalDomains.end(), d) != kLocalDomains.end());
  }
  if (!header_present) {
    // Never guessed from To/Cc: the fallback mailbox, with an alert.
    RC_ASSERT(r.recipients == std::vector<std::string>{c.routing.fallback});
    RC_ASSERT(r.alert);
  } else if (local.empty() && any_candidate) {
    // No local envelope recipient (a wrong header, a typo in local_domains): the fallback, with
    // an alert; never dropped, never sent out again.
    RC_ASSERT(r.recipients == std::vector<std::string>{c.routing.fallback});
    RC_ASSERT(r.alert);
  } else {
    RC_ASSERT(r.recipients == local);
  }
}

RC_GTEST_PROP(RouteProperty, StripsEnvelopeHeadersAndBccAndKeepsEveryOtherByte, ()) {
  const Generated g = gen_message();
  const Config c = make_config();
  const Route r = route_message(c, g.raw, kContext);
  RC_ASSERT(r.error.empty());
  // One recipient: "for <it>"; several: none (naming them would leak Bcc recipients).
  const bool one = r.recipients.size() == 1;
  const std::string received = "Received: from pop.provider.example (account catchall)" + g.eol +
                               "\tby prop (dropcheck fetcher core) with POP3" + (one ? "" : ";") +
                               g.eol + "\t" + (one ? "for <" + r.recipients.front() + ">; " : "") +
                               "Sat, 21 Nov 2026 10:00:00 +0000" + g.eol;
  RC_ASSERT(r.message.compare(0, received.size(), received) == 0);
  const std::string rest = r.message.substr(received.size());
  RC_ASSERT(rest == expected_stripped(g.raw, strip_set(c)));
  // And, said directly: no field of the delivered header section has a stripped name.
  const std::set<std::string> strip = strip_set(c);
  const std::string head = rest.substr(0, rest.find(g.eol + g.eol) + g.eol.size());
  std::size_t pos = 0;
  while (pos < head.size()) {
    const std::size_t nl = head.find('\n', pos);
    const std::string line = head.substr(pos, (nl == std::string::npos ? head.size() : nl) - pos);
    if (!line.empty() && line[0] != ' ' && line[0] != '\t') {
      std::string name = line.substr(0, line.find(':'));
      RC_ASSERT(strip.count(lower(name)) == 0u);
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
}

RC_GTEST_PROP(RouteProperty, SenderIsTheReturnPathExactly, ()) {
  const Generated g = gen_message();
  const Route r = route_message(make_config(), g.raw, kContext);
  RC_ASSERT(r.error.empty());
  if (g.return_path == "<>") {
    RC_ASSERT(r.mail_from.empty());
  } else if (!g.return_path.empty()) {
    const std::string rp = g.return_path;
    const auto at = rp.rfind('@');
    RC_ASSERT(r.mail_from == rp.substr(0, at) + "@" + lower(rp.substr(at + 1)));
  } else {
    // Never invented (issue 14 item 11): no Return-Path gives <> and an alert.
    RC_ASSERT(r.mail_from.empty());
    RC_ASSERT(r.alert);
  }
}

// The default strip list covers every envelope header the mail library knows, and Bcc.
TEST(RouteProperty, DefaultStripListCoversKnownEnvelopeHeaders) {
  const auto s = strip_set(make_config());
  for (auto h : mail::kEnvelopeHeaders) EXPECT_TRUE(s.count(lower(std::string(h)))) << h;
  EXPECT_TRUE(s.count("bcc"));
}

}  // namespace
}  // namespace dropcheck::fetcher
