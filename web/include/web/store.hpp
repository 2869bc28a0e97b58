#pragma once
// What the page and the REST API show: journal records in arrival order, with the analyzer's
// findings per record when a view has them (dropcheck view with truth.json), bounded in
// memory, searchable, and cleared by "delete all" without touching the journal on disk.
// Not thread-safe: one Store belongs to one io_context's thread (fake-smtp posts records to it).
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "fake_smtp/journal.hpp"
#include "web/message.hpp"

namespace dropcheck::web {

// A finding of the analyzer as the viewer shows it (web does not depend on analyzer/: the
// caller converts analyzer::Finding).
struct Annotation {
  std::string type;       // envelope-header-leak, bcc-header-leak, duplicate, ...
  std::string recipient;  // the address concerned ("" when none)
  std::string evidence;   // the analyzer's evidence text (quotes the leaking header line)
};

struct Item {
  std::uint64_t id = 0;  // the API's {id}: fake-smtp: the journal seq; view: 1, 2, ... in order
  std::string source;    // the scenario (dropcheck view over a kept run); "" for fake-smtp
  fake_smtp::TransactionRecord rec;
  std::vector<Annotation> findings;
  // Derived once at add():
  std::vector<HeaderField> headers;
  std::string message_id;
  std::string subject;
  std::string search_key;  // lower-cased addresses and Message-ID, matched by ?q= and the page
};

// Findings of a source that belong to no journal record (lost-message, lost-recipient, ...).
struct SourceNote {
  std::string source;
  std::vector<Annotation> findings;
};

struct StoreLimits {
  // Records kept for the view (older ones leave the view, never the journal): a fake-smtp
  // that runs for weeks must not grow without bound.
  std::size_t max_items = 10'000;
  std::size_t max_message_octets = 256u << 20;  // message bytes held, all records together
};

class Store {
 public:
  explicit Store(StoreLimits limits = {}) : limits_(limits) {}

  // Adds a record; item.id 0 gets the next number. Returns the id. Evicts the oldest records
  // beyond the limits.
  std::uint64_t add(Item item);
  const Item* find(std::uint64_t id) const;
  // Newest first; `q` matches addresses (MAIL FROM, RCPT, From/To/Cc/Bcc/envelope headers) and
  // the Message-ID, case-insensitive substring; "" matches all. `total` is the match count.
  std::vector<const Item*> query(std::string_view q, std::size_t offset, std::size_t limit,
                                 std::size_t& total) const;
  // Delete all: the view is emptied; the ids so far stay used (the next record keeps counting).
  void clear();

  std::size_t size() const { return items_.size(); }
  std::uint64_t last_id() const { return last_id_; }
  // The highest id removed by clear() (0: never cleared) and how often it happened.
  std::uint64_t deleted_through() const { return deleted_through_; }
  std::uint64_t generation() const { return generation_; }
  std::uint64_t evicted() const { return evicted_; }
  std::vector<SourceNote>& notes() { return notes_; }
  const std::vector<SourceNote>& notes() const { return notes_; }
  const std::deque<Item>& items() const { return items_; }

 private:
  void evict();
  StoreLimits limits_;
  std::deque<Item> items_;
  std::vector<SourceNote> notes_;
  std::size_t octets_ = 0;
  std::uint64_t last_id_ = 0;
  std::uint64_t deleted_through_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t evicted_ = 0;
};

// The lower-cased search key of a record (Item::search_key).
std::string search_key(const fake_smtp::TransactionRecord& rec,
                       const std::vector<HeaderField>& headers);

}  // namespace dropcheck::web
