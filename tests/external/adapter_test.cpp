// External fetcher adapters: the configuration each adapter generates from a
// scenario's intent, command placeholders, the `fetchers:` expectations, and
// the matrix renderers. Pure: no processes, no sockets.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../builtin_scenario.hpp"
#include "fetcher/config.hpp"
#include "runner/external.hpp"
#include "runner/matrix.hpp"
#include "runner/scenario.hpp"

namespace dropcheck::runner {
namespace {

namespace fs = std::filesystem;

ExternalContext context(const Scenario &s) {
  ExternalContext c;
  c.scenario = &s;
  c.workdir = "/tmp/dc-work";
  c.pop3_port = 40110;
  c.user = "catchall";
  c.password = "s3cret";
  c.smtp_port = 40025;
  return c;
}

bool has_line(const std::string &text, const std::string &line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// ---- fetchmail
// -----------------------------------------------------------------------------

TEST(FetchmailRc, MultidropPollEntryFromTheIntent) {
  const Scenario s = builtin("bcc");  // Envelope-To, fallback postmaster@firma.example
  const auto rc = fetchmail_rc(context(s));
  EXPECT_TRUE(has_line(rc, "set postmaster \"postmaster@firma.example\"")) << rc;
  EXPECT_TRUE(has_line(rc, "set no bouncemail")) << rc;
  EXPECT_TRUE(has_line(rc, "poll 127.0.0.1 with proto pop3 port 40110 no dns uidl")) << rc;
  EXPECT_TRUE(has_line(rc, "  envelope \"Envelope-To\"")) << rc;
  EXPECT_TRUE(has_line(rc, "  localdomains \"firma.example\"")) << rc;
  EXPECT_TRUE(has_line(rc, "  user \"catchall\" with password \"s3cret\" is * here")) << rc;
  EXPECT_TRUE(has_line(rc, "  smtphost 127.0.0.1/40025")) << rc;
  EXPECT_TRUE(has_line(rc, "  sslproto ''")) << rc;
  EXPECT_TRUE(has_line(rc, "  no keep")) << rc;
  EXPECT_EQ(rc.find("qvirtual"), std::string::npos);
  // Server options (envelope, localdomains) precede the user entry, as
  // fetchmail requires.
  EXPECT_LT(rc.find("uidl"), rc.find("user "));
  EXPECT_LT(rc.find("localdomains"), rc.find("user "));
}

TEST(FetchmailRc, OccurrenceBecomesSkipCount) {
  Scenario s = builtin("multi-delivered-to");  // Delivered-To, occurrence 1 = topmost
  EXPECT_TRUE(has_line(fetchmail_rc(context(s)), "  envelope \"Delivered-To\""));
  s.fetcher.envelope.front().occurrence = 3;  // third from the top: skip two
  EXPECT_TRUE(has_line(fetchmail_rc(context(s)), "  envelope 2 \"Delivered-To\""));
  s.fetcher.envelope.front().occurrence = 0;  // every line: fetchmail reads the first
  EXPECT_TRUE(has_line(fetchmail_rc(context(s)), "  envelope \"Delivered-To\""));
}

// Issue 21: Received intent -> fetchmail's default envelope (or a skip count)
// and the provider's MX as a server alias, which fetchmail's Received parser
// requires in the "by" clause.
TEST(FetchmailRc, ReceivedIntentIsTheDefaultEnvelopeWithAka) {
  const Scenario s = builtin("received-for");
  const auto rc = fetchmail_rc(context(s));
  EXPECT_TRUE(has_line(rc, "  aka \"mx.provider.example\"")) << rc;
  EXPECT_EQ(rc.find("  envelope "), std::string::npos) << rc;
  EXPECT_LT(rc.find("aka"), rc.find("user "));
  const Scenario skip = builtin("received-for-skip");
  EXPECT_TRUE(has_line(fetchmail_rc(context(skip)), "  envelope 1 \"Received\""));
}

TEST(GetmailRc, ReceivedIntentIsAHeaderPosition) {
  const Scenario s = builtin("received-for-skip");
  const auto rc = getmail_rc(context(s), "/usr/bin/msmtp", "/w/msmtprc");
  EXPECT_TRUE(has_line(rc, "envelope_recipient = received:2")) << rc;
}

TEST(Command, ReceivedIntentKeepsTheProvidersHost) {
  const Scenario s = builtin("received-for");
  const fs::path dir = fs::temp_directory_path() / ("dc-rcvd-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "pw") << "s3cret\n";
  std::ofstream(dir / "intent.yaml")
      << intent_config(context(s), (dir / "pw").string(), (dir / "st").string());
  auto cfg = fetcher::load_config((dir / "intent.yaml").string());
  fs::remove_all(dir);
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->routing.envelope.at(0).header, "Received");
  EXPECT_EQ(cfg->routing.envelope.at(0).received_by, "mx.provider.example");
}

TEST(FetchmailRc, QmailPrefixBecomesQvirtual) {
  const Scenario s = builtin("qmail-prefix");
  EXPECT_TRUE(has_line(fetchmail_rc(context(s)), "  qvirtual \"firma.example-\""));
}

TEST(FetchmailRc, AliasesLmtpKeepAndToCc) {
  Scenario s = builtin("aliases-domains");
  s.fetcher.keep = true;
  s.fetcher.to_cc = true;
  auto ctx = context(s);
  ctx.lmtp = true;
  const auto rc = fetchmail_rc(ctx);
  EXPECT_TRUE(has_line(rc, "  localdomains \"firma.example\" \"firma.de\"")) << rc;
  EXPECT_NE(rc.find("\"info@firma.example\"=\"anna@firma.example\""), std::string::npos) << rc;
  EXPECT_TRUE(has_line(rc, "  lmtp smtphost 127.0.0.1/40025")) << rc;
  EXPECT_TRUE(has_line(rc, "  keep")) << rc;
  EXPECT_TRUE(has_line(rc, "  no envelope")) << rc;
}

TEST(FetchmailRc, QuotesAreEscaped) {
  // fetchmail's lexer ends a string at the first '"' even after a backslash
  // ("a\"b" is a syntax error for fetchmail 6.4.37): '"' becomes \x22.
  Scenario s = builtin("baseline");
  auto ctx = context(s);
  ctx.password = "a\"b\\c";
  const auto rc = fetchmail_rc(ctx);
  EXPECT_NE(rc.find("password \"a\\x22b\\\\c\""), std::string::npos) << rc;
  EXPECT_EQ(rc.find("\\\""), std::string::npos) << rc;
}

TEST(FetchmailArgv, OwnFilesPerCell) {
  const auto argv = fetchmail_argv("/w/fetchmail");
  const std::vector<std::string> want = {"fetchmail",
                                         "-f",
                                         "/w/fetchmail/fetchmailrc",
                                         "--pidfile",
                                         "/w/fetchmail/fetchmail.pid",
                                         "-i",
                                         "/w/fetchmail/fetchids",
                                         "-d0",
                                         "-v",
                                         "--nosyslog"};
  EXPECT_EQ(argv, want);
}

// ---- several accounts (issue 17 item 6)
// ------------------------------------------------------------

// A catch-all (multidrop) and two per-user mailboxes (single-drop).
ExternalContext three_accounts(const Scenario &s) {
  ExternalContext c = context(s);
  c.accounts = {{"catchall", "catchall", "sec-c", "", 0},
                {"alice", "alice", "sec-a", "alice@firma.example", 0},
                {"bob", "bob.m", "sec-b", "bob@firma.de", 0}};
  return c;
}

std::size_t count(const std::string &text, const std::string &what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(Accounts, NoneMeansTheOneMultidropAccountOfTheContext) {
  const Scenario s = builtin("baseline");
  auto ctx = context(s);
  const auto a = external_accounts(ctx);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].user, "catchall");
  EXPECT_EQ(a[0].password, "s3cret");
  EXPECT_EQ(a[0].deliver_to, "");
  EXPECT_EQ(a[0].port, 40110);
  EXPECT_TRUE(check_accounts(ctx).ok());
  ctx.accounts = {{"x", "u", "p", "", 41000}};
  EXPECT_EQ(external_accounts(ctx).at(0).port, 41000);  // override kept
}

TEST(Accounts, BadAccountsAreRejectedByName) {
  const Scenario s = builtin("baseline");
  const auto rejected = [&](ExternalAccount a, const std::string &why) {
    auto ctx = three_accounts(s);
    ctx.accounts.push_back(std::move(a));
    const auto st = check_accounts(ctx);
    if (st.ok()) return std::string("accepted");
    EXPECT_EQ(st.error().code, "bad-account");
    return st.error().message.find(why) != std::string::npos ? std::string("ok")
                                                             : st.error().message;
  };
  EXPECT_TRUE(check_accounts(three_accounts(s)).ok());
  EXPECT_EQ(rejected({"Alice", "u", "p", "", 0}, "[a-z0-9_-]"), "ok");
  EXPECT_EQ(rejected({"", "u", "p", "", 0}, "[a-z0-9_-]"), "ok");
  EXPECT_EQ(rejected({"a/b", "u", "p", "", 0}, "[a-z0-9_-]"), "ok");
  EXPECT_EQ(rejected({"alice", "u", "p", "", 0}, "used twice"), "ok");
  EXPECT_EQ(rejected({"x", "", "p", "", 0}, "no POP3 user"), "ok");
  EXPECT_EQ(rejected({"x", "u", "p\nkeep", "", 0}, "control"), "ok");
  EXPECT_EQ(rejected({"x", "u", "p", "carol", 0}, "full address"), "ok");
  EXPECT_EQ(rejected({"x", "u", "p", "c\"@d", 0}, "full address"), "ok");
  EXPECT_EQ(rejected({"x-1_y", "u", "p", "carol@firma.example", 0}, ""), "accepted");
}

TEST(FetchmailRc, OneUserEntryPerAccountUnderOnePoll) {
  const Scenario s = builtin("aliases-domains");
  const auto rc = fetchmail_rc(three_accounts(s));
  EXPECT_EQ(count(rc, "poll "), 1u) << rc;
  EXPECT_TRUE(has_line(rc, "poll 127.0.0.1 with proto pop3 port 40110 no dns uidl")) << rc;
  // The catch-all routes by envelope (aliases, '*'); each per-user box goes to
  // its one full address.
  const auto user_line = rc.find("  user \"catchall\" with password \"sec-c\" is ");
  ASSERT_NE(user_line, std::string::npos) << rc;
  const std::string line = rc.substr(user_line, rc.find('\n', user_line) - user_line);
  EXPECT_NE(line.find("\"info@firma.example\"=\"anna@firma.example\""), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.size() - 7), " * here") << line;
  EXPECT_EQ(count(rc, " * here\n"), 1u) << rc;
  EXPECT_TRUE(has_line(rc,
                       "  user \"alice\" with password \"sec-a\" is "
                       "\"alice@firma.example\" here"))
      << rc;
  EXPECT_TRUE(has_line(rc,
                       "  user \"bob.m\" with password \"sec-b\" is "
                       "\"bob@firma.de\" here"))
      << rc;
  // User options follow every user entry (fetchmail binds them to the user).
  EXPECT_EQ(count(rc, "  smtphost 127.0.0.1/40025\n"), 3u) << rc;
  EXPECT_EQ(count(rc, "  sslproto ''\n"), 3u) << rc;
  EXPECT_EQ(count(rc, "  no keep\n"), 3u) << rc;
  EXPECT_LT(rc.find("localdomains"), rc.find("user "));
  EXPECT_LT(rc.find("user \"catchall\""), rc.find("user \"alice\""));
  EXPECT_LT(rc.find("user \"alice\""), rc.find("user \"bob.m\""));
}

TEST(FetchmailRc, OneAccountListedIsTheSingleAccountRc) {
  const Scenario s = builtin("bcc");
  auto listed = context(s);
  listed.accounts = {{"catchall", "catchall", "s3cret", "", 0}};
  EXPECT_EQ(fetchmail_rc(listed), fetchmail_rc(context(s)));
  // One single-drop account alone: no multidrop entry at all.
  listed.accounts = {{"alice", "alice", "sec-a", "alice@firma.example", 0}};
  const auto rc = fetchmail_rc(listed);
  EXPECT_EQ(rc.find("* here"), std::string::npos) << rc;
  EXPECT_TRUE(has_line(rc,
                       "  user \"alice\" with password \"sec-a\" is "
                       "\"alice@firma.example\" here"))
      << rc;
}

TEST(FetchmailRc, AccountsOnOtherPortsGetTheirOwnPoll) {
  const Scenario s = builtin("baseline");
  auto ctx = three_accounts(s);
  ctx.accounts[1].port = 40111;
  ctx.pop3_tls = client::TlsMode::implicit;
  ctx.ca_file = "/w/ca.pem";
  ctx.lmtp = true;
  const auto rc = fetchmail_rc(ctx);
  EXPECT_EQ(count(rc, "poll "), 2u) << rc;
  const auto second = rc.find("poll 127.0.0.1 with proto pop3 port 40111");
  ASSERT_NE(second, std::string::npos) << rc;
  // catchall and bob under the first poll, alice under the second.
  EXPECT_LT(rc.find("user \"bob.m\""), second) << rc;
  EXPECT_GT(rc.find("user \"alice\""), second) << rc;
  EXPECT_EQ(count(rc, "  envelope \"X-Envelope-To\"\n"), 2u) << rc;
  EXPECT_EQ(count(rc, "  ssl\n"), 3u) << rc;
  EXPECT_EQ(count(rc, "sslcertfile \"/w/ca.pem\""), 3u) << rc;
  EXPECT_EQ(count(rc, "  lmtp smtphost 127.0.0.1/40025\n"), 3u) << rc;
}

TEST(FetchmailArgv, NoSecretInArgv) {
  const auto argv = fetchmail_argv("/w/fetchmail");
  for (const auto &a : argv)
    for (const char *pw : {"sec-c", "sec-a", "sec-b", "s3cret"})
      EXPECT_EQ(a.find(pw), std::string::npos) << a;
}

// ---- getmail6
// ------------------------------------------------------------------------------

TEST(GetmailRc, MultidropRetrieverAndMsmtpDestination) {
  const Scenario s = builtin("multi-delivered-to");
  const auto rc = getmail_rc(context(s), "/usr/bin/msmtp", "/w/msmtprc");
  EXPECT_TRUE(has_line(rc, "[retriever]")) << rc;
  EXPECT_TRUE(has_line(rc, "type = MultidropPOP3Retriever")) << rc;
  EXPECT_TRUE(has_line(rc, "port = 40110")) << rc;
  EXPECT_TRUE(has_line(rc, "username = catchall")) << rc;
  EXPECT_TRUE(has_line(rc, "envelope_recipient = delivered-to:1")) << rc;
  EXPECT_TRUE(has_line(rc, "type = MDA_external")) << rc;
  EXPECT_TRUE(has_line(rc, "path = /usr/bin/msmtp")) << rc;
  EXPECT_NE(rc.find("\"--port=40025\", \"--protocol=smtp\""), std::string::npos) << rc;
  EXPECT_NE(rc.find("\"-f\", \"%(sender)\", \"--\", \"%(recipient)\")"), std::string::npos) << rc;
  EXPECT_NE(rc.find("\"--set-from-header=off\""), std::string::npos) << rc;
  EXPECT_TRUE(has_line(rc, "read_all = false")) << rc;
  EXPECT_TRUE(has_line(rc, "delete = true")) << rc;
}

TEST(GetmailRc, OccurrenceKeepAndLmtp) {
  Scenario s = builtin("header-x-envelope-to");  // occurrence 0 = every line
  s.fetcher.keep = true;
  auto ctx = context(s);
  ctx.lmtp = true;
  const auto rc = getmail_rc(ctx, "/usr/bin/msmtp", "/w/msmtprc");
  EXPECT_TRUE(has_line(rc, "envelope_recipient = x-envelope-to:1")) << rc;
  EXPECT_TRUE(has_line(rc, "delete = false")) << rc;
  EXPECT_NE(rc.find("\"--protocol=lmtp\""), std::string::npos) << rc;
  const auto argv = getmail_argv("/w/g", "/w/g/getmailrc");
  EXPECT_EQ(argv, (std::vector<std::string>{"getmail", "--getmaildir", "/w/g", "--rcfile",
                                            "/w/g/getmailrc"}));
}

TEST(GetmailRc, OneRcPerAccount) {
  const Scenario s = builtin("multi-delivered-to");
  const auto ctx = three_accounts(s);
  const auto accounts = external_accounts(ctx);
  ASSERT_EQ(accounts.size(), 3u);
  const auto catchall = getmail_rc(ctx, accounts[0], "/usr/bin/msmtp", "/w/m");
  EXPECT_TRUE(has_line(catchall, "type = MultidropPOP3Retriever")) << catchall;
  EXPECT_TRUE(has_line(catchall, "username = catchall")) << catchall;
  EXPECT_TRUE(has_line(catchall, "password = sec-c")) << catchall;
  EXPECT_TRUE(has_line(catchall, "envelope_recipient = delivered-to:1")) << catchall;
  EXPECT_NE(catchall.find("\"--\", \"%(recipient)\")"), std::string::npos) << catchall;
  for (std::size_t i : {1u, 2u}) {
    const auto rc = getmail_rc(ctx, accounts[i], "/usr/bin/msmtp", "/w/m");
    EXPECT_TRUE(has_line(rc, "type = SimplePOP3Retriever")) << rc;
    EXPECT_TRUE(has_line(rc, "username = " + accounts[i].user)) << rc;
    EXPECT_TRUE(has_line(rc, "password = " + accounts[i].password)) << rc;
    EXPECT_TRUE(has_line(rc, "port = 40110")) << rc;
    // getmail has no %(recipient) for a single-drop retriever: the fixed
    // address.
    EXPECT_EQ(rc.find("envelope_recipient"), std::string::npos) << rc;
    EXPECT_EQ(rc.find("%(recipient)"), std::string::npos) << rc;
    EXPECT_NE(rc.find("\"-f\", \"%(sender)\", \"--\", \"" + accounts[i].deliver_to + "\")"),
              std::string::npos)
        << rc;
    EXPECT_TRUE(has_line(rc, "delete = true")) << rc;
  }
  EXPECT_EQ(getmail_rc_name(ctx, accounts[1]), "getmailrc-alice");
  EXPECT_EQ(getmail_rc_name(context(s), external_accounts(context(s))[0]), "getmailrc");
}

TEST(GetmailRc, SingleAccountOverloadsAgree) {
  const Scenario s = builtin("bcc");
  auto ctx = context(s);
  ctx.pop3_tls = client::TlsMode::implicit;
  ctx.ca_file = "/w/ca.pem";
  EXPECT_EQ(getmail_rc(ctx, "/usr/bin/msmtp", "/w/m"),
            getmail_rc(ctx, external_accounts(ctx)[0], "/usr/bin/msmtp", "/w/m"));
  auto three = three_accounts(s);
  three.pop3_tls = client::TlsMode::implicit;
  three.ca_file = "/w/ca.pem";
  three.accounts[2].port = 40995;
  const auto rc = getmail_rc(three, external_accounts(three)[2], "/usr/bin/msmtp", "/w/m");
  EXPECT_TRUE(has_line(rc, "type = SimplePOP3SSLRetriever")) << rc;
  EXPECT_TRUE(has_line(rc, "ca_certs = /w/ca.pem")) << rc;
  EXPECT_TRUE(has_line(rc, "port = 40995")) << rc;
}

TEST(GetmailArgv, EveryRcFileInOneInvocationAndNoSecret) {
  const auto argv = getmail_argv(
      "/w/g", {"/w/g/getmailrc-catchall", "/w/g/getmailrc-alice", "/w/g/getmailrc-bob"});
  EXPECT_EQ(argv, (std::vector<std::string>{
                      "getmail", "--getmaildir", "/w/g", "--rcfile", "/w/g/getmailrc-catchall",
                      "--rcfile", "/w/g/getmailrc-alice", "--rcfile", "/w/g/getmailrc-bob"}));
  for (const auto &a : argv)
    for (const char *pw : {"sec-c", "sec-a", "sec-b"})
      EXPECT_EQ(a.find(pw), std::string::npos) << a;
}

// ---- command
// -------------------------------------------------------------------------------

TEST(Command, PlaceholdersAreSubstitutedShellQuoted) {
  const Scenario s = builtin("baseline");
  const auto values = command_placeholders(context(s), "/w/intent.yaml", "/w/pw", "/w/state");
  auto line = substitute_command(
      "f --host {pop3_host} --port {pop3_port} --user {user} --password "
      "{password} "
      "--smtp-port {smtp_port} --config {config} --cycle {cycle} {{literal}}",
      values);
  ASSERT_TRUE(line.ok()) << line.error().message;
  EXPECT_EQ(*line,
            "f --host '127.0.0.1' --port '40110' --user 'catchall' --password "
            "'s3cret' "
            "--smtp-port '40025' --config '/w/intent.yaml' --cycle '1' {literal}");
  for (const char *name :
       {"password_file", "smtp_host", "lmtp", "protocol", "workdir", "state_dir"})
    EXPECT_TRUE(values.count(name)) << name;
}

TEST(Command, BadTemplatesAreErrors) {
  const std::map<std::string, std::string> v = {{"a", "1"}};
  auto unknown = substitute_command("x {nope}", v);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, "bad-command");
  EXPECT_NE(unknown.error().message.find("{nope}"), std::string::npos);
  EXPECT_FALSE(substitute_command("x {a", v).ok());
  EXPECT_FALSE(substitute_command("x a}", v).ok());
  EXPECT_EQ(*substitute_command("{a}{a}", v), "'1''1'");
}

