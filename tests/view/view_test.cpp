// dropcheck view over a kept run (DIR/NAME/journal + truth.json): the page carries the
// analyzer's findings and marks the leaked line. Runs the built program.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "analyzer/analyzer.hpp"
#include "fake_smtp/journal.hpp"

namespace {

namespace fs = std::filesystem;
using namespace dropcheck;

const std::string kSent =
    "From: frank@sender.example\r\nTo: a@firma.example\r\nSubject: figures\r\n"
    "Message-ID: <m1@sender.example>\r\nX-Dropcheck-Id: m1\r\n\r\nbody\r\n";

fs::path make_kept_run() {
  const fs::path dir = fs::temp_directory_path() / ("dropcheck-view-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const fs::path scenario = dir / "leak-demo";
  {
    fake_smtp::Journal journal(scenario / "journal");
    fake_smtp::TransactionRecord rec;
    rec.session_id = "s1";
    rec.mail_from = "frank@sender.example";
    fake_smtp::RcptRecord r;
    r.address = "a@firma.example";
    r.code = 250;
    rec.rcpts.push_back(r);
    rec.data_attempted = rec.data_complete = rec.accepted = true;
    rec.data_start_code = 354;
    rec.data_code = 250;
    rec.end_reason = "data";
    rec.message = "X-Envelope-To: b@firma.example\r\n" + kSent;  // the fetcher did not strip it
    journal.append(rec);
  }
  analyzer::Truth truth;
  truth.scenario = "leak-demo";
  truth.local_domains = {"firma.example"};
  truth.messages.push_back({.id = "m1",
                            .envelope_from = "frank@sender.example",
                            .envelope_to = {"a@firma.example", "b@firma.example"},
                            .raw = kSent,
                            .injected_ms = 0,
                            .tag = ""});
  EXPECT_TRUE(analyzer::save_truth((scenario / "truth.json").string(), truth).ok());
  return dir;
}

int run(const std::string& args) {
  const int rc =
      std::system((std::string(DROPCHECK_EXE) + " view " + args + " 2>/dev/null").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(View, PageOfAKeptRunShowsTheFindingAndMarksTheLeakedLine) {
  const fs::path dir = make_kept_run();
  const fs::path out = dir / "page.html";
  ASSERT_EQ(run(dir.string() + " --out " + out.string()), 0);
  const std::string page = read(out);
  EXPECT_NE(page.find("<b id=\"count\">1</b>"), std::string::npos);
  EXPECT_NE(page.find("<b>envelope-header-leak</b> b@firma.example"), std::string::npos);
  EXPECT_NE(page.find("<tr class=\"leak finding\"><th>X-Envelope-To</th><td>b@firma.example"),
            std::string::npos);
  EXPECT_NE(page.find("leak-demo #1"), std::string::npos);
  EXPECT_NE(page.find("data-live=\"0\""), std::string::npos);  // a file: no event stream
  // One scenario's folder works the same.
  ASSERT_EQ(run((dir / "leak-demo").string() + " --out " + out.string()), 0);
  EXPECT_NE(read(out).find("envelope-header-leak"), std::string::npos);
  fs::remove_all(dir);
}

int run_matrix(const std::string& args) {
  const int rc =
      std::system((std::string(DROPCHECK_EXE) + " matrix " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// matrix --keep DIR: every cell kept as DIR/SCENARIO--FETCHER, and view DIR shows them all, each
// cell's transactions under its folder's name with the analyzer's findings of that cell.
TEST(View, MatrixKeepKeepsEveryCellForView) {
  const fs::path dir =
      fs::temp_directory_path() / ("dropcheck-view-matrix-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string bcc = std::string(DROPCHECK_SOURCE_DIR) + "/scenarios/bcc.yaml";
  ASSERT_EQ(run_matrix("--fetchers core,no-strip --keep " + dir.string() + " " + bcc), 0);
  for (const char* cell : {"bcc--core", "bcc--no-strip"}) {
    EXPECT_TRUE(fs::is_regular_file(fake_smtp::journal_file(dir / cell / "journal"))) << cell;
    EXPECT_TRUE(fs::is_regular_file(dir / cell / "truth.json")) << cell;
  }
  const fs::path out = dir / "page.html";
  ASSERT_EQ(run(dir.string() + " --out " + out.string()), 0);
  const std::string page = read(out);
  EXPECT_NE(page.find("bcc--core #1"), std::string::npos);
  EXPECT_NE(page.find("bcc--no-strip #1"), std::string::npos);
  EXPECT_NE(page.find("<b>envelope-header-leak</b> b@firma.example"), std::string::npos);
  fs::remove_all(dir);
}

TEST(View, UsageErrors) {
  const fs::path dir = make_kept_run();
  EXPECT_EQ(run(dir.string()), 2);  // neither --listen nor --out
  EXPECT_EQ(run(dir.string() + " --out x.html --listen 127.0.0.1:0"), 2);
  EXPECT_EQ(run(dir.string() + " --listen 192.0.2.1:8025"), 2);  // not loopback
  EXPECT_EQ(run((dir / "missing").string() + " --out x.html"), 2);
  fs::remove_all(dir);
}

}  // namespace
