// truth.json in save_truth's exact form is read by the analyzer's own scanner, anything else by
// nlohmann's parser: both must give the same truth, and a malformed file must still be refused
// with an error naming the file and what is wrong.
#include "truth_scanner.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/analyzer.hpp"
#include "analyzer/report.hpp"
#include "base/strings.hpp"

namespace dropcheck::analyzer {
namespace {

Truth sample() {
  Truth t;
  t.scenario = "scan";
  t.local_domains = {"firma.example"};
  t.users = {"a@firma.example"};
  t.aliases = {{"info@firma.example", "a@firma.example"}};
  t.fallback = "a@firma.example";
  t.end_ms = 5000;
  t.interval_ms = 60'000;
  t.pop3_sessions.push_back({7, 10, true, false, "ok", {"u1"}, {"m1"}, "a", true});
  t.messages.push_back({"m1",
                        "alice@sender.example",
                        {"a@firma.example", "<B@Firma.example>"},
                        std::string("To: a@firma.example\r\n\r\nbody \x00\xff\r\n", 30),
                        -3,
                        ""});
  t.messages.push_back({"m2", "", {}, "no header\n", 9'223'372'036'854'775'807, "m1"});
  return t;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void put(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void expect_same(const Truth& a, const Truth& b) {
  EXPECT_EQ(a.scenario, b.scenario);
  EXPECT_EQ(a.local_domains, b.local_domains);
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.aliases, b.aliases);
  EXPECT_EQ(a.fallback, b.fallback);
  EXPECT_EQ(a.end_ms, b.end_ms);
  EXPECT_EQ(a.interval_ms, b.interval_ms);
  ASSERT_EQ(a.pop3_sessions.size(), b.pop3_sessions.size());
  ASSERT_EQ(a.messages.size(), b.messages.size());
  for (std::size_t i = 0; i < a.messages.size(); ++i) {
    const TruthMessage& x = a.messages[i];
    const TruthMessage& y = b.messages[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.envelope_from, y.envelope_from);
    EXPECT_EQ(x.envelope_to, y.envelope_to);
    EXPECT_EQ(x.raw, y.raw);
    EXPECT_EQ(x.injected_ms, y.injected_ms);
    EXPECT_EQ(x.tag, y.tag);
  }
}

// The same file in nlohmann's own layout (indent 2): not save_truth's form, so nlohmann reads it.
std::string relaid(const std::string& text) { return nlohmann::json::parse(text).dump(2); }

std::vector<std::string> scanned_ids(const std::string& text, bool& in_form) {
  std::vector<std::string> ids;
  in_form = detail::scan_truth_messages(
                text, [&](TruthMessage&& m) { ids.push_back(m.id); }, [](std::size_t) {})
                .has_value();
  return ids;
}

TEST(TruthScanner, ReadsSaveTruthsFormAsNlohmannDoes) {
  const Truth t = sample();
  const std::string path = ::testing::TempDir() + "/scan-truth.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  const std::string text = slurp(path);
  bool in_form = false;
  EXPECT_EQ(scanned_ids(text, in_form), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_TRUE(in_form);
  auto fast = load_truth(path);
  ASSERT_TRUE(fast.ok()) << fast.error().message;
  expect_same(*fast, t);

  const std::string other = ::testing::TempDir() + "/scan-truth-relaid.json";
  put(other, relaid(text));
  scanned_ids(relaid(text), in_form);
  EXPECT_FALSE(in_form);
  auto slow = load_truth(other);
  ASSERT_TRUE(slow.ok()) << slow.error().message;
  expect_same(*slow, *fast);
}

// Edits the scanner does not take (escapes, non-ASCII, a member missing, added or moved): the
// file goes to nlohmann whole and reads as before.
TEST(TruthScanner, AnyOtherFormGoesToNlohmann) {
  const std::string path = ::testing::TempDir() + "/scan-edit.json";
  Truth t = sample();
  t.messages[0].id = "m\"1\\";                              // escaped
  t.messages[1].envelope_from = "j\xC3\xBCrgen@x.example";  // UTF-8
  ASSERT_TRUE(save_truth(path, t).ok());
  bool in_form = true;
  scanned_ids(slurp(path), in_form);
  EXPECT_FALSE(in_form);
  auto back = load_truth(path);
  ASSERT_TRUE(back.ok()) << back.error().message;
  expect_same(*back, t);

  const Truth plain = sample();
  ASSERT_TRUE(save_truth(path, plain).ok());
  const std::string text = slurp(path);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"   \"tag\": \"\"\n", "   \"tag\": \"\",\n   \"x\": 1\n"},  // an added member
           {",\n   \"tag\": \"\"\n", "\n"},                             // tag missing: ""
           {"\"injected_ms\": -3", "\"injected_ms\": -3.0"},            // a float
           {"\"injected_ms\": -3", "\"injected_ms\": -03"}}) {          // not JSON
    std::string edited = text;
    const auto at = edited.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    edited.replace(at, from.size(), to);
    put(path, edited);
    scanned_ids(edited, in_form);
    EXPECT_FALSE(in_form) << to;
    auto got = load_truth(path);
    EXPECT_EQ(got.ok(), nlohmann::json::accept(edited)) << to;
    if (got.ok()) {
      EXPECT_EQ(got->messages.size(), 2u);
    } else {
      EXPECT_NE(got.error().message.find(path), std::string::npos);
    }
  }
}

TEST(TruthScanner, MalformedFilesAreRefusedNamingFileAndWhat) {
  const std::string path = ::testing::TempDir() + "/scan-bad.json";
  ASSERT_TRUE(save_truth(path, sample()).ok());
  const std::string text = slurp(path);
  const auto refused = [&](const std::string& edited, const std::string& what) {
    put(path, edited);
    for (const TruthBytes bytes : {TruthBytes::kept, TruthBytes::summarized}) {
      auto t = load_truth(path, bytes);
      ASSERT_FALSE(t.ok()) << what;
      EXPECT_EQ(t.error().code, "bad-truth") << what;
      EXPECT_NE(t.error().message.find(path), std::string::npos) << t.error().message;
      EXPECT_NE(t.error().message.find(what), std::string::npos) << t.error().message;
    }
  };
  refused(text.substr(0, text.size() / 2), "parse error");
  std::string v2 = text;
  v2.replace(v2.find("\"version\": 1"), 12, "\"version\": 2");
  refused(v2, "unsupported truth version");
  std::string no_id = text;
  no_id.replace(no_id.find("   \"id\": \"m1\",\n"), 15, "");
  refused(no_id, "'id'");
  std::string no_messages = text;
  const auto from = no_messages.find(" \"messages\"");
  const auto to = no_messages.find(" \"pop3_sessions\"");
  no_messages.erase(from, to - from);
  refused(no_messages, "no messages");
}

// A summarized truth read by the scanner is judged as the same truth with its bytes.
TEST(TruthScanner, SummarizedTruthJudgesAsTheTruth) {
  const Truth t = sample();
  const std::string path = ::testing::TempDir() + "/scan-judge.json";
  ASSERT_TRUE(save_truth(path, t).ok());
  auto summarized = load_truth(path, TruthBytes::summarized);
  ASSERT_TRUE(summarized.ok()) << summarized.error().message;
  EXPECT_TRUE(summarized->messages.empty());
  Delivery d;
  d.seq = 1;
  d.mail_from = "alice@sender.example";
  d.rcpts = {{"a@firma.example", 250}};
  d.data_code = 250;
  d.message = "X-Dropcheck-Id: m1\r\nEnvelope-To: b@firma.example\r\n" + t.messages[0].raw;
  EXPECT_EQ(to_text(analyze(*summarized, {d})), to_text(analyze(t, {d})));
  EXPECT_EQ(to_json(analyze(*summarized, {d})).dump(2), to_json(analyze(t, {d})).dump(2));
}

// The scanner decodes raw_base64 with base::base64_decode (by table since): every length, every
// octet, and the lenient reading of anything outside the alphabet.
TEST(TruthScanner, Base64DecodesWhatWasEncoded) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (std::size_t n = 0; n <= all.size(); n += 37)
    EXPECT_EQ(base::base64_decode(base::base64_encode(all.substr(0, n))), all.substr(0, n));
  EXPECT_EQ(base::base64_decode("aGVs\r\nbG8=\n"), "hello");
  EXPECT_EQ(base::base64_decode("aGVsbG8"), "hello");
  EXPECT_EQ(base::base64_decode(""), "");
}

