#include "fake_pop3/mailboxes.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace dropcheck::fake_pop3 {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dropcheck-mbox-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
    return path / name;
  }
};

// The error message of parsing `yaml` (origin "m.yaml"); "" when it parses.
std::string error_of(const std::string& yaml) {
  const auto r = parse_mailboxes(yaml, "m.yaml");
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code, "bad-mailboxes");
  return r.error().message;
}

TEST(MailboxesFile, ParsesBoxesWithPasswordOrPasswordFile) {
  TempDir dir;
  const auto pw = dir.write("anna.pw", "from-file\r\nsecond line\n");
  const auto r = parse_mailboxes(
      "version: 1\n"
      "mailboxes:\n"
      "  - user: anna\n"
      "    password_file: " +
          pw.string() +
          "\n"
          "    addresses: [anna@firma.example, Anna.M@firma.example]\n"
          "  - user: catchall\n"
          "    password: secret\n"
          "    catch_all: true\n",
      "m.yaml");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].user, "anna");
  EXPECT_EQ((*r)[0].password, "from-file");
  EXPECT_EQ((*r)[0].addresses,
            (std::vector<std::string>{"anna@firma.example", "Anna.M@firma.example"}));
  EXPECT_FALSE((*r)[0].catch_all);
  EXPECT_EQ((*r)[1].user, "catchall");
  EXPECT_EQ((*r)[1].password, "secret");
  EXPECT_TRUE((*r)[1].addresses.empty());
  EXPECT_TRUE((*r)[1].catch_all);

  const auto file =
      dir.write("boxes.yaml", "version: 1\nmailboxes: [{user: c, password: x, catch_all: true}]\n");
  const auto loaded = load_mailboxes(file.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ((*loaded)[0].user, "c");
  const auto missing = load_mailboxes((dir.path / "nope.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "no-mailboxes");
  EXPECT_NE(missing.error().message.find("nope.yaml"), std::string::npos);
}

// Every error names file:line:col and the field.
TEST(MailboxesFile, ErrorsNameFileLineAndField) {
  const std::string head = "version: 1\nmailboxes:\n";
  EXPECT_EQ(error_of("mailboxes: []\n"),
            "m.yaml:1:1: version: missing (this program reads version: 1)");
  EXPECT_EQ(error_of("version: 1\n"), "m.yaml:1:1: mailboxes: missing");
  EXPECT_EQ(error_of("version: 1\nmailboxes: []\n"),
            "m.yaml:2:12: mailboxes: expected a non-empty list of mailboxes");
  EXPECT_EQ(error_of("version: 1\nmailbox: []\n").substr(0, 30), "m.yaml:2:1: mailbox: unknown k");
  EXPECT_EQ(
      error_of(head + "  - {user: a, password: p, catch_all: true, colour: red}\n").substr(0, 42),
      "m.yaml:3:45: mailboxes[0].colour: unknown ");
  EXPECT_EQ(error_of(head + "  - {password: p, catch_all: true}\n"),
            "m.yaml:3:5: mailboxes[0].user: missing");
  EXPECT_EQ(error_of(head + "  - {user: 'a b', password: p, catch_all: true}\n"),
            "m.yaml:3:12: mailboxes[0].user: must be non-empty and contain no white space");
  EXPECT_EQ(error_of(head + "  - {user: a, catch_all: true}\n"),
            "m.yaml:3:5: mailboxes[0]: needs exactly one of password and password_file");
  EXPECT_EQ(error_of(head + "  - {user: a, password: '', catch_all: true}\n"),
            "m.yaml:3:25: mailboxes[0].password: is empty");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, addresses: a@f.example}\n"),
            "m.yaml:3:39: mailboxes[0].addresses: expected a list of strings (write [a@f.example] "
            "for one)");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, addresses: [a@f.example, nobody]}\n"),
            "m.yaml:3:53: mailboxes[0].addresses[1]: 'nobody' is not an address like local@domain");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, catch_all: maybe}\n"),
            "m.yaml:3:39: mailboxes[0].catch_all: expected true or false");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p}\n"),
            "m.yaml:3:5: mailboxes[0]: receives no mail: give addresses, or catch_all: true");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, catch_all: true}\n" +
                     "  - {user: a, password: q, addresses: [b@f.example]}\n"),
            "m.yaml:4:12: mailboxes[1].user: user 'a' appears twice");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, catch_all: true}\n" +
                     "  - {user: b, password: q, catch_all: true}\n"),
            "m.yaml:4:39: mailboxes[1].catch_all: 'a' is the catch-all already (at most one)");
  EXPECT_EQ(error_of(head + "  - {user: a, password: p, addresses: [x@f.example]}\n" +
                     "  - {user: b, password: q, addresses: [y@f.example, X@F.EXAMPLE]}\n"),
            "m.yaml:4:53: mailboxes[1].addresses[1]: 'X@F.EXAMPLE' belongs to 'a' already");
  EXPECT_EQ(error_of("version: 1\nmailboxes: [\n").substr(0, 26), "m.yaml:3:1: syntax error: ");
}

TEST(MailboxesFile, PasswordFileErrorsAndNoPasswordInAnyError) {
  TempDir dir;
  const auto empty = dir.write("empty.pw", "\nsecond\n");
  const std::string head = "version: 1\nmailboxes:\n";
  const std::string e1 =
      error_of(head + "  - {user: a, password_file: " + empty.string() + ", catch_all: true}\n");
  EXPECT_EQ(e1,
            "m.yaml:3:30: mailboxes[0].password_file: " + empty.string() + ": first line is empty");
  const std::string nope = (dir.path / "nope.pw").string();
  EXPECT_EQ(error_of(head + "  - {user: a, password_file: " + nope + ", catch_all: true}\n"),
            "m.yaml:3:30: mailboxes[0].password_file: cannot read a line from " + nope);
  // A password next to any mistake stays out of the message.
  for (const std::string& yaml :
       {head + "  - {user: a, password: s3cr3t-pw, password_file: x, catch_all: true}\n",
        head + "  - {user: a, password: s3cr3t-pw, addresses: [bad]}\n",
        head + "  - {user: a, password: s3cr3t-pw}\n",
        head + "  - {user: a, password: s3cr3t-pw, catch_all: true}\n  - {user: a}\n",
        head + "  - {user: a, password: s3cr3t-pw, catch_all: true, x: 1}\n"}) {
    const std::string e = error_of(yaml);
    EXPECT_FALSE(e.empty()) << yaml;
    EXPECT_EQ(e.find("s3cr3t"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace dropcheck::fake_pop3
