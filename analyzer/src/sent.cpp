// What the judge keeps of a message as sent (SentSummary): enough to judge every copy without
// the bytes.
#include <algorithm>
#include <set>

#include "analyzer/analyzer.hpp"
#include "base/strings.hpp"
#include "text.hpp"

namespace dropcheck::analyzer {

namespace detail {

std::array<unsigned char, 32> body_sha256(std::string_view message) {
  return crlf_sha256(split_message(message).second);
}

// What sha256(crlf(body)) gives, fed in runs between bare LFs: no copy of the body, no hex.
std::array<unsigned char, 32> crlf_sha256(std::string_view body) {
  thread_local base::Sha256 sha;  // one context per thread, reused
  sha.reset();
  std::size_t run = 0;  // start of the octets not yet fed
  for (auto nl = body.find('\n'); nl != std::string_view::npos; nl = body.find('\n', nl + 1)) {
    if (nl > 0 && body[nl - 1] == '\r') continue;
    sha.update(body.substr(run, nl - run));
    sha.update("\r");
    run = nl;
  }
  sha.update(body.substr(run));
  return sha.digest();
}

}  // namespace detail

using namespace detail;

namespace {

// The lines of the unfolded header section (split at LF, CR kept) that name one of `addrs`
// (lower-case) or hold an encoded-word: a line of a copy that the sent header section contains
// and that names one of them (plainly or encoded) lies within one of these.
std::vector<std::string> quoting_lines(const std::string& raw,
                                       const std::vector<std::string>& addrs) {
  std::vector<std::string> out;
  const std::string head = unfold(split_message(raw).first);
  const std::string_view text = head;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.find("=?") != std::string_view::npos ||
        std::any_of(addrs.begin(), addrs.end(), [&](const std::string& a) {
          return find_lower(line, a, 0) != std::string_view::npos;
        }))
      out.emplace_back(line);
  }
  return out;
}

}  // namespace

SentSummary summarize(const TruthMessage& m) {
  SentSummary s;
  s.body_sha256 = body_sha256(m.raw);
  const std::vector<std::string> visible = visible_addresses(m.raw);
  const std::set<std::string> visible_set(visible.begin(), visible.end());
  for (const auto& r : m.envelope_to)
    if (!visible_set.count(norm(r))) s.envelope_only.push_back(norm(r));
  for (const auto& b : s.envelope_only)
    s.envelope_only_mentions.push_back(mention_counts(m.raw, b));
  if (!s.envelope_only.empty()) s.quoting_lines = quoting_lines(m.raw, s.envelope_only);
  return s;
}

}  // namespace dropcheck::analyzer