TEST(Command, ShellQuote) {
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
}

TEST(Command, IntentIsAFetcherCoreConfig) {
  // {config} is in the format of `dropcheck fetch --config`, so the core can be
  // the command.
  const Scenario s = builtin("qmail-prefix");
  const fs::path dir = fs::temp_directory_path() / ("dc-intent-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream(dir / "pw") << "s3cret\n";
    std::ofstream(dir / "intent.yaml")
        << intent_config(context(s), (dir / "pw").string(), (dir / "state").string());
  }
  auto cfg = fetcher::load_config((dir / "intent.yaml").string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->pop3.port, 40110);
  EXPECT_EQ(cfg->pop3.user, "catchall");
  EXPECT_EQ(cfg->pop3.password, "s3cret");
  EXPECT_EQ(cfg->smtp.port, 40025);
  ASSERT_EQ(cfg->routing.envelope.size(), 1u);
  EXPECT_EQ(cfg->routing.envelope[0].header, "Delivered-To");
  EXPECT_EQ(cfg->routing.envelope[0].occurrence, 1);
  EXPECT_TRUE(cfg->routing.envelope[0].strip_qmail_prefix);
  EXPECT_EQ(cfg->routing.local_domains, std::vector<std::string>{"firma.example"});
  EXPECT_EQ(cfg->routing.fallback, "postmaster@firma.example");
  EXPECT_EQ(cfg->routing.users.size(), 3u);
  EXPECT_EQ(cfg->state_dir, (dir / "state").string());
  fs::remove_all(dir);
}

