#include "corpus.hpp"

#include <array>
#include <string_view>

namespace dropcheck::bench {
namespace {

// splitmix64: tiny, and identical on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  std::size_t range(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <typename T, std::size_t N>
  const T& pick(const std::array<T, N>& a) {
    return a[below(N)];
  }

 private:
  std::uint64_t s_;
};

constexpr std::array<std::string_view, 16> kFirst = {
    "hans",    "anna",    "peter",  "maria",  "juergen", "sabine",  "thomas", "petra",
    "michael", "claudia", "stefan", "monika", "frank",   "susanne", "klaus",  "birgit"};
constexpr std::array<std::string_view, 12> kLast = {"meier",    "schmidt", "mueller", "schulz",
                                                    "fischer",  "weber",   "wagner",  "becker",
                                                    "hoffmann", "koch",    "richter", "klein"};
constexpr std::array<std::string_view, 10> kDomains = {
    "firma1.example",    "firma2.example",    "firma3.example",     "mail.provider.example",
    "example.com",       "example.net",       "kunde-gmbh.example", "xn--mller-kva.example",
    "lists.example.org", "partner.example.de"};
constexpr std::array<std::string_view, 6> kRelays = {
    "mx1.provider.example", "mx2.provider.example", "smtp.firma1.example",
    "out.mailer.example",   "relay.isp.example",    "mail-ed1-f54.google.example"};
constexpr std::array<std::string_view, 7> kEnvelopeHeaders = {
    "Envelope-To", "X-Envelope-To",  "X-Original-To", "X-Rcpt-To",
    "X-MDRcpt-To", "X-Recipient-To", "Delivered-To"};
constexpr std::array<std::string_view, 8> kSubjects = {
    "Angebot Nr. 4711",      "Re: Termin am Montag",
    "AW: Rechnung 2026-11",  "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=",
    "Fwd: Lieferung",        "=?iso-8859-1?q?Bestellbest=E4tigung?=",
    "Protokoll der Sitzung", "=?utf-8?b?TmV1ZSBQcmVpc2xpc3RlIGbDvHIgMjAyNw==?="};

std::string b64(Rng& r, std::size_t n) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s.push_back(kB64[r.below(64)]);
  return s;
}

std::string mailbox(Rng& r) {
  std::string local(r.pick(kFirst));
  if (r.chance(70)) {
    local += '.';
    local += r.pick(kLast);
  }
  if (r.chance(10)) local += std::to_string(r.below(100));
  return local + "@" + std::string(r.pick(kDomains));
}

std::string display(Rng& r) {
  std::string first(r.pick(kFirst));
  std::string last(r.pick(kLast));
  first[0] = static_cast<char>(first[0] - 32);
  last[0] = static_cast<char>(last[0] - 32);
  switch (r.below(4)) {
    case 0:
      return first + " " + last;
    case 1:
      return "\"" + last + ", " + first + "\"";
    case 2:
      return "=?utf-8?q?" + first + "_" + last + "?=";
    default:
      return "\"" + first + " " + last + " (Vertrieb)\"";
  }
}

// A To/Cc list folded at ~76 columns like mail clients do.
std::string address_list(Rng& r, std::string_view name, std::size_t n,
                         std::vector<std::string>& seen) {
  std::string out(name);
  out += ":";
  std::size_t col = out.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string box = mailbox(r);
    seen.push_back(box);
    std::string item = r.chance(60) ? display(r) + " <" + box + ">" : box;
    if (i + 1 < n) item += ",";
    if (col + 1 + item.size() > 76 && i > 0) {
      out += "\r\n\t";
      col = 1;
    } else {
      out += " ";
      ++col;
    }
    out += item;
    col += item.size();
  }
  return out + "\r\n";
}

std::string date(Rng& r) {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                            "Fri", "Sat", "Sun"};
  return std::string(r.pick(kDays)) + ", " + std::to_string(r.range(1, 28)) + " Nov 2026 " +
         std::to_string(r.range(10, 23)) + ":" + std::to_string(r.range(10, 59)) + ":" +
         std::to_string(r.range(10, 59)) + " +0100";
}

std::string received(Rng& r, const std::string& rcpt) {
  std::string s = "Received: from " + std::string(r.pick(kRelays)) + " (" +
                  std::string(r.pick(kRelays)) + " [192.0.2." + std::to_string(r.below(255)) +
                  "])\r\n\tby " + std::string(r.pick(kRelays)) + " (Postfix) with ESMTPS id " +
                  b64(r, 12) + "\r\n\tfor <" + rcpt + ">; " + date(r) + " (CET)\r\n";
  return s;
}

