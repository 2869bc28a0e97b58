#pragma once
// The judge's working state and its rule table (private to analyzer/). The journal streams
// through Judge::add one transaction at a time; per scenario message the judge keeps only what
// its rules need (counts, first copies, bounded evidence), never the copies' bytes.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "text.hpp"

namespace dropcheck::analyzer::detail {

// A mailbox (normalised address) as a number into Context::mailboxes: a message's state names
// its recipients by these, not by a string each (a large journal has few distinct mailboxes
// and many messages).
using MailboxId = std::uint32_t;

// Sorted vectors for the few recipients of one message: a std::set/std::map node per entry
// cost ~100 octets more each, over every message of a large journal. Same names as std::set /
// std::map; iterated in MailboxId order (rules report in a sorted order of their own).
class FlatSet {
 public:
  bool count(MailboxId k) const { return std::binary_search(v_.begin(), v_.end(), k); }
  void insert(MailboxId k) {
    const auto it = std::lower_bound(v_.begin(), v_.end(), k);
    if (it == v_.end() || *it != k) v_.insert(it, k);
  }
  bool empty() const { return v_.empty(); }
  auto begin() const { return v_.begin(); }
  auto end() const { return v_.end(); }

 private:
  std::vector<MailboxId> v_;
};

template <typename V>
class FlatMap {
 public:
  using Entry = std::pair<MailboxId, V>;
  const V* find(MailboxId k) const {
    const auto it = lower(k);
    return it != v_.end() && it->first == k ? &it->second : nullptr;
  }
  bool count(MailboxId k) const { return find(k) != nullptr; }
  const V& at(MailboxId k) const {  // k must be present
    return *find(k);
  }
  V& operator[](MailboxId k) {
    auto it = lower(k);
    if (it == v_.end() || it->first != k) it = v_.insert(it, Entry{k, V{}});
    return it->second;
  }
  void emplace(MailboxId k, V value) {  // kept if k is present
    const auto it = lower(k);
    if (it == v_.end() || it->first != k) v_.insert(it, Entry{k, std::move(value)});
  }
  bool empty() const { return v_.empty(); }
  auto begin() const { return v_.begin(); }
  auto end() const { return v_.end(); }

 private:
  typename std::vector<Entry>::const_iterator lower(MailboxId k) const {
    return std::lower_bound(v_.begin(), v_.end(), k,
                            [](const Entry& e, MailboxId key) { return e.first < key; });
  }
  typename std::vector<Entry>::iterator lower(MailboxId k) {
    return std::lower_bound(v_.begin(), v_.end(), k,
                            [](const Entry& e, MailboxId key) { return e.first < key; });
  }
  std::vector<Entry> v_;
};

// A recipient's first accepted copy of a message.
struct FirstCopy {
  std::uint64_t seq = 0;
  std::int64_t virtual_ms = 0;
};

// What the judge knows of one scenario message: what it expects (from the truth, prepared at
// its first copy) and what its copies did so far.
struct MessageState {
  const TruthMessage* m = nullptr;
  FlatSet expected;         // local mailboxes it is for (after aliases and fallback)
  int fallback_copies = 0;  // copies the fallback may get (one per foreign recipient)
  std::shared_ptr<const SentSummary> sent;  // what it was as sent (TruthMessage::sent, or made)
  FlatMap<int> got;                 // accepted copies per mailbox (the mailboxes it reached)
  FlatMap<FirstCopy> first_to;      // recipient it was for -> first accepted copy
  std::vector<std::string> leaked;  // envelope-only addresses reported as leaked
  std::int64_t first_relay = -1;    // journal seq that relayed it out
  bool looped = false;
  // Its accepted deliveries as MessageStats::deliveries lists them, mailboxes by number.
  struct Delivered {
    MailboxId mailbox = 0;
    std::uint64_t seq = 0;
    std::int64_t virtual_ms = 0;
  };
  std::vector<Delivered> deliveries;
  // MessageStats' counts and times; the rest of its statistics (id, names, per-recipient
  // latencies) is made from the state when the report is.
  std::size_t copies = 0;
  std::size_t deliveries_total = 0;
  std::int64_t latency_ms = -1;
  std::int64_t data_ms = -1;
};

struct Context {
  explicit Context(const Truth& t);
  bool is_local(const std::string& address) const;
  std::string resolve(const std::string& address) const;  // aliases, then unknown -> fallback
  MessageState& state(std::size_t message);               // prepared on first use
  MailboxId mailbox(const std::string& normalized);       // its number (a new one if new)
  const std::string& name(MailboxId id) const { return mailboxes[id]; }
  void add(std::string type, std::string message, std::string rcpt, std::string evidence,
           std::int64_t seq, bool blind_copy = false);
  // Whether a copy of m's group of identical messages reached any mailbox, or `mailbox`.
  bool group_reached_any(const TruthMessage& m) const;
  bool group_reached(const TruthMessage& m, MailboxId mailbox) const;

  const Truth& truth;
  std::set<std::string> local;                             // lower-cased local domains
  std::set<std::string> users;                             // normalised; empty: any
  std::vector<std::string> mailboxes;                      // by MailboxId
  std::unordered_map<std::string, MailboxId> mailbox_ids;  // the reverse
  MailboxId fallback = 0;                                  // mailbox(norm(truth.fallback))
  std::vector<std::unique_ptr<MessageState>> messages;     // truth order; null until used
  std::map<std::string, std::vector<std::size_t>> by_tag;  // X-Dropcheck-Id -> messages
  // Body SHA-256 (binary) -> tag, built at the first untagged copy.
  std::unique_ptr<std::unordered_map<std::string, std::string>> body_tag;
  std::vector<std::pair<std::int64_t, std::uint64_t>> data_phases;  // (ms, seq), small copies
  std::vector<Finding> findings;
  std::size_t transactions = 0;
};

// One journal transaction as the rules see it.
struct Transaction {
  const Delivery& d;
  bool data_accepted = false;                  // DATA got a 2xx
  MessageState* msg = nullptr;                 // the scenario message it is a copy of (null: none)
  const std::vector<std::string>& accepted;    // local mailboxes that accepted it, RCPT order
  const std::vector<MailboxId>& accepted_ids;  // the same by number
};

// One function per finding type, in report order (finding_types() is this table's names):
// `each` sees every journal transaction in order, `at_end` runs once after the last.
struct Rule {
  std::string_view type;
  void (*each)(const Transaction&, Context&);
  void (*at_end)(Context&);
};
std::span<const Rule> rules();

// The rules on provider-side facts (provider_rules.cpp).
void judge_cleartext_credentials(Context& ctx);
void judge_login_refused(Context& ctx);
void judge_silent_login_failure(Context& ctx);
void judge_over_polling(Context& ctx);

// The X-Dropcheck-Id a message carries: its id, or the tag its identical copies share.
const std::string& tag_of(const TruthMessage& m);

}  // namespace dropcheck::analyzer::detail
