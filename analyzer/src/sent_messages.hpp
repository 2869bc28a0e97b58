#pragma once
// The scenario messages as the judge keeps them (private to analyzer/): each message's id,
// tag, envelope and SentSummary in a few flat tables, addresses by number, instead of strings
// and vectors per message. A large truth has many messages and few distinct recipients: a
// TruthMessage with its SentSummary took ~600 octets of heap per message, this ~130.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "text.hpp"

namespace dropcheck::analyzer {

class SentMessages {
 public:
  using Address = std::uint32_t;  // a number into the table of addresses
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};

  // Appends m (its raw bytes are not read) with its summary.
  void add(const TruthMessage& m, const SentSummary& s);
  // Builds the group index (tag -> members); once, after the last add().
  void seal();

  std::size_t size() const { return entries_.size(); }
  std::string_view id(std::size_t i) const { return text(i, 0); }
  // The X-Dropcheck-Id it carries: its tag, or its id when it has none.
  std::string_view tag(std::size_t i) const;
  std::string_view envelope_from(std::size_t i) const { return text(i, 2); }
  std::int64_t injected_ms(std::size_t i) const { return entries_[i].injected_ms; }
  const std::array<unsigned char, 32>& body_sha256(std::size_t i) const {
    return entries_[i].body_sha256;
  }
  std::span<const Address> envelope_to(std::size_t i) const;
  // SentSummary::envelope_only, envelope_only_mentions and quoting_lines of message i.
  std::span<const Address> envelope_only(std::size_t i) const;
  const detail::MentionCounts& mentions(std::size_t i, std::size_t k) const {
    return mentions_[entries_[i].only + k];
  }
  std::vector<std::string> quoting_lines(std::size_t i) const;
  const std::string& address(Address a) const { return addresses_[a]; }

  // The first message (truth order) of the group carrying X-Dropcheck-Id `tag`, kNone if none;
  // next_in_group() the one after (kNone after the last).
  std::uint32_t group(std::string_view tag) const;
  std::uint32_t next_in_group(std::size_t i) const { return next_[i]; }

 private:
  struct Entry {
    std::uint64_t text = 0;              // offset of id, tag, envelope_from in text_
    std::array<std::uint32_t, 3> len{};  // their lengths
    std::uint32_t to = 0;                // first of envelope_to in to_
    std::uint32_t only = 0;              // first of envelope_only in only_ (and mentions_)
    std::uint32_t lines = 0;             // first of quoting_lines in lines_
    std::int64_t injected_ms = 0;
    std::array<unsigned char, 32> body_sha256{};
  };
  struct Line {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
  };
  std::string_view text(std::size_t i, std::size_t k) const;
  Address intern(const std::string& address);
  std::uint32_t end_of(std::size_t i, std::uint32_t Entry::*member, std::size_t total) const;

  std::vector<Entry> entries_;
  std::string text_;
  std::vector<Address> to_;                      // envelope_to of every message
  std::vector<Address> only_;                    // envelope_only of every message
  std::vector<detail::MentionCounts> mentions_;  // parallel to only_
  std::vector<Line> lines_;
  std::vector<std::string> addresses_;
  std::unordered_map<std::string, Address> address_ids_;
  // Groups: an open-addressing table of each group's first member (hash of its tag), and the
  // next member of each message's group.
  std::vector<std::uint32_t> groups_;
  std::vector<std::uint32_t> next_;
};

}  // namespace dropcheck::analyzer
