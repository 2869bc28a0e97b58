#pragma once
// The analyzer's input: journal/'s records as the analyzer's Deliveries, and a whole journal
// directory judged as it streams from disk (one record in memory at a time).
#include <filesystem>

#include "analyzer/analyzer.hpp"
#include "base/result.hpp"
#include "journal/records.hpp"

namespace dropcheck::analyzer {

// The one conversion from a journal record (its message moved out of `r`).
Delivery delivery_of(journal::TransactionRecord&& r);

// Reads DIR/journal.jsonl line by line (messages inline or from DIR/messages/, checked) into a
// Judge. Errors: the journal reader's ("journal-missing", "journal-bad-line", ...) and
// "journal-torn" when the last line is incomplete.
base::Result<Report> analyze_journal(const Truth& truth, const std::filesystem::path& dir);
// The same, the report handed to `sink` (Judge::finish(ReportSink&)) instead of returned.
base::Status analyze_journal(const Truth& truth, const std::filesystem::path& dir,
                             ReportSink& sink);

}  // namespace dropcheck::analyzer