TEST(Command, SeveralAccountsInTheIntent) {
  const Scenario s = builtin("qmail-prefix");
  auto ctx = three_accounts(s);
  ctx.accounts[2].port = 40111;
  const auto files = account_password_files(ctx, "/w/pw");
  EXPECT_EQ(files, (std::vector<std::string>{"/w/pw", "/w/pw-alice", "/w/pw-bob"}));
  const auto text = intent_config(ctx, "/w/pw", "/w/state");
  const YAML::Node y = YAML::Load(text);
  EXPECT_FALSE(y["pop3"]) << text;  // per account only
  EXPECT_EQ(y["smtp"]["port"].as<int>(), 40025);
  EXPECT_EQ(y["routing"]["envelope"][0]["header"].as<std::string>(), "Delivered-To");
  EXPECT_EQ(y["state_dir"].as<std::string>(), "/w/state");
  EXPECT_EQ(y["parallel"].as<int>(), 1);
  const YAML::Node a = y["accounts"];
  ASSERT_TRUE(a.IsSequence()) << text;
  ASSERT_EQ(a.size(), 3u);
  const std::vector<std::string> names = {"catchall", "alice", "bob"};
  const std::vector<std::string> users = {"catchall", "alice", "bob.m"};
  const std::vector<int> ports = {40110, 40110, 40111};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a[i]["name"].as<std::string>(), names[i]);
    EXPECT_EQ(a[i]["pop3"]["user"].as<std::string>(), users[i]);
    EXPECT_EQ(a[i]["pop3"]["port"].as<int>(), ports[i]);
    EXPECT_EQ(a[i]["pop3"]["host"].as<std::string>(), "127.0.0.1");
    EXPECT_EQ(a[i]["pop3"]["tls"].as<std::string>(), "none");
    EXPECT_EQ(a[i]["pop3"]["password_file"].as<std::string>(), files[i]);
    EXPECT_FALSE(a[i]["pop3"]["password"]) << text;
  }
  EXPECT_EQ(a[0]["mode"].as<std::string>(), "multidrop");
  EXPECT_FALSE(a[0]["deliver_to"]);
  EXPECT_EQ(a[1]["mode"].as<std::string>(), "single");
  EXPECT_EQ(a[1]["deliver_to"].as<std::string>(), "alice@firma.example");
  EXPECT_EQ(a[2]["deliver_to"].as<std::string>(), "bob@firma.de");
  for (const char *pw : {"sec-c", "sec-a", "sec-b"})
    EXPECT_EQ(text.find(pw), std::string::npos) << pw;
  // Without accounts: no accounts list, one password file.
  const auto one = YAML::Load(intent_config(context(s), "/w/pw", "/w/state"));
  EXPECT_FALSE(one["accounts"]);
  EXPECT_EQ(one["pop3"]["user"].as<std::string>(), "catchall");
  EXPECT_EQ(account_password_files(context(s), "/w/pw"), std::vector<std::string>{"/w/pw"});
}

