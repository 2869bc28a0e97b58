#include "sent_messages.hpp"

#include <functional>

namespace dropcheck::analyzer {

void SentMessages::add(const TruthMessage& m, const SentSummary& s) {
  Entry e;
  e.text = text_.size();
  const std::string* parts[] = {&m.id, &m.tag, &m.envelope_from};
  for (std::size_t k = 0; k < 3; ++k) {
    e.len[k] = static_cast<std::uint32_t>(parts[k]->size());
    text_ += *parts[k];
  }
  e.to = static_cast<std::uint32_t>(to_.size());
  for (const auto& r : m.envelope_to) to_.push_back(intern(r));
  e.only = static_cast<std::uint32_t>(only_.size());
  for (std::size_t k = 0; k < s.envelope_only.size(); ++k) {
    only_.push_back(intern(s.envelope_only[k]));
    mentions_.push_back(s.envelope_only_mentions[k]);
  }
  e.lines = static_cast<std::uint32_t>(lines_.size());
  for (const auto& l : s.quoting_lines) {
    lines_.push_back({text_.size(), l.size()});
    text_ += l;
  }
  e.injected_ms = m.injected_ms;
  e.body_sha256 = s.body_sha256;
  entries_.push_back(e);
}

SentMessages::Address SentMessages::intern(const std::string& address) {
  const auto [it, added] = address_ids_.try_emplace(address, Address{});
  if (added) {
    it->second = static_cast<Address>(addresses_.size());
    addresses_.push_back(address);
  }
  return it->second;
}

std::string_view SentMessages::text(std::size_t i, std::size_t k) const {
  const Entry& e = entries_[i];
  std::size_t at = e.text;
  for (std::size_t j = 0; j < k; ++j) at += e.len[j];
  return std::string_view(text_).substr(at, e.len[k]);
}

std::string_view SentMessages::tag(std::size_t i) const {
  const std::string_view t = text(i, 1);
  return t.empty() ? id(i) : t;
}

std::uint32_t SentMessages::end_of(std::size_t i, std::uint32_t Entry::*member,
                                   std::size_t total) const {
  return i + 1 < entries_.size() ? entries_[i + 1].*member : static_cast<std::uint32_t>(total);
}

std::span<const SentMessages::Address> SentMessages::envelope_to(std::size_t i) const {
  const std::uint32_t b = entries_[i].to;
  return std::span<const Address>(to_).subspan(b, end_of(i, &Entry::to, to_.size()) - b);
}

std::span<const SentMessages::Address> SentMessages::envelope_only(std::size_t i) const {
  const std::uint32_t b = entries_[i].only;
  return std::span<const Address>(only_).subspan(b, end_of(i, &Entry::only, only_.size()) - b);
}

std::vector<std::string> SentMessages::quoting_lines(std::size_t i) const {
  std::vector<std::string> out;
  for (std::uint32_t k = entries_[i].lines; k < end_of(i, &Entry::lines, lines_.size()); ++k)
    out.emplace_back(std::string_view(text_).substr(lines_[k].offset, lines_[k].size));
  return out;
}

void SentMessages::seal() {
  entries_.shrink_to_fit();
  text_.shrink_to_fit();
  // At most half full: a probe sequence stays short.
  std::size_t slots = 16;
  while (slots < 2 * entries_.size()) slots *= 2;
  groups_.assign(slots, kNone);
  next_.assign(entries_.size(), kNone);
  std::vector<std::uint32_t> last(slots, kNone);  // last member so far, per slot
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const std::string_view t = tag(i);
    std::size_t s = std::hash<std::string_view>{}(t) & (slots - 1);
    while (groups_[s] != kNone && tag(groups_[s]) != t) s = (s + 1) & (slots - 1);
    if (groups_[s] == kNone)
      groups_[s] = static_cast<std::uint32_t>(i);
    else
      next_[last[s]] = static_cast<std::uint32_t>(i);
    last[s] = static_cast<std::uint32_t>(i);
  }
}

std::uint32_t SentMessages::group(std::string_view t) const {
  const std::size_t slots = groups_.size();
  if (slots == 0) return kNone;
  std::size_t s = std::hash<std::string_view>{}(t) & (slots - 1);
  while (groups_[s] != kNone) {
    if (tag(groups_[s]) == t) return groups_[s];
    s = (s + 1) & (slots - 1);
  }
  return kNone;
}

}  // namespace dropcheck::analyzer