std::string dkim(Rng& r, std::string_view tag) {
  std::string s(tag);
  s += ": v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + std::string(r.pick(kDomains)) + "; s=sel" +
       std::to_string(r.below(9)) + ";\r\n\tt=17000" + std::to_string(r.below(99999)) +
       "; h=from:to:cc:subject:date:message-id:mime-version:content-type;\r\n\tbh=" + b64(r, 43) +
       "=;\r\n\tb=";
  for (int line = 0; line < 4; ++line) s += b64(r, 70) + "\r\n\t ";
  s += b64(r, 36) + "==\r\n";
  return s;
}

}  // namespace

std::vector<CorpusMessage> make_corpus(std::size_t count, std::uint64_t seed) {
  Rng r(seed);
  std::vector<CorpusMessage> out;
  out.reserve(count);
  for (std::size_t m = 0; m < count; ++m) {
    CorpusMessage msg;
    std::vector<std::string> seen;
    std::string h;
    const std::string rcpt = mailbox(r);
    msg.envelope_header = std::string(r.pick(kEnvelopeHeaders));
    h += "Return-Path: <" + mailbox(r) + ">\r\n";
    // The provider's envelope header on top, sometimes a qmail-style Delivered-To chain too.
    if (msg.envelope_header == "Delivered-To") {
      const std::string dom = rcpt.substr(rcpt.find('@') + 1);
      h += "Delivered-To: " + dom + "-" + rcpt + "\r\n";
    } else {
      h += msg.envelope_header + ": " + (r.chance(50) ? "<" + rcpt + ">" : rcpt);
      if (r.chance(20)) h += ", " + mailbox(r);
      h += "\r\n";
      if (r.chance(30)) h += "Delivered-To: " + mailbox(r) + "\r\n";
    }
    const std::size_t hops = r.range(2, 7);
    for (std::size_t i = 0; i < hops; ++i) h += received(r, rcpt);
    h += "Authentication-Results: mx1.provider.example;\r\n\tdkim=pass header.d=" +
         std::string(r.pick(kDomains)) + " header.s=sel1 header.b=" + b64(r, 8) +
         ";\r\n\tspf=pass (provider.example: domain of sender designates 192.0.2.7 as "
         "permitted sender) smtp.mailfrom=" +
         mailbox(r) + ";\r\n\tdmarc=pass (p=NONE sp=NONE dis=NONE) header.from=" +
         std::string(r.pick(kDomains)) + "\r\n";
    if (r.chance(40)) {
      h +=
          "ARC-Seal: i=1; a=rsa-sha256; t=1700000000; cv=none; d=provider.example; s=arc;\r\n\tb=" +
          b64(r, 70) + "\r\n\t " + b64(r, 70) + "\r\n";
      h += dkim(r, "ARC-Message-Signature");
    }
    const std::size_t sigs = r.range(0, 2);
    for (std::size_t i = 0; i < sigs; ++i) h += dkim(r, "DKIM-Signature");
    h += "From: " + display(r) + " <" + mailbox(r) + ">\r\n";
    h += address_list(r, "To", r.chance(70) ? r.range(1, 3) : r.range(4, 40), seen);
    if (r.chance(50)) h += address_list(r, "Cc", r.range(1, 30), seen);
    h += "Subject: " + std::string(r.pick(kSubjects)) + "\r\n";
    h += "Date: " + date(r) + "\r\n";
    h += "Message-ID: <" + b64(r, 16) + "." + std::to_string(m) + "@" +
         std::string(r.pick(kDomains)) + ">\r\n";
    h += "MIME-Version: 1.0\r\n";
    h += "Content-Type: multipart/alternative;\r\n\tboundary=\"b1_" + b64(r, 20) + "\"\r\n";
    if (r.chance(50)) h += "X-Mailer: Microsoft Outlook 16.0\r\n";
    if (r.chance(30))
      h += "List-Unsubscribe: <mailto:unsubscribe@lists.example.org?subject=" + b64(r, 10) +
           ">,\r\n <https://lists.example.org/u/" + b64(r, 24) + ">\r\n";
    h += "X-Spam-Status: No, score=-0.1 required=5.0 tests=DKIM_SIGNED,DKIM_VALID,\r\n\t"
         "SPF_PASS autolearn=ham version=3.4.6\r\n";
    h += "\r\n";
    msg.header_size = h.size();
    msg.text = std::move(h);
    msg.text += "Hallo,\r\n\r\nanbei die Unterlagen.\r\n\r\nGruss\r\n";
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace dropcheck::bench
