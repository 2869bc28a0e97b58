// journal/'s fast line reader (journal/src/line_scanner.hpp) against the tree reader it falls
// back on: for any line both read the same record, or fail with the same error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/strings.hpp"
#include "journal/codec.hpp"

namespace dropcheck::journal {
namespace {

TransactionRecord sample(std::string message) {
  TransactionRecord r;
  r.seq = 12;
  r.session_id = "s-1";
  r.virtual_ms = -5;
  r.real_ms = 1796377047671;
  r.client = "127.0.0.1:1";
  r.lmtp = r.tls = true;
  r.helo_verb = "LHLO";
  r.helo = "h\xfc\x01";  // not UTF-8: {"hex": ...}
  r.mail_from = "a\"b\\c@d";
  r.mail_reply = "2.1.0 Ok \xc3\xa9 \xf0\x9f\x93\xa7";
  r.rcpts = {{"x@y", "NOTIFY=NEVER", 250, "ok\tfine", true, false, "x@y", 452, "later"},
             {"z@y", "", 550, "no", true, false, "", 0, ""}};
  r.data_attempted = r.data_complete = r.accepted = true;
  r.data_code = 250;
  r.data_reply = "queued";
  r.data_end_real_ms = 4;
  r.size = message.size();
  r.sha256 = base::sha256_hex(message);
  r.message = std::move(message);
  r.end_reason = "quit";
  r.faults = {"rcpt-1-450", "\x80"};
  r.commands = {{5, 6, "DATA", 354}, {7, 8, "RSET\x7f", 250}};
  return r;
}

// Lines the writer writes: text, 8-bit (base64) and control characters in the message, none.
std::vector<std::string> written_lines() {
  std::vector<std::string> out;
  for (const std::string& m :
       std::vector<std::string>{"Subject: x\r\n\r\nbody \"q\" \\ \x01\x1f\r\n", "8bit \xff\xfe\r\n",
                                std::string("nul \0 in it", 11)})
    out.push_back(to_json_line(sample(m), true));
  out.push_back(to_json_line(sample("not inline"), false));
  TransactionRecord empty;
  out.push_back(to_json_line(empty, true));
  return out;
}

// Both readers on `line`: the same record, or the same error.
void expect_same(const std::string& line) {
  const auto fast = from_json_line(line);
  const auto tree = from_json_line_tree(line);
  ASSERT_EQ(fast.ok(), tree.ok()) << line;
  if (!fast.ok()) {
    EXPECT_EQ(fast.error().code, tree.error().code);
    EXPECT_EQ(fast.error().message, tree.error().message);
    return;
  }
  EXPECT_EQ(to_json_line(*fast, fast->message_inline), to_json_line(*tree, tree->message_inline))
      << line;
  EXPECT_EQ(fast->message, tree->message);
  EXPECT_EQ(fast->message_inline, tree->message_inline);
}

TEST(LineScanner, ReadsWhatTheWriterWroteAsTheTreeReaderDoes) {
  for (const auto& line : written_lines()) {
    expect_same(line);
    const auto back = from_json_line(line);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(to_json_line(*back, back->message_inline), line);
  }
  SessionRecord s;
  s.session_id = "s\xff";
  s.commands = {{1, 2, "EHLO x", 250}};
  s.faults = {"connect-421"};
  s.commands_dropped = 9;
  const std::string sline = to_json_line(s);
  auto fast = session_from_json_line(sline);
  auto tree = session_from_json_line_tree(sline);
  ASSERT_TRUE(fast.ok() && tree.ok());
  EXPECT_EQ(to_json_line(*fast), sline);
  EXPECT_EQ(to_json_line(*tree), sline);
}

// Valid JSON in another form than the writer's: the tree reader reads it, with the same result.
TEST(LineScanner, OtherFormsOfTheSameRecordReadTheSame) {
  const std::string line = to_json_line(sample("m"), true);
  std::vector<std::string> variants = {
      " " + line, line + " ", "{\"extra\":[1,{\"a\":null}]," + line.substr(1),
      "{\"seq\":99," + line.substr(1),  // a duplicate member: the last one counts
  };
  std::string spaced = line;
  for (std::size_t at = spaced.find(":"); at != std::string::npos; at = spaced.find(":", at + 2))
    spaced.insert(at + 1, " ");
  variants.push_back(spaced);
  std::string escaped = line;
  escaped.replace(escaped.find("\"s-1\""), 5, R"("\u0073\u002D1\ud83d\udce7\/")");
  variants.push_back(escaped);
  for (const auto& v : variants) expect_same(v);
  auto back = from_json_line(escaped);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->session_id, "s-1\xf0\x9f\x93\xa7/");
}

// Every line one edit away from a written one (each octet replaced by characters that matter
// to JSON, or removed): the fast reader accepts exactly what the tree reader accepts, and reads
// it the same; a malformed line gets the tree reader's error.
TEST(LineScanner, AgreesWithTheTreeReaderOnEveryOneOctetEdit) {
  const std::string kEdits[] = {" ",    "\"",  "\\",         "0",    "9",
                                "-",    ".",   "e",          "}",    "]",
                                ",",    ":",   "x",          "\x80", std::string(1, '\0'),
                                "\x01", "1.5", "99999999999"};
  std::size_t rejected = 0;
  const auto lines = written_lines();
  for (const std::string& line : {lines[0], lines[1]}) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      for (const auto& e : kEdits) {
        std::string edited = line;
        edited.replace(i, 1, e);
        expect_same(edited);
        rejected += from_json_line_tree(edited).ok() ? 0 : 1;
      }
      expect_same(line.substr(0, i) + line.substr(i + 1));
    }
  }
  EXPECT_GT(rejected, 1000u);  // the edits did make malformed lines
}

