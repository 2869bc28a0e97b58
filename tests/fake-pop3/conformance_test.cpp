// Conformance: the fake-pop3 program against real POP3 clients (Python poplib, mpop, fetchmail,
// getmail6). Each test starts its own fake-pop3 on 127.0.0.1:0, delivers through the MX intake,
// retrieves with the client and checks what arrived; the process is always stopped.
// A client that is not installed makes its test SKIP.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "net/asio.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char kPassword[] = "s3cret pass";  // a space: PASS takes the rest of the line

bool have(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text, fs::perms perms) {
  {
    std::ofstream f(p, std::ios::binary);
    f << text;
  }
  fs::permissions(p, perms);
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dropcheck-conf-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// The fake-pop3 program, started with stdout on a pipe; stopped with SIGTERM in the destructor.
// Its one mailbox is "catchall" with kPassword unless `extra` has --mailboxes.
class FakePop3 {
 public:
  FakePop3(const std::string& profile, const fs::path& dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"fake-pop3",   "--listen",  "127.0.0.1:0", "--mx-listen",
                                     "127.0.0.1:0", "--profile", profile};
    if (std::find(extra.begin(), extra.end(), "--mailboxes") == extra.end())
      args.insert(args.end(), {"--user", "catchall", "--password", kPassword});
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    stderr_path_ = dir / "fake-pop3.stderr";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) ::dup2(err, 2);
      ::close(fds[0]);
      ::execv(DROPCHECK_FAKE_POP3_BIN, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
    // Wait (bounded) for both "pop3 ADDR:PORT" and "mx ADDR:PORT".
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    const std::regex pop3_re("pop3 127\\.0\\.0\\.1:(\\d+)\n"), mx_re("mx 127\\.0\\.0\\.1:(\\d+)\n");
    const std::regex pop3s_re("pop3s 127\\.0\\.0\\.1:(\\d+)\n");
    const bool want_pop3s = std::find(extra.begin(), extra.end(), "--tls-listen") != extra.end();
    std::smatch m1, m2, m3;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (std::regex_search(text, m1, pop3_re) && std::regex_search(text, m2, mx_re) &&
          (!want_pop3s || std::regex_search(text, m3, pop3s_re))) {
        pop3_port = static_cast<std::uint16_t>(std::stoi(m1[1]));
        mx_port = static_cast<std::uint16_t>(std::stoi(m2[1]));
        if (want_pop3s) pop3s_port = static_cast<std::uint16_t>(std::stoi(m3[1]));
        return;
      }
    }
    stop();
    throw std::runtime_error("fake-pop3 did not report its ports: " + text);
  }
  ~FakePop3() { stop(); }

  // SIGTERM, then a bounded wait; SIGKILL as a last resort. Returns the exit status.
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = 0;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      ::usleep(50'000);
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      pid_ = 0;
      status_ = -1;
    }
    if (out_ >= 0) ::close(out_);
    out_ = -1;
    return status_;
  }
  std::string log() const { return slurp(stderr_path_); }

  std::uint16_t pop3_port = 0;
  std::uint16_t mx_port = 0;
  std::uint16_t pop3s_port = 0;

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
  fs::path stderr_path_;
};

