// Golden transcripts: golden/NAME.in (one command or data line per line; every LF becomes CRLF
// on the wire) -> golden/NAME.ref (the server's replies, CRLF shown as LF). Files named
// lmtp*.in run in LMTP mode. Regenerate only on purpose: DROPCHECK_UPDATE_GOLDEN=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "smtp_test_util.hpp"

namespace dropcheck::protocol {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

TEST(SmtpGolden, Transcripts) {
  const std::filesystem::path dir = GOLDEN_DIR;
  const bool update = std::getenv("DROPCHECK_UPDATE_GOLDEN") != nullptr;
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".in") continue;
    ++n;
    SmtpServerConfig cfg;
    cfg.hostname = "mx.golden.test";
    cfg.lmtp = e.path().stem().string().starts_with("lmtp");
    const std::string input = replace_all(slurp(e.path()), "\n", "\r\n");
    for (std::size_t chunk : {0u, 1u}) {
      smtp_testing::SessionRun r;
      smtp_testing::drive(r, cfg, input, chunk);
      const std::string got = replace_all(r.out, "\r\n", "\n");
      auto ref = e.path();
      ref.replace_extension(".ref");
      if (update && chunk == 0) {
        std::ofstream(ref, std::ios::binary) << got;
        continue;
      }
      EXPECT_EQ(got, slurp(ref)) << e.path() << " chunk " << chunk;
    }
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace dropcheck::protocol
