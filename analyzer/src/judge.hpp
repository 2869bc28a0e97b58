#pragma once
// The judge's working state and its rule table (private to analyzer/). The journal streams
// through Judge::add one transaction at a time; per scenario message the judge keeps only what
// its rules need (counts, first copies, bounded evidence), never the copies' bytes.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "sent_messages.hpp"
#include "text.hpp"

namespace dropcheck::analyzer::detail {

// A mailbox (normalised address) as a number into Context::mailboxes: a message's state names
// its recipients by these, not by a string each (a large journal has few distinct mailboxes
// and many messages).
using MailboxId = std::uint32_t;

// A vector of trivially copyable elements whose first N live inline: a message's one or two
// recipients need no heap block of their own (each cost ~30 octets more, over every message of
// a large journal). Only what the judge uses of std::vector.
template <typename T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SmallVec() = default;
  SmallVec(const SmallVec&) = delete;
  SmallVec& operator=(const SmallVec&) = delete;
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      release();
      take(o);
    }
    return *this;
  }
  ~SmallVec() { release(); }

  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* insert(const T* pos, const T& value) {
    const std::size_t k = static_cast<std::size_t>(pos - data());
    grow(size_ + 1);
    T* d = data();
    std::memmove(static_cast<void*>(d + k + 1), d + k, (size_ - k) * sizeof(T));
    ::new (static_cast<void*>(d + k)) T(value);
    ++size_;
    return d + k;
  }
  void push_back(const T& value) { insert(end(), value); }

 private:
  bool on_heap() const { return cap_ > N; }
  T* data() { return on_heap() ? heap_ : reinterpret_cast<T*>(in_); }
  const T* data() const { return on_heap() ? heap_ : reinterpret_cast<const T*>(in_); }
  void grow(std::size_t n) {
    if (n <= cap_) return;
    const std::size_t cap = std::max<std::size_t>(n, 2 * cap_);
    T* p = static_cast<T*>(::operator new(cap * sizeof(T)));
    std::memcpy(static_cast<void*>(p), data(), size_ * sizeof(T));
    release();
    heap_ = p;
    cap_ = static_cast<std::uint32_t>(cap);
  }
  void release() {
    if (on_heap()) ::operator delete(heap_);
    cap_ = N;
  }
  void take(SmallVec& o) {
    std::memcpy(static_cast<void*>(this), &o, sizeof(SmallVec));
    o.cap_ = N;
    o.size_ = 0;
  }

  union {
    alignas(T) unsigned char in_[N * sizeof(T)];
    T* heap_;
  };
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = N;
};

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
  SmallVec<MailboxId, 2> v_;
};

template <typename V>
class FlatMap {
 public:
  struct Entry {  // not std::pair: that is not trivially copyable
    MailboxId first;
    V second;
  };
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
  const Entry* lower(MailboxId k) const {
    return std::lower_bound(v_.begin(), v_.end(), k,
                            [](const Entry& e, MailboxId key) { return e.first < key; });
  }
  Entry* lower(MailboxId k) {
    return std::lower_bound(v_.begin(), v_.end(), k,
                            [](const Entry& e, MailboxId key) { return e.first < key; });
  }
  SmallVec<Entry, 2> v_;
};

// A recipient's first accepted copy of a message.
struct FirstCopy {
  std::uint64_t seq = 0;
  std::int64_t virtual_ms = 0;
};

// What the judge knows of one scenario message: what it expects (from the truth, prepared at
// its first copy) and what its copies did so far.
struct MessageState {
  std::uint32_t i = 0;  // its number in Context::sent (truth order)
  bool prepared = false;
  bool looped = false;
  int fallback_copies = 0;            // copies the fallback may get (one per foreign recipient)
  FlatSet expected;                   // local mailboxes it is for (after aliases and fallback)
  FlatMap<int> got;                   // accepted copies per mailbox (the mailboxes it reached)
  FlatMap<FirstCopy> first_to;        // recipient it was for -> first accepted copy
  SmallVec<std::uint32_t, 1> leaked;  // envelope-only addresses reported as leaked (by number)
  std::int64_t first_relay = -1;      // journal seq that relayed it out
  // Its accepted deliveries as MessageStats::deliveries lists them, mailboxes by number.
  struct Delivered {
    MailboxId mailbox = 0;
    std::uint64_t seq = 0;
    std::int64_t virtual_ms = 0;
  };
  SmallVec<Delivered, 2> deliveries;
  // MessageStats' counts and times; the rest of its statistics (id, names, per-recipient
  // latencies) is made from the state when the report is.
  std::size_t copies = 0;
  std::size_t deliveries_total = 0;
  std::int64_t latency_ms = -1;
  std::int64_t data_ms = -1;
};

struct Context {
  explicit Context(const Truth& t);
  bool is_local(std::string_view address) const;
  std::string resolve(const std::string& address) const;  // aliases, then unknown -> fallback
  MessageState& state(std::size_t message);               // prepared on first use
  MailboxId mailbox(const std::string& normalized);       // its number (a new one if new)
  const std::string& name(MailboxId id) const { return mailboxes[id]; }
  void add(std::string type, std::string message, std::string rcpt, std::string evidence,
           std::int64_t seq, bool blind_copy = false);
  // Whether a copy of message i's group of identical messages reached any mailbox, or
  // `mailbox`.
  bool group_reached_any(std::size_t i) const;
  bool group_reached(std::size_t i, MailboxId mailbox) const;

  const Truth& truth;
  std::shared_ptr<const SentMessages> sent_owned;  // truth.summarized, or made from truth
  const SentMessages& sent;
  std::set<std::string> local;                             // lower-cased local domains
  std::set<std::string> users;                             // normalised; empty: any
  std::vector<std::string> mailboxes;                      // by MailboxId
  std::unordered_map<std::string, MailboxId> mailbox_ids;  // the reverse
  MailboxId fallback = 0;                                  // mailbox(norm(truth.fallback))
  std::vector<MessageState> messages;                      // truth order; prepared when used
  // Body SHA-256 (binary) -> the first message of its group, built at the first untagged copy.
  std::unique_ptr<std::unordered_map<std::string, std::uint32_t>> body_group;
  std::vector<std::pair<std::int64_t, std::uint64_t>> data_phases;  // (ms, seq), small copies
  std::vector<Finding> findings;
  std::size_t transactions = 0;
};

// One journal transaction as the rules see it.
struct Transaction {
  const Delivery& d;
  std::string_view head, body;                 // d.message split once (split_message)
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

}  // namespace dropcheck::analyzer::detail