// One pipelined SMTP transaction to the MX intake (blocking, bounded by the server's replies).
void smtp_deliver(std::uint16_t port, const std::string& from,
                  const std::vector<std::string>& rcpts, const std::string& message) {
  namespace asio = dropcheck::net::asio;
  asio::io_context io;
  dropcheck::net::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  std::string script = "EHLO conformance.test\r\nMAIL FROM:<" + from + ">\r\n";
  for (const auto& r : rcpts) script += "RCPT TO:<" + r + ">\r\n";
  script += "DATA\r\n";
  asio::write(s, asio::buffer(script));
  // DATA may only follow once 354 is in (RFC 2920 3.1 allows pipelining up to DATA).
  std::string got;
  dropcheck::net::error_code ec;
  while (got.find("\r\n354 ") == std::string::npos && got.find("354 ") != 0) {
    char buf[512];
    const auto n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  ASSERT_NE(got.find("354 "), std::string::npos) << got;
  std::string body;
  for (std::size_t pos = 0; pos < message.size();) {
    auto nl = message.find('\n', pos);
    if (nl == std::string::npos) nl = message.size() - 1;
    std::string line = message.substr(pos, nl + 1 - pos);
    if (!line.empty() && line[0] == '.') body += '.';
    body += line;
    pos = nl + 1;
  }
  body += ".\r\nQUIT\r\n";
  asio::write(s, asio::buffer(body));
  got.clear();
  for (;;) {
    char buf[512];
    const auto n = s.read_some(asio::buffer(buf), ec);
    if (ec) break;
    got.append(buf, n);
  }
  EXPECT_NE(got.find("250 "), std::string::npos) << got;
  EXPECT_NE(got.find("221 "), std::string::npos) << got;
}

const char kMessage[] =
    "From: sender@world.example\r\n"
    "To: user1@firma.example, outsider@elsewhere.example\r\n"
    "Subject: conformance\r\n"
    "\r\n"
    ".a line starting with a dot\r\n"
    ".\r\n"
    "last line\r\n";

// Delivers kMessage to two recipients (x-envelope-to: two stored copies).
void deliver_two(const FakePop3& f) {
  smtp_deliver(f.mx_port, "sender@world.example", {"user1@firma.example", "bcc@firma.example"},
               kMessage);
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Conformance, PythonPoplib) {
  if (!have("python3")) GTEST_SKIP() << "python3 not installed";
  TempDir dir;
  FakePop3 f("x-envelope-to", dir.path);
  deliver_two(f);
  const fs::path script = dir.path / "fetch.py";
  write_file(script, R"(import poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
caps = p.capa()
assert 'UIDL' in caps and 'TOP' in caps and 'PIPELINING' in caps, caps
p.user('catchall'); p.pass_(sys.argv[2])
count, size = p.stat()
listed = sum(int(l.split()[1]) for l in p.list()[1])
assert listed == size, (listed, size)
out = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    body = b'\r\n'.join(lines) + b'\r\n'
    assert int(resp.split()[1]) == len(body), (resp, len(body))
    assert len(body) == int(p.list(i).split()[2]), (len(body), p.list(i))
    out.append(body)
    p.dele(i)
p.quit()
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
p.user('catchall'); p.pass_(sys.argv[2])
assert p.stat()[0] == 0
p.quit()
sys.stdout.buffer.write(b'\0'.join(out))
)",
             fs::perms::owner_all);
  const fs::path out = dir.path / "out";
  ASSERT_EQ(run("timeout 60 python3 " + script.string() + " " + std::to_string(f.pop3_port) + " '" +
                kPassword + "' > " + out.string()),
            0)
      << f.log();
  const std::string got = slurp(out);
  EXPECT_NE(got.find("X-Envelope-To: user1@firma.example\r\n"), std::string::npos);
  EXPECT_NE(got.find("X-Envelope-To: bcc@firma.example\r\n"), std::string::npos);
  EXPECT_NE(got.find("\r\n.a line starting with a dot\r\n.\r\nlast line\r\n"), std::string::npos);
  EXPECT_EQ(f.stop(), 0);
  EXPECT_NE(f.log().find("event=pop3-session"), std::string::npos);
}

