#include "analyzer/journal_input.hpp"

#include <algorithm>
#include <string>

#include "journal/reader.hpp"

namespace dropcheck::analyzer {

Delivery delivery_of(journal::TransactionRecord&& r) {
  Delivery d;
  d.seq = r.seq;
  d.session = std::move(r.session_id);
  d.virtual_ms = r.data_end_virtual_ms ? r.data_end_virtual_ms : r.virtual_ms;
  d.real_ms = r.data_end_real_ms ? r.data_end_real_ms : r.real_ms;
  d.mail_from = r.mail_from_null ? "" : std::move(r.mail_from);
  for (auto& rc : r.rcpts) {
    if (r.lmtp && rc.code >= 200 && rc.code < 300) d.lmtp_codes.push_back(rc.data_code);
    d.rcpts.push_back({std::move(rc.address), rc.code});
  }
  d.data_code = r.data_complete ? r.data_code : 0;
  if (r.lmtp && r.data_complete) {
    // LMTP: the message is accepted if any recipient's final reply was positive.
    const bool any = std::any_of(d.lmtp_codes.begin(), d.lmtp_codes.end(),
                                 [](int c) { return c >= 200 && c < 300; });
    d.data_code = any ? 250 : r.data_code;
  }
  d.message = std::move(r.message);
  d.relayed_out = r.relayed_out;
  for (const auto& c : r.commands)
    if (c.line.size() >= 4 &&
        (c.line.compare(0, 4, "DATA") == 0 || c.line.compare(0, 4, "data") == 0))
      d.data_real_ms = c.real_ms;
  if (d.data_real_ms >= 0 && r.data_complete) d.data_end_real_ms = r.data_end_real_ms;
  return d;
}

base::Result<Report> analyze_journal(const Truth& truth, const std::filesystem::path& dir) {
  Judge judge(truth);
  auto tail = journal::for_each_transaction(
      dir, true, [&](journal::TransactionRecord& r) { judge.add(delivery_of(std::move(r))); },
      journal::Fields::analysis);
  if (!tail) return tail.error();
  if (tail->torn_tail)
    return base::make_error("journal-torn", journal::journal_file(dir).string() +
                                                ": last line is incomplete (" +
                                                std::to_string(tail->torn_bytes) + " octets)");
  return judge.finish();
}

}  // namespace dropcheck::analyzer
