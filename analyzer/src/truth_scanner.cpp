#include "truth_scanner.hpp"

#include <cstdint>
#include <utility>

#include "base/strings.hpp"

namespace dropcheck::analyzer::detail {
namespace {

// A cursor over the text that fails (returns false) at the first deviation from the form.
class Scanner {
 public:
  explicit Scanner(std::string_view text, std::size_t pos) : t_(text), pos_(pos) {}
  std::size_t pos() const { return pos_; }

  bool lit(std::string_view s) {
    if (t_.substr(pos_, s.size()) != s) return false;
    pos_ += s.size();
    return true;
  }
  bool peek(std::string_view s) const { return t_.substr(pos_, s.size()) == s; }

  // A JSON string as dump writes an ASCII one: printable, no '"' or '\' inside (those, control
  // characters and non-ASCII octets are escaped or need UTF-8 checks: nlohmann reads them).
  bool str(std::string& out) {
    if (!lit("\"")) return false;
    const std::size_t start = pos_;
    for (; pos_ < t_.size(); ++pos_) {
      const auto c = static_cast<unsigned char>(t_[pos_]);
      if (c == '"') break;
      if (c < 0x20 || c > 0x7E || c == '\\') return false;
    }
    if (pos_ >= t_.size()) return false;
    out.assign(t_.substr(start, pos_ - start));
    ++pos_;
    return true;
  }

  // The base64 text of raw_base64, decoded: only the alphabet and '='.
  bool base64(std::string& out) {
    if (!lit("\"")) return false;
    const std::size_t end = t_.find('"', pos_);
    if (end == std::string_view::npos) return false;
    auto decoded = base::base64_decode_alphabet(t_.substr(pos_, end - pos_));
    if (!decoded) return false;
    out = std::move(*decoded);
    pos_ = end + 1;
    return true;
  }

  // An integer as dump writes one (no leading zeros, no '+', no fraction or exponent) that fits.
  bool int64(std::int64_t& out) {
    const bool negative = lit("-");
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    for (; pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9'; ++pos_) {
      const auto d = static_cast<std::uint64_t>(t_[pos_] - '0');
      if (v > (UINT64_MAX - d) / 10) return false;
      v = v * 10 + d;
    }
    const std::size_t digits = pos_ - start;
    if (digits == 0 || (digits > 1 && t_[start] == '0')) return false;
    const std::uint64_t limit = negative ? std::uint64_t{INT64_MAX} + 1 : INT64_MAX;
    if (v > limit || (negative && v == 0)) return false;
    out = negative ? static_cast<std::int64_t>(~v + 1) : static_cast<std::int64_t>(v);
    return true;
  }

  // "envelope_to": [] or its elements, one per line.
  bool list(std::vector<std::string>& out) {
    if (lit("[]")) return true;
    if (!lit("[")) return false;
    do {
      out.emplace_back();
      if (!lit("\n    ") || !str(out.back())) return false;
    } while (lit(","));
    return lit("\n   ]");
  }

  // One element of "messages", after its "\n  {".
  bool message(TruthMessage& m) {
    return lit("\n   \"envelope_from\": ") && str(m.envelope_from) &&
           lit(",\n   \"envelope_to\": ") && list(m.envelope_to) && lit(",\n   \"id\": ") &&
           str(m.id) && lit(",\n   \"injected_ms\": ") && int64(m.injected_ms) &&
           lit(",\n   \"raw_base64\": ") && base64(m.raw) && lit(",\n   \"tag\": ") && str(m.tag) &&
           lit("\n  }");
  }

 private:
  std::string_view t_;
  std::size_t pos_;
};

}  // namespace

std::optional<TruthHead> scan_truth_messages(std::string_view text,
                                             const std::function<void(TruthMessage&&)>& each,
                                             const std::function<void(std::size_t)>& done_upto) {
  constexpr std::string_view kMember = "\n \"messages\": ";
  const std::size_t at = text.find(kMember);
  if (at == std::string_view::npos) return std::nullopt;
  Scanner s(text, at + kMember.size());
  if (!s.lit("[]")) {
    if (!s.lit("[")) return std::nullopt;
    do {
      TruthMessage m;
      if (!s.lit("\n  {") || !s.message(m)) return std::nullopt;
      each(std::move(m));
      done_upto(s.pos());
    } while (s.lit(","));
    if (!s.lit("\n ]")) return std::nullopt;
  }
  TruthHead head;
  head.text.reserve(text.size() - s.pos() + at + kMember.size() + 2);
  head.text.append(text.substr(0, at + kMember.size()));
  head.text.append("[]");
  head.text.append(text.substr(s.pos()));
  return head;
}

}  // namespace dropcheck::analyzer::detail