TEST(Conformance, Mpop) {
  if (!have("mpop")) GTEST_SKIP() << "mpop not installed";
  TempDir dir;
  FakePop3 f("x-envelope-to", dir.path);
  deliver_two(f);
  const fs::path conf = dir.path / "mpoprc";
  const fs::path mbox = dir.path / "mbox";
  write_file(conf,
             "defaults\n"
             "account test\n"
             "host 127.0.0.1\n"
             "port " +
                 std::to_string(f.pop3_port) +
                 "\n"
                 "user catchall\n"
                 "password " +
                 kPassword +
                 "\n"
                 "auth user\n"
                 "tls off\n"
                 "keep off\n"
                 "uidls_file " +
                 (dir.path / "uidls").string() +
                 "\n"
                 "delivery mbox " +
                 mbox.string() +
                 "\n"
                 "timeout 10\n",
             fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(run("timeout 60 mpop -C " + conf.string() + " test > " +
                (dir.path / "mpop.log").string() + " 2>&1"),
            0)
      << slurp(dir.path / "mpop.log") << f.log();
  const std::string got = slurp(mbox);
  EXPECT_NE(got.find("X-Envelope-To: user1@firma.example"), std::string::npos) << got;
  EXPECT_NE(got.find("X-Envelope-To: bcc@firma.example"), std::string::npos) << got;
  EXPECT_NE(got.find(".a line starting with a dot"), std::string::npos);
  EXPECT_EQ(f.stop(), 0);
  // keep off: both deleted at QUIT.
  EXPECT_NE(f.log().find("retrieved=2 topped=0 deleted=2 quit=true"), std::string::npos) << f.log();
}

TEST(Conformance, Fetchmail) {
  if (!have("fetchmail")) GTEST_SKIP() << "fetchmail not installed";
  TempDir dir;
  FakePop3 f("x-envelope-to", dir.path);
  deliver_two(f);
  const fs::path home = dir.path / "fmhome";
  fs::create_directories(home);
  fs::permissions(home, fs::perms::owner_all);
  const fs::path rc = home / "fetchmailrc";
  const fs::path out = dir.path / "delivered";
  write_file(rc,
             "set no bouncemail\n"
             "poll 127.0.0.1 port " +
                 std::to_string(f.pop3_port) +
                 " proto POP3 no dns auth password timeout 10\n"
                 "  user \"catchall\" there with password \"" +
                 kPassword +
                 "\" is \"localuser\" here\n"
                 "  sslproto ''\n"
                 "  fetchall\n"
                 "  mda \"cat >> " +
                 out.string() + "\"\n",
             fs::perms::owner_read | fs::perms::owner_write);
  const std::string cmd = "FETCHMAILHOME=" + home.string() + " timeout 60 fetchmail -f " +
                          rc.string() + " --pidfile " + (home / "pid").string() + " -i " +
                          (home / "ids").string() + " -d0 -v > " +
                          (dir.path / "fetchmail.log").string() + " 2>&1";
  const int rc_code = run(cmd);
  // 0: mail retrieved.
  ASSERT_EQ(rc_code, 0) << slurp(dir.path / "fetchmail.log") << f.log();
  const std::string got = slurp(out);
  EXPECT_NE(got.find("X-Envelope-To: user1@firma.example"), std::string::npos) << got;
  EXPECT_NE(got.find("X-Envelope-To: bcc@firma.example"), std::string::npos) << got;
  EXPECT_NE(got.find("\n.a line starting with a dot"), std::string::npos) << got;
  EXPECT_EQ(f.stop(), 0);
  EXPECT_NE(f.log().find("retrieved=2 topped=0 deleted=2 quit=true"), std::string::npos) << f.log();
}

TEST(Conformance, Getmail6) {
  if (!have("getmail")) GTEST_SKIP() << "getmail6 not installed";
  TempDir dir;
  FakePop3 f("x-envelope-to", dir.path);
  deliver_two(f);
  const fs::path mbox = dir.path / "mbox";
  write_file(mbox, "", fs::perms::owner_read | fs::perms::owner_write);
  const fs::path rc = dir.path / "getmailrc";
  write_file(rc,
             "[retriever]\n"
             "type = SimplePOP3Retriever\n"
             "server = 127.0.0.1\n"
             "port = " +
                 std::to_string(f.pop3_port) +
                 "\n"
                 "username = catchall\n"
                 "password = " +
                 kPassword +
                 "\n"
                 "timeout = 10\n"
                 // MDA_external: getmail refuses Mboxrd delivery as root without a `user`.
                 "[destination]\n"
                 "type = MDA_external\n"
                 "path = /bin/sh\n"
                 "arguments = (\"-c\", \"cat >> " +
                 mbox.string() +
                 "\")\n"
                 "allow_root_commands = true\n"
                 "[options]\n"
                 "delete = true\n"
                 "read_all = true\n",
             fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_EQ(run("timeout 60 getmail --getmaildir " + dir.path.string() + " --rcfile " +
                rc.string() + " > " + (dir.path / "getmail.log").string() + " 2>&1"),
            0)
      << slurp(dir.path / "getmail.log") << f.log();
  const std::string got = slurp(mbox);
  EXPECT_NE(got.find("X-Envelope-To: user1@firma.example"), std::string::npos) << got;
  EXPECT_NE(got.find("X-Envelope-To: bcc@firma.example"), std::string::npos) << got;
  EXPECT_EQ(f.stop(), 0);
  EXPECT_NE(f.log().find("retrieved=2 topped=0 deleted=2 quit=true"), std::string::npos) << f.log();
}

TEST(Conformance, PythonPoplibStlsAndPop3sWithStateDir) {
  if (!have("python3")) GTEST_SKIP() << "python3 not installed";
  TempDir dir;
  const fs::path state = dir.path / "state";
  FakePop3 f("x-envelope-to", dir.path, {"--tls-listen", "127.0.0.1:0", "--state", state.string()});
  deliver_two(f);
  const fs::path script = dir.path / "tls.py";
  write_file(script, R"(import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
assert 'STLS' in p.capa()
p.stls(context=ctx)
assert 'STLS' not in p.capa()
p.user('catchall'); p.pass_(sys.argv[3])
assert p.stat()[0] == 2
p.retr(1); p.quit()
s = poplib.POP3_SSL('127.0.0.1', int(sys.argv[2]), context=ctx, timeout=10)
s.user('catchall'); s.pass_(sys.argv[3])
assert s.stat()[0] == 2
s.dele(1); s.quit()
)",
             fs::perms::owner_all);
  ASSERT_EQ(run("timeout 60 python3 " + script.string() + " " + std::to_string(f.pop3_port) + " " +
                std::to_string(f.pop3s_port) + " '" + kPassword + "'"),
            0)
      << f.log();
  EXPECT_EQ(f.stop(), 0);
  const std::string log = f.log();
  EXPECT_NE(log.find("tls=true stls=true"), std::string::npos) << log;
  EXPECT_NE(log.find("cleartext_with_stls=false"), std::string::npos) << log;
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(state / "maildrop")) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  EXPECT_NE(slurp(state / "sessions.log").find("event=pop3-session id=2"), std::string::npos);
}

