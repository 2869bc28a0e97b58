#include "view.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>

#include "analyzer/journal_input.hpp"
#include "journal/reader.hpp"
#include "net/asio.hpp"
#include "net/server.hpp"
#include "runner/runner.hpp"
#include "web/render.hpp"
#include "web/server.hpp"

namespace dropcheck::cli {
namespace fs = std::filesystem;
namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;

bool has_journal(const fs::path& dir) { return fs::is_regular_file(journal::journal_file(dir)); }

ViewSource scenario_source(const fs::path& dir) {
  ViewSource s{dir.filename().string(), dir / "journal", {}};
  if (fs::is_regular_file(dir / "truth.json")) s.truth = dir / "truth.json";
  return s;
}

// Findings of one scenario: by journal seq, and those of no record (seq -1).
std::map<std::int64_t, std::vector<web::Annotation>> findings_of(
    const ViewSource& source, const std::vector<journal::TransactionRecord>& records) {
  std::map<std::int64_t, std::vector<web::Annotation>> out;
  if (source.truth.empty()) return out;
  auto truth = analyzer::load_truth(source.truth.string(), analyzer::TruthBytes::summarized);
  if (!truth.ok()) throw std::runtime_error(truth.error().message);
  analyzer::Judge judge(*truth);
  for (const auto& rec : records) judge.add(analyzer::delivery_of(journal::TransactionRecord(rec)));
  const auto report = judge.finish();
  for (const auto& f : report.findings)
    out[f.journal_seq].push_back({f.type, f.recipient, f.evidence});
  return out;
}

void load_source(const ViewSource& source, web::Store& store) {
  auto contents = journal::read_journal_contents(source.journal);
  if (!contents.ok())
    throw std::runtime_error(source.journal.string() + ": " + contents.error().message);
  auto findings = findings_of(source, contents->records);
  for (auto& rec : contents->records) {
    web::Item item;
    item.source = source.name;
    const auto it = findings.find(static_cast<std::int64_t>(rec.seq));
    if (it != findings.end()) item.findings = std::move(it->second);
    item.rec = std::move(rec);
    store.add(std::move(item));
  }
  if (findings.count(-1)) store.notes().push_back({source.name, std::move(findings[-1])});
}

int write_page(const web::Store& store, const ViewFlags& flags) {
  std::ofstream out(flags.out, std::ios::binary);
  web::PageOptions page;
  page.title = "dropcheck view " + flags.dir;
  out << web::render_page(store, page);
  if (!out) {
    fmt::print(stderr, "dropcheck view: cannot write {}\n", flags.out);
    return kExitUsage;
  }
  return kExitOk;
}

int serve(web::Store& store, const ViewFlags& flags) {
  const auto ep = net::parse_endpoint(flags.listen);  // std::invalid_argument: usage
  if (!net::is_loopback(ep) && !flags.allow_non_loopback) {
    fmt::print(stderr,
               "dropcheck view: refusing to listen on non-loopback {} (use "
               "--allow-non-loopback)\n",
               flags.listen);
    return kExitUsage;
  }
  net::asio::io_context io(1);
  web::HttpOptions options;
  options.page.title = "dropcheck view " + flags.dir;
  options.loopback_host_only = net::is_loopback(ep);
  options.log = [](std::string_view line) { fmt::print(stderr, "{}\n", line); };
  web::HttpServer server(io, ep, store, options);
  net::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const net::error_code& ec, int) {
    if (!ec) server.stop();
  });
  server.start();
  const auto local = server.local_endpoint();
  fmt::print("http {}\n", fmt::streamed(local));
  std::fflush(stdout);
  io.run();
  return kExitOk;
}

}  // namespace

std::vector<ViewSource> find_view_sources(const fs::path& dir) {
  if (has_journal(dir)) return {ViewSource{"", dir, {}}};
  if (has_journal(dir / "journal")) return {scenario_source(dir)};
  std::vector<ViewSource> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_directory() && has_journal(entry.path() / "journal"))
      out.push_back(scenario_source(entry.path()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

void load_view(const std::vector<ViewSource>& sources, web::Store& store) {
  for (const auto& s : sources) load_source(s, store);
}

int cmd_view(const ViewFlags& flags) {
  if (flags.listen.empty() == flags.out.empty()) {
    fmt::print(stderr, "dropcheck view: give one of --listen ADDR:PORT or --out FILE\n");
    return kExitUsage;
  }
  const auto sources = find_view_sources(flags.dir);
  if (sources.empty()) {
    fmt::print(stderr,
               "dropcheck view: {}: no journal (journal.jsonl, journal/ or NAME/journal/; "
               "see run --keep)\n",
               flags.dir);
    return kExitUsage;
  }
  web::StoreLimits limits;  // a kept run is read whole: only the machine's memory bounds it
  limits.max_items = std::numeric_limits<std::size_t>::max();
  limits.max_message_octets = std::numeric_limits<std::size_t>::max();
  web::Store store(limits);
  try {
    load_view(sources, store);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dropcheck view: {}\n", e.what());
    return kExitUsage;
  }
  if (!flags.out.empty()) return write_page(store, flags);
  try {
    return serve(store, flags);
  } catch (const std::exception& e) {
    fmt::print(stderr, "dropcheck view: --listen {}: {}\n", flags.listen, e.what());
    return kExitUsage;
  }
}

}  // namespace dropcheck::cli
