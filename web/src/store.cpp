#include "web/store.hpp"

#include <algorithm>

#include "base/strings.hpp"

namespace dropcheck::web {
namespace {

bool is_address_header(std::string_view name) {
  for (const char* h : {"From", "To", "Cc", "Bcc", "Sender", "Reply-To", "Return-Path"})
    if (base::iequals(name, h)) return true;
  return is_envelope_header(name);
}

}  // namespace

std::string search_key(const fake_smtp::TransactionRecord& rec,
                       const std::vector<HeaderField>& headers) {
  std::string key = rec.mail_from;
  for (const auto& r : rec.rcpts) key += "\n" + r.address;
  for (const auto& f : headers)
    if (is_address_header(f.name) || base::iequals(f.name, "Message-ID")) key += "\n" + f.value;
  return base::to_lower(key);
}

std::uint64_t Store::add(Item item) {
  item.id = item.id == 0 ? last_id_ + 1 : item.id;
  last_id_ = std::max(last_id_, item.id);
  item.headers = header_fields(item.rec.message);
  item.message_id = field_value(item.headers, "Message-ID");
  item.subject = field_value(item.headers, "Subject");
  item.search_key = search_key(item.rec, item.headers);
  octets_ += item.rec.message.size();
  // fake-smtp's I/O threads may hand records over slightly out of seq order: keep ids sorted.
  const auto at = std::upper_bound(items_.begin(), items_.end(), item.id,
                                   [](std::uint64_t v, const Item& i) { return v < i.id; });
  items_.insert(at, std::move(item));
  evict();
  return last_id_;
}

void Store::evict() {
  while (items_.size() > 1 &&
         (items_.size() > limits_.max_items || octets_ > limits_.max_message_octets)) {
    octets_ -= items_.front().rec.message.size();
    items_.pop_front();
    ++evicted_;
  }
}

const Item* Store::find(std::uint64_t id) const {
  const auto it = std::lower_bound(items_.begin(), items_.end(), id,
                                   [](const Item& i, std::uint64_t v) { return i.id < v; });
  return it != items_.end() && it->id == id ? &*it : nullptr;
}

std::vector<const Item*> Store::query(std::string_view q, std::size_t offset, std::size_t limit,
                                      std::size_t& total) const {
  const std::string needle = base::to_lower(base::trim(q));
  std::vector<const Item*> out;
  total = 0;
  for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
    if (it->search_key.find(needle) == std::string::npos) continue;
    if (total >= offset && out.size() < limit) out.push_back(&*it);
    ++total;
  }
  return out;
}

void Store::clear() {
  deleted_through_ = last_id_;
  ++generation_;
  items_.clear();
  notes_.clear();
  octets_ = 0;
}

}  // namespace dropcheck::web
