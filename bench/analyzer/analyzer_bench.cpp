// The analyzer on a large generated journal: N accepted transactions (default 1,000,000) for
// N/2 scenario messages, each with two local recipients and realistic headers. Prints wall
// time, records/s and peak RSS. Usage: analyzer_bench [RECORDS]
#include <fmt/format.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "analyzer/analyzer.hpp"

using namespace dropcheck::analyzer;

int main(int argc, char** argv) {
  const std::size_t records = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const std::size_t messages = records / 2;
  Truth t;
  t.scenario = "bench";
  t.local_domains = {"firma.example"};
  t.interval_ms = 300'000;
  t.messages.reserve(messages);
  std::vector<Delivery> journal;
  journal.reserve(records);
  const auto gen_start = std::chrono::steady_clock::now();
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
    TruthMessage m{id, fmt::format("s{}@sender.example", i),
                   {fmt::format("u{}@firma.example", i % 97), fmt::format("b{}@firma.example", i % 89)},
                   raw, static_cast<std::int64_t>(i), {}};
    // One copy per recipient, as a per-recipient provider and a correct fetcher produce.
    for (const auto& rcpt : m.envelope_to) {
      Delivery d;
      d.seq = journal.size() + 1;
      d.mail_from = m.envelope_from;
      d.rcpts.push_back({rcpt, 250});
      d.data_code = 250;
      d.message = "Received: by dropcheck-fetcher\r\n" + raw;
      d.virtual_ms = static_cast<std::int64_t>(i) + 10;
      journal.push_back(std::move(d));
    }
    t.messages.push_back(std::move(m));
  }
  t.end_ms = static_cast<std::int64_t>(messages) + 1'000'000;
  const auto start = std::chrono::steady_clock::now();
  const Report r = analyze(t, journal);
  const auto end = std::chrono::steady_clock::now();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double secs = std::chrono::duration<double>(end - start).count();
  fmt::print("records={} messages={} findings={} generate_s={:.2f} analyze_s={:.2f} "
             "records_per_s={:.0f} peak_rss_mib={:.0f}\n",
             journal.size(), messages, r.findings.size(),
             std::chrono::duration<double>(start - gen_start).count(), secs,
             static_cast<double>(journal.size()) / secs, static_cast<double>(ru.ru_maxrss) / 1024.0);
  return r.findings.empty() ? 0 : 1;
}