// The lenient decoder's plain definition: six bits per alphabet octet, anything else skipped.
std::string bitwise_decode(std::string_view in) {
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = base::base64_value(c);
    if (v < 0) continue;
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xffu));
    }
  }
  return out;
}

// The reference for base64_decode_alphabet: the check octet by octet, then the decoding.
std::optional<std::string> decode_checked(std::string_view in) {
  for (const char c : in)
    if (base::base64_value(c) < 0 && c != '=') return std::nullopt;
  return bitwise_decode(in);
}

// The one-pass decoder (groups of four, then octet by octet from the first odd group) agrees
// with checking and decoding apart: every length, '=' and a foreign octet at every position.
TEST(TruthScanner, Base64AlphabetDecoderAgreesWithCheckThenDecode) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string text = base::base64_encode(all);
  for (std::size_t n = 0; n <= 24; ++n) {
    const std::string prefix = text.substr(0, n);
    EXPECT_EQ(base::base64_decode_alphabet(prefix), decode_checked(prefix)) << prefix;
    for (std::size_t at = 0; at <= n; ++at)
      for (const char odd : {'=', '\n', ' ', '\0', '-', '\xff'}) {
        const std::string t = prefix.substr(0, at) + odd + prefix.substr(at);
        EXPECT_EQ(base::base64_decode_alphabet(t), decode_checked(t)) << t;
        EXPECT_EQ(base::base64_decode(t), bitwise_decode(t)) << t;
      }
  }
  EXPECT_EQ(base::base64_decode_alphabet(text), all);
  EXPECT_EQ(base::base64_decode_alphabet("aGVs=bG8="), "hello");
  EXPECT_EQ(base::base64_decode_alphabet("aGVs bG8="), std::nullopt);
}

}  // namespace
}  // namespace dropcheck::analyzer