TEST(Command, PlaceholdersAreTheFirstAccounts) {
  const Scenario s = builtin("baseline");
  auto ctx = three_accounts(s);
  ctx.user = "ignored";
  ctx.accounts[0].port = 40111;
  const auto v = command_placeholders(ctx, "/w/i.yaml", "/w/pw", "/w/state");
  EXPECT_EQ(v.at("user"), "catchall");
  EXPECT_EQ(v.at("password"), "sec-c");
  EXPECT_EQ(v.at("password_file"), "/w/pw");
  EXPECT_EQ(v.at("pop3_port"), "40111");
}

// ---- scenario format: fetchers:
// --------------------------------------------------------------

constexpr const char *kScenario = R"(version: 1
name: t
world: {local_domains: [firma.example]}
messages:
  - {from: a@sender.example, to: [a@firma.example], headers: "From: a@sender.example\n"}
expect: []
fetchers:
  fetchmail:
    - {type: envelope-header-leak, recipient: b@firma.example}
  getmail6: []
)";

TEST(ScenarioFetchers, ParsedAndApplied) {
  auto s = parse_scenario(kScenario, "t.yaml");
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->fetchers.size(), 2u);
  const Scenario fm = with_fetcher(*s, FetcherKind::fetchmail);
  EXPECT_EQ(fm.fetcher.kind, FetcherKind::fetchmail);
  ASSERT_EQ(fm.expect.any_of.at(0).size(), 1u);
  EXPECT_EQ(fm.expect.any_of[0][0].type, "envelope-header-leak");
  EXPECT_TRUE(with_fetcher(*s, FetcherKind::getmail6).expect.empty());
  const Scenario cmd = with_fetcher(*s, FetcherKind::command, "true");
  EXPECT_EQ(cmd.fetcher.command, "true");
  EXPECT_TRUE(cmd.expect.empty());  // not listed: exactly `expect`
}