// mpop over STLS (keep on), then over implicit TLS (POP3S, keep off). The self-signed
// certificate fake-pop3 makes at start is not in any trust store: tls_certcheck off.
TEST(Conformance, MpopStlsAndPop3s) {
  if (!have("mpop")) GTEST_SKIP() << "mpop not installed";
  TempDir dir;
  FakePop3 f("x-envelope-to", dir.path, {"--tls-listen", "127.0.0.1:0"});
  deliver_two(f);
  const auto conf_for = [&](const std::string& name, std::uint16_t port, bool starttls, bool keep) {
    const fs::path conf = dir.path / ("mpoprc-" + name);
    write_file(conf,
               "account test\nhost 127.0.0.1\nport " + std::to_string(port) +
                   "\nuser catchall\npassword " + kPassword + "\nauth user\ntls on\ntls_starttls " +
                   (starttls ? "on" : "off") + "\ntls_certcheck off\nkeep " +
                   (keep ? "on" : "off") + "\nuidls_file " +
                   (dir.path / ("uidls-" + name)).string() + "\ndelivery mbox " +
                   (dir.path / ("mbox-" + name)).string() + "\ntimeout 10\n",
               fs::perms::owner_read | fs::perms::owner_write);
    return conf;
  };
  const fs::path stls = conf_for("stls", f.pop3_port, true, true);
  ASSERT_EQ(run("timeout 60 mpop -C " + stls.string() + " test > " +
                (dir.path / "mpop-stls.log").string() + " 2>&1"),
            0)
      << slurp(dir.path / "mpop-stls.log") << f.log();
  const fs::path pop3s = conf_for("pop3s", f.pop3s_port, false, false);
  ASSERT_EQ(run("timeout 60 mpop -C " + pop3s.string() + " test > " +
                (dir.path / "mpop-pop3s.log").string() + " 2>&1"),
            0)
      << slurp(dir.path / "mpop-pop3s.log") << f.log();
  for (const char* name : {"mbox-stls", "mbox-pop3s"}) {
    const std::string got = slurp(dir.path / name);
    EXPECT_NE(got.find("X-Envelope-To: user1@firma.example"), std::string::npos) << name << got;
    EXPECT_NE(got.find("X-Envelope-To: bcc@firma.example"), std::string::npos) << name << got;
    EXPECT_NE(got.find(".a line starting with a dot"), std::string::npos) << name;
  }
  EXPECT_EQ(f.stop(), 0);
  const std::string log = f.log();
  EXPECT_NE(log.find("tls=true stls=true"), std::string::npos) << log;
  EXPECT_NE(log.find("retrieved=2 topped=0 deleted=2 quit=true"), std::string::npos) << log;
  EXPECT_EQ(log.find("cleartext_with_stls=true"), std::string::npos) << log;
}

