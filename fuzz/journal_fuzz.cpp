// libFuzzer target: the journal reader (journal::parse_journal / parse_sessions: the line
// reader that read_journal and the analyzer's streaming input go through) on arbitrary text:
// garbage, torn and corrupt records. Properties: only the documented errors, naming source and
// line; a torn tail is exactly the octets after the last LF; every record read writes back to the
// same line (to_json_line is its inverse); every prefix of a good journal (a crash mid-write) reads
// as the records before the cut plus a torn tail; a garbage line after them is an error naming
// its line; the fast line reader agrees with the tree reader on every line.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "journal/codec.hpp"
#include "journal/reader.hpp"

namespace journal = dropcheck::journal;

namespace {

constexpr std::string_view kSource = "journal.jsonl";

std::size_t lines_in(std::string_view s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::size_t torn_of(std::string_view s) {
  const auto nl = s.rfind('\n');
  return nl == std::string_view::npos ? s.size() : s.size() - nl - 1;
}

template <typename Parse>
auto parse_no_throw(Parse parse, std::string_view text) {
  try {
    return parse(text, kSource);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "journal reader threw: %s\n", e.what());
  }
  std::abort();
}

template <typename Result>
void check_error(const Result& r) {
  const std::string& c = r.error().code;
  FUZZ_CHECK(c == "journal-bad-line" || c == "message-corrupt");
  FUZZ_CHECK(r.error().message.starts_with(std::string(kSource) + ":"));
}

void check_transaction_round_trip(const journal::TransactionRecord& rec) {
  const std::string line = journal::to_json_line(rec, rec.message_inline);
  auto back = journal::from_json_line(line);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(journal::to_json_line(*back, back->message_inline) == line);
  FUZZ_CHECK(back->message == rec.message && back->commands.size() == rec.commands.size());
}

void check_session_round_trip(const journal::SessionRecord& rec) {
  const std::string line = journal::to_json_line(rec);
  auto back = journal::session_from_json_line(line);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(journal::to_json_line(*back) == line);
}

// A readable journal cut anywhere is what a crash mid-write leaves: the complete lines before
// the cut are records, the rest a torn tail. A garbage line after them names its line.
template <typename Parse>
void check_cuts(Parse parse, std::string_view text) {
  const std::size_t cuts = std::min<std::size_t>(text.size(), 8);
  for (std::size_t i = 1; i <= cuts; ++i) {
    const std::string_view prefix = text.substr(0, text.size() * i / (cuts + 1));
    auto r = parse_no_throw(parse, prefix);
    FUZZ_CHECK(r.ok());
    FUZZ_CHECK(r->records.size() == lines_in(prefix));
    FUZZ_CHECK(r->torn_bytes == torn_of(prefix) && r->torn_tail == (r->torn_bytes != 0));
  }
  if (torn_of(text) != 0) return;
  const std::string garbage = std::string(text) + "{\"version\":1,\n";
  auto r = parse_no_throw(parse, garbage);
  FUZZ_CHECK(!r.ok());
  FUZZ_CHECK(r.error().code == "journal-bad-line");
  const std::string where = std::string(kSource) + ":" + std::to_string(lines_in(text) + 1) + ":";
  FUZZ_CHECK(r.error().message.starts_with(where));
}

template <typename Parse, typename RoundTrip>
void check_reader(Parse parse, RoundTrip round_trip, std::string_view text) {
  auto r = parse_no_throw(parse, text);
  if (!r.ok()) {
    check_error(r);
    return;
  }
  FUZZ_CHECK(r->records.size() == lines_in(text));
  FUZZ_CHECK(r->torn_bytes == torn_of(text) && r->torn_tail == (r->torn_bytes != 0));
  for (const auto& rec : r->records) round_trip(rec);
  check_cuts(parse, text);
}

// The fast line reader reads every line as the tree reader does (the same record, or an error
// with the same message: it falls back on the tree for anything not in the writer's form).
void check_fast_reader(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(at, nl - at);
    at = nl + 1;
    const auto fast = journal::from_json_line(line);
    const auto tree = journal::from_json_line_tree(line);
    FUZZ_CHECK(fast.ok() == tree.ok());
    if (!fast.ok()) {
      FUZZ_CHECK(fast.error().message == tree.error().message);
      continue;
    }
    FUZZ_CHECK(fast->message == tree->message && fast->message_inline == tree->message_inline);
    FUZZ_CHECK(journal::to_json_line(*fast) == journal::to_json_line(*tree));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_reader([](std::string_view t, std::string_view s) { return journal::parse_journal(t, s); },
               check_transaction_round_trip, text);
  check_reader([](std::string_view t, std::string_view s) { return journal::parse_sessions(t, s); },
               check_session_round_trip, text);
  check_fast_reader(text);
  return 0;
}
