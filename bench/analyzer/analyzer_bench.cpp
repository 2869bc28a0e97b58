// The analyzer on a large generated journal: N accepted transactions (default 1,000,000) for
// N/2 scenario messages, each with two local recipients and realistic headers.
//   analyzer_bench [RECORDS]            judges the journal held in memory (analyzer::analyze);
//                                       prints wall time, records/s and peak RSS.
//   analyzer_bench --write DIR [RECORDS] writes the same journal as DIR/journal/journal.jsonl
//                                       (journal/'s writer, messages inline) and DIR/truth.json,
//                                       for `dropcheck analyze --journal DIR/journal --truth
//                                       DIR/truth.json` (the analyzer streaming from disk).
//   analyzer_bench --read JOURNALDIR    only the analyzer's reader thread's work on that journal
//                                       (journal::for_each_transaction, delivery_of): prints
//                                       records, CPU and wall seconds, peak RSS.
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

#include "analyzer/analyzer.hpp"
#include "analyzer/journal_input.hpp"
#include "base/strings.hpp"
#include "journal/codec.hpp"
#include "journal/reader.hpp"
#include "journal/records.hpp"

using namespace dropcheck::analyzer;
namespace journal = dropcheck::journal;

namespace {

// Generates the truth and hands each copy (one per recipient, as a per-recipient provider and a
// correct fetcher produce) to `each` in journal order.
Truth generate(std::size_t records, const std::function<void(Delivery&&)>& each) {
  const std::size_t messages = records / 2;
  Truth t;
  t.scenario = "bench";
  t.local_domains = {"firma.example"};
  t.interval_ms = 300'000;
  t.messages.reserve(messages);
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < messages; ++i) {
    const std::string id = fmt::format("m{}", i);
    const std::string raw = fmt::format(
        "Received: from mx{0}.sender.example (mx{0}.sender.example [192.0.2.{1}])\r\n"
        "\tby mx.provider.example with ESMTPS id {0}; Mon, 23 Nov 2026 09:00:00 +0100\r\n"
        "From: Sender {0} <s{0}@sender.example>\r\n"
        "To: u{2}@firma.example\r\n"
        "Cc: partner{0}@foreign.example\r\n"
        "Subject: message number {0}\r\n"
        "Message-ID: <{0}@sender.example>\r\n"
        "X-Dropcheck-Id: {3}\r\n"
        "\r\n"
        "Body of message {0}.\r\nSecond line.\r\n",
        i, i % 250, i % 97, id);
    TruthMessage m{
        id,
        fmt::format("s{}@sender.example", i),
        {fmt::format("u{}@firma.example", i % 97), fmt::format("b{}@firma.example", i % 89)},
        raw,
        static_cast<std::int64_t>(i),
        {}};
    for (const auto& rcpt : m.envelope_to) {
      Delivery d;
      d.seq = ++seq;
      d.mail_from = m.envelope_from;
      d.rcpts.push_back({rcpt, 250});
      d.data_code = 250;
      d.message = "Received: by dropcheck-fetcher\r\n" + raw;
      d.virtual_ms = static_cast<std::int64_t>(i) + 10;
      each(std::move(d));
    }
    t.messages.push_back(std::move(m));
  }
  t.end_ms = static_cast<std::int64_t>(messages) + 1'000'000;
  return t;
}

// The journal record fake-smtp writes for such a copy.
journal::TransactionRecord record_of(Delivery&& d) {
  journal::TransactionRecord r;
  r.seq = d.seq;
  r.session_id = fmt::format("s{}", d.seq);
  r.virtual_ms = r.data_end_virtual_ms = d.virtual_ms;
  r.client = "127.0.0.1:40000";
  r.helo_verb = "EHLO";
  r.helo = "fetcher.firma.example";
  r.mail_from = d.mail_from;
  r.mail_code = 250;
  for (const auto& rc : d.rcpts)
    r.rcpts.push_back({rc.address, "", rc.code, "2.1.5 Ok", true, false, rc.address, 0, ""});
  r.data_attempted = r.data_complete = r.accepted = true;
  r.data_start_code = 354;
  r.data_code = d.data_code;
  r.data_reply = "2.0.0 Ok: queued";
  r.size = d.message.size();
  r.sha256 = dropcheck::base::sha256_hex(d.message);
  r.message = std::move(d.message);
  r.end_reason = "data";
  r.commands = {{d.virtual_ms, 0, "MAIL FROM:<" + d.mail_from + ">", 250},
                {d.virtual_ms, 0, "RCPT TO:<" + d.rcpts.front().address + ">", 250},
                {d.virtual_ms, 0, "DATA", 354}};
  return r;
}

int write_run(const std::filesystem::path& dir, std::size_t records) {
  std::filesystem::create_directories(dir / "journal");
  std::ofstream out(journal::journal_file(dir / "journal"), std::ios::binary);
  std::string line;
  const Truth t = generate(records, [&](Delivery&& d) {
    line.clear();
    journal::append_json_line(record_of(std::move(d)), true, line);
    line.push_back('\n');
    out << line;
  });
  out.close();
  const auto saved = save_truth((dir / "truth.json").string(), t);
  if (!out || !saved.ok()) {
    fmt::print(stderr, "analyzer_bench: cannot write {}\n", dir.string());
    return 2;
  }
  fmt::print("wrote {} records, {} messages to {}\n", records, t.messages.size(), dir.string());
  return 0;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

int read_run(const std::filesystem::path& dir) {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  std::size_t records = 0, octets = 0;
  const auto tail = journal::for_each_transaction(
      dir, true,
      [&](journal::TransactionRecord& r) {
        const Delivery d = delivery_of(std::move(r));
        ++records;
        octets += d.message.size();
      },
      journal::Fields::analysis);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!tail) {
    fmt::print(stderr, "analyzer_bench: {}\n", tail.error().message);
    return 2;
  }
  fmt::print(
      "records={} message_octets={} torn_bytes={} cpu_s={:.2f} wall_s={:.2f} "
      "peak_rss_mib={:.0f}\n",
      records, octets, tail->torn_bytes, cpu_seconds() - cpu_start, wall, peak_rss_mib());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 2 && std::string_view(argv[1]) == "--write")
    return write_run(argv[2], argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1'000'000);
  if (argc > 2 && std::string_view(argv[1]) == "--read") return read_run(argv[2]);
  const std::size_t records = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  std::vector<Delivery> journal;
  journal.reserve(records);
  const auto gen_start = std::chrono::steady_clock::now();
  const Truth t = generate(records, [&](Delivery&& d) { journal.push_back(std::move(d)); });
  const auto start = std::chrono::steady_clock::now();
  const Report r = analyze(t, journal);
  const auto end = std::chrono::steady_clock::now();
  const double secs = std::chrono::duration<double>(end - start).count();
  fmt::print(
      "records={} messages={} findings={} generate_s={:.2f} analyze_s={:.2f} "
      "records_per_s={:.0f} peak_rss_mib={:.0f}\n",
      journal.size(), t.messages.size(), r.findings.size(),
      std::chrono::duration<double>(start - gen_start).count(), secs,
      static_cast<double>(journal.size()) / secs, peak_rss_mib());
  return r.findings.empty() ? 0 : 1;
}