TEST(Conformance, ProgramRejectsBadProfileAndNonLoopback) {
  TempDir dir;
  EXPECT_EQ(run(std::string(DROPCHECK_FAKE_POP3_BIN) +
                " --listen 127.0.0.1:0 --user u --password p --profile nosuch 2>/dev/null"),
            2);
  EXPECT_EQ(run(std::string(DROPCHECK_FAKE_POP3_BIN) +
                " --listen 0.0.0.0:0 --user u --password p 2>/dev/null"),
            2);
  EXPECT_EQ(run(std::string(DROPCHECK_FAKE_POP3_BIN) + " --help >/dev/null"), 0);
}

// --password-file (the password stays out of ps): its first line; with --password, or empty,
// or missing, a usage error. The load suite logs in with it (tests/load).
TEST(Conformance, PasswordFileFlag) {
  TempDir dir;
  const auto empty = dir.path / "empty";
  std::ofstream(empty) << "\n";
  const std::string base = std::string(DROPCHECK_FAKE_POP3_BIN) + " --listen 127.0.0.1:0 --user u ";
  EXPECT_EQ(run(base + "--password p --password-file " + empty.string() + " 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--password-file " + empty.string() + " 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--password-file " + (dir.path / "nope").string() + " 2>/dev/null"), 2);
}