TEST(ScenarioFetchers, UnknownKindIsRejectedWithPosition) {
  std::string text = kScenario;
  text.replace(text.find("getmail6"), 8, "pullmail");
  auto s = parse_scenario(text, "t.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("t.yaml:10:3"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("fetchers.pullmail"), std::string::npos);
}

TEST(ScenarioFetchers, KindsAreKnown) {
  EXPECT_EQ(external_fetcher_kinds(),
            (std::vector<std::string>{"fetchmail", "getmail6", "command"}));
  EXPECT_TRUE(is_external_fetcher("getmail6"));
  EXPECT_FALSE(is_external_fetcher("core"));
  std::string missing;
  EXPECT_FALSE(external_fetcher_available("nope", &missing));
  EXPECT_TRUE(external_fetcher_available("command"));
}

// ---- matrix renderers
// ----------------------------------------------------------------------

MatrixResult sample_matrix() {
  MatrixResult m;
  m.scenarios = {"bcc"};
  m.fetchers = {"core", "fetchmail"};
  MatrixCell ok;
  ok.scenario = "bcc";
  ok.provider = "envelope-to";
  ok.fetcher = "core";
  ok.result.name = "bcc";
  MatrixCell bad = ok;
  bad.fetcher = "fetchmail";
  bad.result.report.findings.push_back(
      {"envelope-header-leak", "bcc-1", "b@firma.example",
       "journal #1: copy for a@firma.example shows b@firma.example in "
       "\"Envelope-To: <a&b>\"",
       1});
  bad.result.unexpected = {"envelope-header-leak message=bcc-1 recipient=b@firma.example"};
  bad.result.missing = {"lost-recipient message=* recipient=*"};
  m.cells = {ok, bad};
  return m;
}

TEST(Matrix, CheckFetchers) {
  EXPECT_TRUE(check_matrix_fetchers({"core", "no-strip", "fetchmail", "getmail6"}, "").ok());
  EXPECT_FALSE(check_matrix_fetchers({"command"}, "").ok());
  EXPECT_TRUE(check_matrix_fetchers({"command"}, "true").ok());
  EXPECT_FALSE(check_matrix_fetchers({"none"}, "").ok());
  EXPECT_FALSE(check_matrix_fetchers({"sendmail"}, "").ok());
  EXPECT_FALSE(check_matrix_fetchers({}, "").ok());
}

TEST(Matrix, CellScenario) {
  const Scenario s = builtin("bcc");
  const Scenario d = matrix_cell_scenario(s, "", "no-strip", "");
  EXPECT_EQ(d.fetcher.kind, FetcherKind::core);
  EXPECT_EQ(d.fetcher.defect, fetcher::Defect::no_strip);
  EXPECT_EQ(d.expect.any_of.at(0).size(), 1u);
  const Scenario p = matrix_cell_scenario(s, "x-envelope-to", "getmail6", "");
  EXPECT_EQ(p.fetcher.kind, FetcherKind::getmail6);
  EXPECT_EQ(p.profile, "x-envelope-to");
}

TEST(Matrix, JsonShape) {
  const auto j = matrix_json(sample_matrix());
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["fetchers"], nlohmann::json({"core", "fetchmail"}));
  EXPECT_EQ(j["cells_total"], 2);
  EXPECT_EQ(j["cells_failed"], 1);
  EXPECT_EQ(j["passed"], false);
  ASSERT_EQ(j["cells"].size(), 2u);
  const auto &c = j["cells"][1];
  for (const char *k : {"scenario", "provider", "fetcher", "passed", "label", "findings", "missing",
                        "unexpected", "error", "cycles", "wall_ms"})
    EXPECT_TRUE(c.contains(k)) << k;
  EXPECT_EQ(c["fetcher"], "fetchmail");
  EXPECT_EQ(c["passed"], false);
  EXPECT_EQ(c["findings"][0]["type"], "envelope-header-leak");
  EXPECT_EQ(c["label"], "FAIL +1 -1");
  EXPECT_EQ(j["cells"][0]["label"], "ok");
}

