// probe --accounts, pure parts: the accounts file loader, the mail date parser, the summary of
// a probe report.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "probe/accounts.hpp"

namespace dropcheck::probe {
namespace {

constexpr char kInlinePassword[] = "pw-Inline-S3cret-L4xq";

class Dir {
 public:
  Dir() {
    std::string t = (std::filesystem::temp_directory_path() / "dropcheck-accounts-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = t;
  }
  ~Dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return (path_ / name).string();
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

base::Result<std::vector<Account>> parse(const std::string& yaml, const Dir& d) {
  return parse_accounts(yaml, "accounts.yaml", d.path());
}

// The error names the file, the line (1-based) and the field, and never the inline password.
void expect_error(const std::string& yaml, int line, const std::string& field,
                  const std::string& what) {
  Dir d;
  d.file("pw", "from-file\n");
  const auto r = parse(yaml, d);
  ASSERT_FALSE(r.ok()) << yaml;
  const std::string& m = r.error().message;
  EXPECT_NE(m.find("accounts.yaml:" + std::to_string(line) + ":"), std::string::npos) << m;
  EXPECT_NE(m.find(field), std::string::npos) << m;
  EXPECT_NE(m.find(what), std::string::npos) << m;
  EXPECT_EQ(m.find(kInlinePassword), std::string::npos) << m;
}

const std::string kHead = "version: 1\naccounts:\n";

TEST(AccountsFile, DefaultsAndBothPasswordForms) {
  Dir d;
  d.file("catchall.pass", "from-the-file\r\nsecond line ignored\n");
  const auto r = parse(kHead +
                           "  - name: catchall\n"
                           "    host: 127.0.0.1\n"
                           "    user: catchall@firma.example\n"
                           "    password_file: catchall.pass\n"
                           "  - name: pop3s\n"
                           "    host: pop.provider.example\n"
                           "    tls: implicit\n"
                           "    verify_certificate: false\n"
                           "    user: u2\n"
                           "    password: " +
                           std::string(kInlinePassword) + "\n",
                       d);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const Account& a = (*r)[0];
  EXPECT_EQ(a.name, "catchall");
  EXPECT_EQ(a.server.port, 110);
  EXPECT_EQ(a.tls, TlsMode::none);  // as the probe's own default: STLS whenever offered
  EXPECT_TRUE(a.verify_certificate);
  EXPECT_FALSE(a.allow_plaintext);
  EXPECT_EQ(a.password, "from-the-file");  // relative to the file's directory, first line
  EXPECT_EQ(a.where, "accounts.yaml:3:5");
  const Account& b = (*r)[1];
  EXPECT_EQ(b.server.port, 995);
  EXPECT_EQ(b.tls, TlsMode::implicit);
  EXPECT_FALSE(b.verify_certificate);
  EXPECT_EQ(b.password, kInlinePassword);
}

TEST(AccountsFile, MissingNameNamesTheLine) {
  expect_error(kHead +
                   "  - name: one\n    host: 127.0.0.1\n    user: u\n    password_file: pw\n"
                   "  - host: 127.0.0.1\n    user: u\n    password_file: pw\n",
               7, "accounts[1].name", "missing");
}

TEST(AccountsFile, DuplicateNameNamesBothLines) {
  expect_error(kHead +
                   "  - name: one\n    host: 127.0.0.1\n    user: u\n    password_file: pw\n"
                   "  - name: two\n    host: 127.0.0.1\n    user: u\n    password_file: pw\n"
                   "  - host: 127.0.0.1\n    name: one\n    user: u\n    password_file: pw\n",
               12, "accounts[2].name", "duplicate 'one' (first at accounts.yaml:3:5)");
}

TEST(AccountsFile, PasswordAndPasswordFileAreExclusive) {
  expect_error(kHead + "  - name: one\n    host: 127.0.0.1\n    user: u\n    password_file: pw\n" +
                   "    password: " + kInlinePassword + "\n",
               7, "accounts[0].password", "not both");
}

TEST(AccountsFile, UnknownKeyNamesTheLine) {
  expect_error(kHead +
                   "  - name: one\n    host: 127.0.0.1\n    user: u\n    password_file: pw\n"
                   "    verify_certficate: false\n",
               7, "accounts[0].verify_certficate", "");
  expect_error("version: 1\nacounts: []\n", 2, "acounts", "");
}

TEST(AccountsFile, OtherMistakesNameTheLine) {
  const std::string one = "  - name: one\n    host: 127.0.0.1\n    user: u\n";
  expect_error(kHead + one, 3, "accounts[0].password_file", "missing (or password)");
  expect_error(kHead + one + "    password_file: nowhere\n", 6, "accounts[0].password_file",
               "cannot read");
  expect_error(kHead + one + "    password_file: pw\n    tls: starttls\n", 7, "accounts[0].tls",
               "expected none, stls or implicit");
  expect_error(kHead + one + "    password_file: pw\n    ca_file: missing.pem\n", 7,
               "accounts[0].ca_file", "missing.pem");
  expect_error(kHead + "  - name: 'two words'\n    host: h\n    user: u\n    password_file: pw\n",
               3, "accounts[0].name", "letters");
  expect_error(kHead + "  - name: x\n    host: 'not a host'\n    user: u\n    password_file: pw\n",
               4, "accounts[0].host", "host name");
  expect_error("accounts: []\n", 1, "version", "missing");
  expect_error(kHead, 2, "accounts", "non-empty");
}

TEST(MailDate, Rfc5322AndObsoleteForms) {
  // 1700000000 is Tue, 14 Nov 2023 22:13:20 +0000.
  EXPECT_EQ(parse_mail_date("Tue, 14 Nov 2023 22:13:20 +0000"), 1700000000);
  EXPECT_EQ(parse_mail_date("14 Nov 2023 23:13:20 +0100"), 1700000000);
  EXPECT_EQ(parse_mail_date("Tue, 14 Nov 2023 17:13:20 -0500 (EST)"), 1700000000);
  EXPECT_EQ(parse_mail_date("Tue, 14 nov 23 17:13:20 EST"), 1700000000);
  EXPECT_EQ(parse_mail_date("  Tue,14 Nov 2023 22:13 GMT"), 1700000000 - 20);
  EXPECT_EQ(parse_mail_date("Thu, 1 Jan 1970 00:00:00 Z"), 0);  // military: -0000
  EXPECT_EQ(parse_mail_date("Sat, 29 Feb 2020 12:00:00 +0000"), 1582977600);
}

TEST(MailDate, UnreadableIsNullopt) {
  for (const char* bad :
       {"", "yesterday", "Tue, 14 Nov 2023", "14 Foo 2023 22:13:20 +0000",
        "14 Nov 2023 24:00:00 +0000", "14 Nov 2023 22:61:00 +0000", "32 Nov 2023 22:13:20 +0000",
        "14 Nov 2023 22:13:20 +01", "14 Nov 2023 22:13:20 +0000 extra",
        "14 Nov 20x3 22:13:20 +0000", "14 Nov 2023 22:13:20 +99"})
    EXPECT_FALSE(parse_mail_date(bad).has_value()) << bad;
  // Total on every prefix of a valid date.
  const std::string good = "Tue, 14 Nov 2023 22:13:20 +0000 (UTC)";
  for (std::size_t n = 0; n <= good.size(); ++n) (void)parse_mail_date(good.substr(0, n));
}

TEST(AccountSummary, RefusedLoginIsNamedAndScrubbed) {
  Account a;
  a.name = "shop";
  a.server = {"127.0.0.1", 110};
  a.user = "shop-user-88";
  a.password = "pw-Never-Shown-71";
  Report r;
  r.target = "127.0.0.1:110";
  r.pop3.connected = true;
  r.pop3.tls = true;
  r.pop3.cert_valid = true;
  r.pop3.login = {LoginResult::auth_failed, "USER", "AUTH", "no such user shop-user-88"};
  r.error = "login refused (auth-failed): no such user shop-user-88";
  const auto s = summarize(a, r, base::Millis{0});
  EXPECT_EQ(s.health, Health::login_refused);
  EXPECT_EQ(s.refusal, "auth-failed");
  EXPECT_EQ(s.resp_code, "AUTH");
  EXPECT_EQ(s.why, "login refused [AUTH]: no such user ***");
  EXPECT_EQ(s.certificate, "verified");
  EXPECT_FALSE(s.messages.has_value());
  const std::string text = accounts_text({s});
  EXPECT_NE(text.find("FAILED login-refused"), std::string::npos) << text;
  EXPECT_EQ(text.find("shop-user-88"), std::string::npos) << text;
}

TEST(AccountSummary, UnreachableTlsAndLockedAreDistinct) {
  Account a;
  a.name = "x";
  Report r;
  r.error = "cannot connect to 127.0.0.1 port 9 (127.0.0.1: Connection refused)";
  EXPECT_EQ(summarize(a, r, base::Millis{0}).health, Health::unreachable);
  r.pop3.connected = true;
  r.pop3.tls_error = "TLS handshake with 127.0.0.1: wrong version number";
  r.pop3.login.result = LoginResult::io_error;
  const auto tls = summarize(a, r, base::Millis{0});
  EXPECT_EQ(tls.health, Health::tls_failed);
  EXPECT_EQ(tls.why, r.pop3.tls_error);
  r.pop3.tls_error.clear();
  r.pop3.login.result =
      classify_refusal(protocol::parse_pop3_status("-ERR account locked by the administrator"));
  EXPECT_EQ(r.pop3.login.result, LoginResult::auth_failed);
  EXPECT_EQ(summarize(a, r, base::Millis{0}).health, Health::login_refused);
  EXPECT_EQ(classify_refusal(protocol::parse_pop3_status("-ERR unable to lock maildrop")),
            LoginResult::in_use);
  EXPECT_EQ(classify_refusal(protocol::parse_pop3_status("-ERR [SYS/PERM] account disabled")),
            LoginResult::auth_failed);
}

}  // namespace
}  // namespace dropcheck::probe