// --mailboxes FILE: per-user boxes beside the catch-all; each POP3 user sees its own mail.
TEST(Conformance, MailboxesFileServesEachBox) {
  if (!have("python3")) GTEST_SKIP() << "python3 not installed";
  TempDir dir;
  write_file(dir.path / "anna.pw", "anna-pw\n", fs::perms::owner_read | fs::perms::owner_write);
  write_file(dir.path / "boxes.yaml",
             "version: 1\n"
             "mailboxes:\n"
             "  - {user: anna, password_file: " +
                 (dir.path / "anna.pw").string() +
                 ", addresses: [anna@firma.example]}\n"
                 "  - {user: catchall, password: catchall-pw, catch_all: true}\n",
             fs::perms::owner_read | fs::perms::owner_write);
  FakePop3 f("x-envelope-to", dir.path, {"--mailboxes", (dir.path / "boxes.yaml").string()});
  smtp_deliver(f.mx_port, "sender@world.example",
               {"Anna@firma.example", "info@firma.example", "sales@firma.example"}, kMessage);
  const fs::path script = dir.path / "count.py";
  write_file(script, R"(import poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
count = p.stat()[0]
heads = [b'\n'.join(p.top(i, 0)[1]) for i in range(1, count + 1)]
p.quit()
sys.stdout.buffer.write(str(count).encode() + b'\n' + b'\n'.join(heads))
)",
             fs::perms::owner_all);
  // The script's output; a failure (exit status 1, a traceback) when `ok` is false.
  const auto fetch = [&](const std::string& user, const std::string& password, bool ok = true) {
    const fs::path out = dir.path / ("out-" + user);
    EXPECT_EQ(run("timeout 60 python3 " + script.string() + " " + std::to_string(f.pop3_port) +
                  " " + user + " " + password + " > " + out.string() + " 2>&1"),
              ok ? 0 : 1)
        << slurp(out) << f.log();
    return slurp(out);
  };
  const std::string anna = fetch("anna", "anna-pw");
  EXPECT_EQ(anna.substr(0, 2), "1\n") << anna;
  EXPECT_NE(anna.find("X-Envelope-To: Anna@firma.example"), std::string::npos) << anna;
  const std::string rest = fetch("catchall", "catchall-pw");
  EXPECT_EQ(rest.substr(0, 2), "2\n") << rest;
  EXPECT_EQ(rest.find("Anna@"), std::string::npos) << rest;
  EXPECT_NE(fetch("anna", "catchall-pw", false).find("poplib.error_proto"), std::string::npos);
  EXPECT_EQ(f.stop(), 0);
  const std::string log = f.log();
  EXPECT_NE(log.find("event=mailbox user=anna addresses=1 catch_all=false"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("anna-pw"), std::string::npos) << log;
}

// --mailboxes excludes --user and its password; a bad file is a configuration error naming
// file:line and the field, never the password.
TEST(Conformance, MailboxesFileErrors) {
  TempDir dir;
  const fs::path good = dir.path / "good.yaml", bad = dir.path / "bad.yaml";
  write_file(good, "version: 1\nmailboxes: [{user: c, password: pw, catch_all: true}]\n",
             fs::perms::owner_read | fs::perms::owner_write);
  write_file(bad,
             "version: 1\nmailboxes:\n  - {user: a, password: s3cr3t, addresses: [x@f.example]}\n"
             "  - {user: b, password: s3cr3t, addresses: [X@f.example]}\n",
             fs::perms::owner_read | fs::perms::owner_write);
  const std::string bin = std::string(DROPCHECK_FAKE_POP3_BIN) + " --listen 127.0.0.1:0 ";
  const fs::path err = dir.path / "stderr";
  EXPECT_EQ(run(bin + "--mailboxes " + good.string() + " --user u 2>" + err.string()), 2);
  EXPECT_NE(slurp(err).find("--mailboxes excludes --user"), std::string::npos) << slurp(err);
  EXPECT_EQ(run(bin + "--mailboxes " + good.string() + " --password-file " + good.string() +
                " 2>/dev/null"),
            2);
  EXPECT_EQ(run(bin + "--mailboxes " + bad.string() + " 2>" + err.string()), 2);
  const std::string e = slurp(err);
  EXPECT_NE(e.find(bad.string() + ":4:"), std::string::npos) << e;
  EXPECT_NE(e.find("mailboxes[1].addresses[0]"), std::string::npos) << e;
  EXPECT_EQ(e.find("s3cr3t"), std::string::npos) << e;
  EXPECT_EQ(run(bin + "--mailboxes " + (dir.path / "nope.yaml").string() + " 2>/dev/null"), 2);
}

}  // namespace