TEST(Matrix, JunitShape) {
  const auto x = matrix_junit(sample_matrix());
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites ", 0), 0u) << x;
  EXPECT_NE(x.find("tests=\"2\" failures=\"1\" errors=\"0\""), std::string::npos) << x;
  EXPECT_NE(x.find("<testsuite name=\"matrix.core\" tests=\"1\""), std::string::npos) << x;
  EXPECT_NE(x.find("<testsuite name=\"matrix.fetchmail\" tests=\"1\" failures=\"1\""),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<testcase classname=\"matrix.fetchmail.envelope-to\" name=\"bcc\""),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<failure message=\"1 missing, 1 unexpected finding(s)\""), std::string::npos);
  EXPECT_NE(x.find("unexpected: envelope-header-leak message=bcc-1 "
                   "recipient=b@firma.example"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("&lt;a&amp;b&gt;"), std::string::npos);  // evidence escaped
  EXPECT_EQ(x.find("<a&b>"), std::string::npos);
  // Balanced elements.
  auto count = [&](const std::string &s) {
    std::size_t n = 0;
    for (auto p = x.find(s); p != std::string::npos; p = x.find(s, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<testsuite "), count("</testsuite>"));
  EXPECT_EQ(count("<testcase "), 2u);
}

TEST(Matrix, HtmlIsSelfContained) {
  // The regression view (fetchmail in the run makes evaluation the default: tests/runner/).
  const auto h = matrix_html(sample_matrix(), MatrixView::regression);
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("<style>"), std::string::npos);
  EXPECT_EQ(h.find("<script src"), std::string::npos);  // only the inline lines of pictures.hpp
  EXPECT_EQ(h.find("<link"), std::string::npos);
  EXPECT_EQ(h.find("src="), std::string::npos);
  EXPECT_NE(h.find("<td class=\"fail\"><details><summary>FAIL +1 -1</summary>"), std::string::npos)
      << h;
  EXPECT_NE(h.find("<td class=\"clean\">ok</td>"), std::string::npos) << h;
  EXPECT_NE(h.find("&lt;a&amp;b&gt;"), std::string::npos);
  EXPECT_NE(h.find("</html>"), std::string::npos);
}

TEST(Matrix, TextTable) {
  const auto t = matrix_text(sample_matrix(), MatrixView::regression);
  EXPECT_EQ(t.rfind("SCENARIO", 0), 0u) << t;
  EXPECT_NE(t.find("fetchmail"), std::string::npos);
  EXPECT_NE(t.find("FAIL +1 -1"), std::string::npos);
  EXPECT_NE(t.find("    fetchmail: unexpected: envelope-header-leak"), std::string::npos) << t;
  EXPECT_NE(t.find("2 cell(s), 1 failed"), std::string::npos) << t;
}

}  // namespace
}  // namespace dropcheck::runner