// The scanner checks UTF-8 where it meets 8-bit octets (in strings, at their start, middle
// and end, and in the message): well-formed sequences of every length are read, and every
// malformed one (overlong, surrogate, past U+10FFFF, truncated, a stray continuation or an
// impossible lead octet) leaves the line to the tree reader and its error.
TEST(LineScanner, ChecksUtf8InStringsAsTheTreeReaderDoes) {
  const std::string kForms[] = {"\xc3\xa9",
                                "\xe2\x82\xac",
                                "\xf0\x9f\x93\xa7",
                                "\xf4\x8f\xbf\xbf",
                                "\xc0\xaf",
                                "\xc1\xbf",
                                "\xe0\x80\xaf",
                                "\xed\xa0\x80",
                                "\xf0\x80\x80\xaf",
                                "\xf4\x90\x80\x80",
                                "\xe2\x82",
                                "\xf0\x9f\x93",
                                "\x80",
                                "\xbf",
                                "\xf8\x88\x80\x80\x80",
                                "\xff",
                                "\xc3"};
  const std::string line = to_json_line(sample("m"), true);
  for (const std::string& form : kForms) {
    for (const std::string& text : {form, "a" + form, form + "b", "a\\n" + form + "\\r\\nb"}) {
      std::string session = line;
      session.replace(session.find("\"s-1\""), 5, "\"" + text + "\"");
      expect_same(session);
      std::string message = line;
      message.replace(message.find("\"message\":\"m\""), 13, "\"message\":\"" + text + "\"");
      expect_same(message);
    }
  }
  std::string valid = line;
  valid.replace(valid.find("\"s-1\""), 5, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7\"");
  auto back = from_json_line(valid);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->session_id, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7");
}

TEST(LineScanner, MalformedLinesGetTheTreeReadersErrors) {
  const std::string line = to_json_line(sample("m"), true);
  std::string version = line;
  version.replace(version.find("\"version\":1"), 11, "\"version\":2");
  auto v = from_json_line(version);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "journal-version");
  std::string missing = line;
  missing.replace(missing.find("\"seq\":12,"), 9, "");
  auto m = from_json_line(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, "journal-bad-line");
  EXPECT_NE(m.error().message.find("seq"), std::string::npos) << m.error().message;
  std::string typed = line;
  typed.replace(typed.find("\"tls\":true"), 10, "\"tls\":1");
  auto t = from_json_line(typed);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, from_json_line_tree(typed).error().message);
  for (const std::string& bad : {line.substr(0, line.size() - 1), line + "}", std::string("")}) {
    auto b = from_json_line(bad, Fields::analysis);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.error().code, "journal-bad-line");
  }
}

TEST(LineScanner, TheAnalysisFieldsKeepWhatTheAnalyzerReads) {
  const TransactionRecord r = sample("Subject: x\r\n\r\nbody\r\n");
  auto back = from_json_line(to_json_line(r, true), Fields::analysis);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->seq, r.seq);
  EXPECT_EQ(back->session_id, r.session_id);
  EXPECT_EQ(back->mail_from, r.mail_from);
  EXPECT_EQ(back->message, r.message);
  EXPECT_EQ(back->sha256, r.sha256);
  ASSERT_EQ(back->rcpts.size(), 2u);
  EXPECT_EQ(back->rcpts[0].address, "x@y");
  EXPECT_EQ(back->rcpts[0].data_code, 452);
  EXPECT_EQ(back->commands.at(0).line, "DATA");
  EXPECT_EQ(back->commands.at(0).real_ms, 6);
  EXPECT_TRUE(back->client.empty() && back->helo.empty() && back->mail_reply.empty());
  EXPECT_TRUE(back->rcpts[0].reply.empty() && back->faults.empty() && back->end_reason.empty());
}

}  // namespace
}  // namespace dropcheck::journal
