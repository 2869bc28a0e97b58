// mail_bench: header-section parsing + envelope-recipient extraction, dropcheck::mail vs GMime 3,
// on the same generated corpus in the same run. Prints MB/s for each and the ratio.
//
// Throughput counts header-section bytes (incl. the blank line). dropcheck gets the whole
// message and stops at the blank line by itself; GMime gets only the header section (so it
// never touches the body: "headers only as far as possible"), parses it into a GMimeMessage,
// and the envelope header is then looked up and parsed with internet_address_list_parse.
#include <benchmark/benchmark.h>
#include <gmime/gmime.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "corpus.hpp"
#include "mail/address.hpp"
#include "mail/envelope.hpp"
#include "mail/header.hpp"

namespace {

namespace mail = dropcheck::mail;
using dropcheck::bench::CorpusMessage;

constexpr std::size_t kMessages = 10'000;
constexpr std::uint64_t kSeed = 20261123;

const std::vector<CorpusMessage>& corpus() {
  static const std::vector<CorpusMessage> c = dropcheck::bench::make_corpus(kMessages, kSeed);
  return c;
}

std::size_t header_bytes() {
  std::size_t n = 0;
  for (const auto& m : corpus()) n += m.header_size;
  return n;
}

std::size_t iterations(const benchmark::State& state) {
  return static_cast<std::size_t>(state.iterations());
}

mail::EnvelopeSpec spec_for(const CorpusMessage& m) {
  mail::EnvelopeSpec s;
  s.header = m.envelope_header;
  s.occurrence = 1;  // the provider's own header is the top one
  s.strip_qmail_prefix = m.envelope_header == "Delivered-To";
  return s;
}

std::vector<std::string> dropcheck_recipients(const CorpusMessage& m) {
  auto hs = mail::parse_header_section(m.text);
  if (!hs.ok()) return {};
  auto r = mail::extract_envelope_recipients(*hs, spec_for(m));
  return r.ok() ? std::move(r).value() : std::vector<std::string>{};
}

std::vector<std::string> gmime_recipients(const CorpusMessage& m) {
  std::vector<std::string> out;
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(m.text.data(), m.header_size);
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  g_object_unref(stream);
  GMimeMessage* message = g_mime_parser_construct_message(parser, nullptr);
  g_object_unref(parser);
  if (message == nullptr) return out;
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
  GMimeHeader* h = g_mime_header_list_get_header(headers, m.envelope_header.c_str());
  if (h != nullptr) {
    if (InternetAddressList* list =
            internet_address_list_parse(nullptr, g_mime_header_get_value(h))) {
      const int n = internet_address_list_length(list);
      for (int i = 0; i < n; ++i) {
        InternetAddress* ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia)) continue;
        std::string a = mail::normalize_address(
            internet_address_mailbox_get_idn_addr(INTERNET_ADDRESS_MAILBOX(ia)));
        if (m.envelope_header == "Delivered-To") {  // same qmail prefix rule as dropcheck
          const std::string dom = mail::domain_of(a);
          if (a.size() > dom.size() + 1 && a.compare(0, dom.size(), dom) == 0 &&
              a[dom.size()] == '-')
            a.erase(0, dom.size() + 1);
        }
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
      }
      g_object_unref(list);
    }
  }
  g_object_unref(message);
  return out;
}

void BM_Dropcheck_ParseAndExtract(benchmark::State& state) {
  const auto& c = corpus();
  for (auto _ : state) {
    for (const auto& m : c) {
      auto hs = mail::parse_header_section(m.text);
      auto r = mail::extract_envelope_recipients(*hs, spec_for(m));
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations(state) * header_bytes()));
  state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(iterations(state) * c.size()),
                                                benchmark::Counter::kIsRate);
}

void BM_Dropcheck_ParseOnly(benchmark::State& state) {
  const auto& c = corpus();
  for (auto _ : state) {
    for (const auto& m : c) {
      auto hs = mail::parse_header_section(m.text);
      benchmark::DoNotOptimize(hs);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations(state) * header_bytes()));
}

void BM_GMime_ParseAndExtract(benchmark::State& state) {
  const auto& c = corpus();
  for (auto _ : state) {
    for (const auto& m : c) {
      auto r = gmime_recipients(m);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations(state) * header_bytes()));
  state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(iterations(state) * c.size()),
                                                benchmark::Counter::kIsRate);
}

BENCHMARK(BM_Dropcheck_ParseAndExtract)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Dropcheck_ParseOnly)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_GMime_ParseAndExtract)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// Console output as usual, plus the bytes/s of each benchmark for the summary line.
class Reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) rates[r.benchmark_name()] = it->second.value;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace

int main(int argc, char** argv) {
  g_mime_init();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const auto& c = corpus();
  std::size_t total = 0;
  for (const auto& m : c) total += m.text.size();
  std::size_t mismatches = 0;
  std::size_t recipients = 0;
  for (const auto& m : c) {
    const auto ours = dropcheck_recipients(m);
    recipients += ours.size();
    const auto theirs = gmime_recipients(m);
    if (ours != theirs && ++mismatches <= 3)
      std::printf("disagree: %s: dropcheck [%s] GMime [%s]\n", m.envelope_header.c_str(),
                  ours.empty() ? "" : ours[0].c_str(), theirs.empty() ? "" : theirs[0].c_str());
  }
  std::printf(
      "corpus: %zu messages, seed %llu, %.1f MB total, %.1f MB header sections "
      "(avg %.0f B); %zu envelope recipients; dropcheck/GMime disagree on %zu messages\n",
      c.size(), static_cast<unsigned long long>(kSeed), static_cast<double>(total) / 1e6,
      static_cast<double>(header_bytes()) / 1e6,
      static_cast<double>(header_bytes()) / static_cast<double>(c.size()), recipients, mismatches);

  Reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double ours = reporter.rates["BM_Dropcheck_ParseAndExtract/min_time:2.000"];
  const double gmime = reporter.rates["BM_GMime_ParseAndExtract/min_time:2.000"];
  if (ours > 0 && gmime > 0)
    std::printf("\nparse+extract: dropcheck %.0f MB/s, GMime %.0f MB/s, ratio %.1fx\n", ours / 1e6,
                gmime / 1e6, ours / gmime);
  g_mime_shutdown();
  benchmark::Shutdown();
  return mismatches == 0 ? 0 : 1;
}