// Issue 15: reports never abort on bytes (item 5) and show each cell's scheduled events and
// the not-exercised status (item 1).
#include "analyzer/report.hpp"

namespace dropcheck::runner {
namespace {

MatrixResult latin1_matrix() {
  MatrixResult m = sample_matrix();
  auto &r = m.cells[1].result;
  r.report.findings.push_back({"bcc-header-leak", "bcc-1", "a@firma.example",
                               "journal #1: \"Bcc: J\xFCrgen <b@firma.example>\"", 1});
  r.unexpected.push_back("bcc-header-leak message=bcc-1 recipient=J\xFC@firma.example");
  r.cycles.push_back({});
  r.cycles.back().detail = "fetchmail: Nachricht f\xFCr a@ \x01 gel\xF6scht";
  r.events.push_back({"overlap", false, "cycle 1 never retrieved 1 message(s)"});
  r.events.push_back({"provider-fault:drop_in_retr", true, "fired 1 time(s)"});
  return m;
}

TEST(MatrixBytes, Latin1AndControlOctetsNeverAbortAReport) {
  const MatrixResult m = latin1_matrix();
  nlohmann::json j = matrix_json(m);
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  const auto &c = j["cells"][1];
  EXPECT_EQ(c["findings"][1]["evidence"], "journal #1: \"Bcc: J\u00fcrgen <b@firma.example>\"");
  EXPECT_TRUE(c["findings"][1].contains("evidence_hex"));
  for (const std::string &out : {matrix_junit(m), matrix_html(m)}) {
    EXPECT_EQ(analyzer::utf8_text(out), out);  // valid UTF-8 throughout
    EXPECT_NE(out.find("J\u00fcrgen"), std::string::npos);
    EXPECT_EQ(out.find('\x01'), std::string::npos);  // not allowed in XML 1.0
  }
  ASSERT_NO_THROW((void)result_json(m.cells[1].result).dump());
}

TEST(MatrixEvents, NotExercisedCellsAreErrorsAndEveryReportListsTheEvents) {
  const MatrixResult m = latin1_matrix();
  const MatrixCell &c = m.cells[1];
  EXPECT_EQ(c.result.status(), "not-exercised");
  EXPECT_FALSE(c.result.passed());
  EXPECT_EQ(cell_label(c), "NOT-EXERCISED");
  const auto j = matrix_json(m);
  EXPECT_EQ(j["cells"][1]["status"], "not-exercised");
  EXPECT_EQ(j["cells"][1]["events"][0]["name"], "overlap");
  EXPECT_EQ(j["cells"][1]["events"][0]["fired"], false);
  EXPECT_EQ(j["cells"][1]["events"][1]["fired"], true);
  const auto x = matrix_junit(m);
  EXPECT_NE(x.find("tests=\"2\" failures=\"0\" errors=\"1\""), std::string::npos) << x;
  EXPECT_NE(x.find("type=\"not-exercised\""), std::string::npos) << x;
  EXPECT_NE(x.find("event provider-fault:drop_in_retr fired"), std::string::npos) << x;
  const auto h = matrix_html(m);
  EXPECT_NE(h.find("<td class=\"notexercised\"><details><summary>NOT-EXERCISED</summary>"),
            std::string::npos);
  EXPECT_NE(h.find("overlap NOT FIRED (cycle 1 never retrieved 1 message(s))"), std::string::npos);
  const auto t = matrix_text(m);
  EXPECT_NE(t.find("fetchmail: not exercised: overlap: cycle 1 never retrieved"), std::string::npos)
      << t;
  EXPECT_NE(t.find("scheduled: overlap, provider-fault:drop_in_retr"), std::string::npos) << t;
}

}  // namespace
}  // namespace dropcheck::runner
