// The fake-smtp program against real clients: swaks and Python smtplib. Each test starts the
// executable on 127.0.0.1:0, reads the "listening" line, and always stops the process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "fake_smtp/journal.hpp"
#include "test_util.hpp"

extern char** environ;

namespace dropcheck::fake_smtp {
namespace {

bool have_tool(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A child process with stdout on a pipe; SIGTERM + wait on destruction.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    out_ = fds[0];
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    stop();
    if (out_ >= 0) ::close(out_);
  }
  // The first stdout line, waiting at most `timeout`.
  std::string read_line(std::chrono::milliseconds timeout) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line.push_back(c);
    }
    return line;
  }
  // SIGTERM; returns the exit code (SIGKILL after 10 s).
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    int st = 0;
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return status_ = exit_code(st);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return status_ = 137;
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int status_ = -1;
};

struct Server {
  test::TempDir dir;
  std::unique_ptr<Child> child;
  std::string port;
  explicit Server(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {FAKE_SMTP_EXE,  "--listen",          "127.0.0.1:0",
                                     "--journal",    dir.path().string(), "--local-domain",
                                     "firma.example"};
    args.insert(args.end(), extra.begin(), extra.end());
    child = std::make_unique<Child>(args);
    const std::string line = child->read_line(std::chrono::seconds(10));
    if (line.rfind("listening 127.0.0.1:", 0) == 0) port = line.substr(line.rfind(':') + 1);
  }
  std::string addr() const { return "127.0.0.1:" + port; }
};

int run(const std::string& cmd) { return exit_code(std::system(cmd.c_str())); }

// Runs a Python client script with the server's port as its argument; its exit code.
int run_python(const std::string& code, const std::string& port) {
  test::TempDir tmp;
  const auto script = tmp.path() / "client.py";
  std::ofstream(script) << code;
  return run("python3 " + script.string() + " " + port);
}

// fake-smtp with a valid minimal command line, to append one bad flag to.
std::string fake_smtp_cmd(const test::TempDir& journal) {
  return std::string(FAKE_SMTP_EXE) + " --listen 127.0.0.1:0 --journal " + journal.path().string() +
         " --local-domain x.example ";
}

TEST(FakeSmtpConformance, HelpAndLoopbackOnly) {
  EXPECT_EQ(run(std::string(FAKE_SMTP_EXE) + " --help >/dev/null"), 0);
  test::TempDir dir;
  EXPECT_EQ(run(std::string(FAKE_SMTP_EXE) + " --listen 0.0.0.0:0 --journal " +
                dir.path().string() + " --local-domain x.example 2>/dev/null"),
            2);
}

TEST(FakeSmtpConformance, ListensAndStopsCleanlyOnSigterm) {
  Server s;
  ASSERT_FALSE(s.port.empty());
  EXPECT_NE(s.port, "0");
  EXPECT_EQ(s.child->stop(), 0);
}

TEST(FakeSmtpConformance, Swaks) {
  if (!have_tool("swaks")) GTEST_SKIP() << "swaks not installed";
  Server s;
  ASSERT_FALSE(s.port.empty());
  const std::string base = "swaks --server " + s.addr() + " --helo swaks.test --silent 2 ";
  EXPECT_EQ(run(base + "--from sender@provider.example --to hans@firma.example --pipeline"), 0);
  EXPECT_EQ(run(base + "--from '<>' --to hans@firma.example"), 0);
  // Relay attempt: swaks reports the refused recipient with a non-zero exit code.
  EXPECT_NE(run(base + "--from sender@provider.example --to user3@firma3.example 2>/dev/null"), 0);
  // 8-bit body octets (Latin-1, not UTF-8): stored exactly, whatever their encoding.
  EXPECT_EQ(run(base + "--from sender@provider.example --to hans@firma.example "
                       "--body \"$(printf 'Gr\\374\\337e aus K\\366ln')\""),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_NE((*recs)[3].message.find("Gr\xfc\xdf"
                                    "e aus K\xf6ln"),
            std::string::npos)
      << (*recs)[3].message;
  EXPECT_TRUE((*recs)[0].accepted);
  EXPECT_EQ((*recs)[0].helo, "swaks.test");
  EXPECT_NE((*recs)[0].message.find("X-Mailer: swaks"), std::string::npos);
  EXPECT_TRUE((*recs)[1].mail_from_null);
  EXPECT_TRUE((*recs)[1].accepted);
  EXPECT_FALSE((*recs)[2].accepted);
  EXPECT_EQ((*recs)[2].rcpts.at(0).code, 550);
}

TEST(FakeSmtpConformance, SwaksStartTlsAndRcptFault) {
  if (!have_tool("swaks")) GTEST_SKIP() << "swaks not installed";
  if (run("swaks --support 2>&1 | grep -q '=== TLS supported'") != 0)
    GTEST_SKIP() << "swaks without TLS support (Net::SSLeay)";
  Server s({"--tls-self-signed", "--fault-rcpt", "2:452"});
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run("swaks --server " + s.addr() +
                " --silent 2 -tls --from a@provider.example "
                "--to hans@firma.example,grete@firma.example 2>/dev/null"),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_TRUE((*recs)[0].tls);
  EXPECT_EQ((*recs)[0].rcpts.at(1).code, 452);
  EXPECT_EQ((*recs)[0].faults, std::vector<std::string>{"rcpt-2-452"});
  EXPECT_TRUE((*recs)[0].accepted);
}

TEST(FakeSmtpConformance, BadFlagsExitWithUsageCode) {
  test::TempDir dir;
  const std::string base = fake_smtp_cmd(dir);
  EXPECT_EQ(run(base + "--fault-rcpt nonsense 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--relay maybe 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--tls-cert /nonexistent 2>/dev/null"), 2);
  EXPECT_EQ(run(std::string(FAKE_SMTP_EXE) + " --listen 127.0.0.1:0 --journal /proc/nope "
                                             "--local-domain x.example 2>/dev/null"),
            3);
}

TEST(FakeSmtpConformance, PythonSmtplib) {
  if (!have_tool("python3")) GTEST_SKIP() << "python3 not installed";
  Server s;
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run_python(R"PY(
import smtplib, sys
port = int(sys.argv[1])
msg = "From: a@provider.example\r\nTo: hans@firma.example\r\nSubject: py\r\n\r\n.leading dot\r\nbody\r\n"
with smtplib.SMTP("127.0.0.1", port) as c:
    code, caps = c.ehlo("py.test")
    assert code == 250
    for kw in ("pipelining", "size", "8bitmime", "smtputf8", "chunking", "enhancedstatuscodes", "dsn"):
        assert c.has_extn(kw), kw
    refused = c.sendmail("a@provider.example", ["hans@firma.example", "user3@firma3.example"], msg)
    assert list(refused) == ["user3@firma3.example"], refused
    assert refused["user3@firma3.example"][0] == 550
    c.sendmail("", ["hans@firma.example"], msg)
    c.sendmail("j\u00f6rg@provider.example", ["m\u00fcller@firma.example"],
               msg.encode("utf-8"), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    try:
        c.sendmail("a@provider.example", ["x@foreign.example"], msg)
        sys.exit("relay accepted")
    except smtplib.SMTPRecipientsRefused:
        pass
    assert c.verify("hans")[0] == 252
    assert c.noop()[0] == 250
print("ok")
)PY",
                       s.port),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ((*recs)[0].message.find(".leading dot"), (*recs)[0].message.find("\r\n\r\n") + 4);
  EXPECT_EQ((*recs)[0].rcpts.size(), 2u);
  EXPECT_TRUE((*recs)[1].mail_from_null);
  EXPECT_TRUE((*recs)[2].smtputf8);
  EXPECT_EQ((*recs)[2].mail_from, "j\xc3\xb6rg@provider.example");
  EXPECT_FALSE((*recs)[3].accepted);
}

// Postfix smtp-source: many parallel sessions over several I/O threads (SO_REUSEPORT), one
// connection per message and many messages per connection, SMTP and LMTP. The journal must
// hold every message exactly once, in sequence, byte-exact against its SHA-256.
std::string smtp_source() {
  if (have_tool("smtp-source")) return "smtp-source";
  if (::access("/usr/sbin/smtp-source", X_OK) == 0) return "/usr/sbin/smtp-source";
  return {};
}

void expect_all_accepted(const std::filesystem::path& dir, std::size_t n, std::size_t rcpts) {
  auto recs = read_journal(dir);
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = (*recs)[i];
    EXPECT_EQ(r.seq, i + 1);
    EXPECT_TRUE(r.accepted) << r.seq;
    EXPECT_TRUE(r.data_complete) << r.seq;
    EXPECT_EQ(r.rcpts.size(), rcpts) << r.seq;
    EXPECT_EQ(r.mail_from, "sender@provider.example");
    EXPECT_NE(r.message.find("Subject: dropcheck"), std::string::npos) << r.seq;
    EXPECT_GE(r.message.size(), 2048u) << r.seq;
  }
}

TEST(FakeSmtpConformance, SmtpSourceParallelSessionsAndThreads) {
  const std::string src = smtp_source();
  if (src.empty()) GTEST_SKIP() << "smtp-source (postfix) not installed";
  Server s({"--threads", "3", "--max-sessions", "64"});
  ASSERT_FALSE(s.port.empty());
  const std::string base = src + " -S dropcheck -l 2048 -f sender@provider.example -N ";
  // 60 messages, one connection each, 8 at a time; then 90 over 6 connections, 2 recipients.
  EXPECT_EQ(run(base + "-m 60 -s 8 -t hans@firma.example " + s.addr()), 0);
  EXPECT_EQ(run(base + "-d -m 90 -s 6 -r 2 -t hans@firma.example " + s.addr()), 0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 150u);
  std::size_t two = 0;
  for (const auto& r : *recs) {
    EXPECT_TRUE(r.accepted);
    EXPECT_NE(r.message.find("Subject: dropcheck"), std::string::npos);
    if (r.rcpts.size() == 2) ++two;
  }
  EXPECT_EQ(two, 90u);
  for (std::size_t i = 0; i < recs->size(); ++i) EXPECT_EQ((*recs)[i].seq, i + 1);
}

TEST(FakeSmtpConformance, SmtpSourceLmtp) {
  const std::string src = smtp_source();
  if (src.empty()) GTEST_SKIP() << "smtp-source (postfix) not installed";
  Server s({"--lmtp", "--store", "files"});
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run(src +
                " -L -S dropcheck -l 2048 -f sender@provider.example -d -m 20 -s 2 "
                "-t hans@firma.example " +
                s.addr()),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  expect_all_accepted(s.dir.path(), 20, 1);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->front().lmtp);
  EXPECT_EQ(recs->front().rcpts.front().data_code, 250);
  EXPECT_FALSE(recs->front().message_inline);  // --store files
  EXPECT_TRUE(std::filesystem::exists(message_file(s.dir.path(), recs->front().sha256)));
}

// A slow server: --fault-delay holds back the reply after the message, and only that one.
TEST(FakeSmtpConformance, FaultDelayHoldsTheDataEndReply) {
  if (!have_tool("python3")) GTEST_SKIP() << "python3 not installed";
  Server s({"--fault-delay", "data-end:600"});
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run_python(R"PY(
import smtplib, sys, time
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30) as c:
    t0 = time.monotonic(); c.ehlo("py.test"); ehlo = time.monotonic() - t0
    c.mail("a@provider.example"); c.rcpt("hans@firma.example")
    c.putcmd("data"); code, _ = c.getreply(); assert code == 354, code
    c.send(b"Subject: slow\r\n\r\nbody\r\n.\r\n")
    t0 = time.monotonic(); code, _ = c.getreply(); end = time.monotonic() - t0
    assert code == 250, code
    assert end >= 0.55, "data-end reply after %.3f s" % end
    assert ehlo < end, (ehlo, end)
print("ok")
)PY",
                       s.port),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  ASSERT_EQ(recs->front().faults.size(), 1u);
  EXPECT_EQ(recs->front().faults.front(), "delay-data-end-600ms");
}

TEST(FakeSmtpConformance, BadFaultDelayIsAUsageError) {
  test::TempDir dir;
  const std::string base = fake_smtp_cmd(dir);
  EXPECT_EQ(run(base + "--fault-delay slow:100 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--fault-delay data-end 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--fault-delay data-end:-5 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--fault-delay data-end:10s 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--store tape 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--idle-timeout 0 2>/dev/null"), 2);
  EXPECT_EQ(run(base + "--threads 0 2>/dev/null"), 2);
}

// --idle-timeout: a client that goes quiet gets "421 4.4.2" and the connection is closed; its
// open transaction is journaled as ended by the timeout.
TEST(FakeSmtpConformance, IdleTimeoutClosesWith421) {
  if (!have_tool("python3")) GTEST_SKIP() << "python3 not installed";
  Server s({"--idle-timeout", "1"});
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run_python(R"PY(
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = c.makefile("rb")
assert f.readline().startswith(b"220")
c.sendall(b"HELO quiet\r\nMAIL FROM:<a@provider.example>\r\n")
assert f.readline().startswith(b"250")
assert f.readline().startswith(b"250")
line = f.readline()
assert line.startswith(b"421 4.4.2"), line
assert f.readline() == b"", "still open"
print("ok")
)PY",
                       s.port),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ(recs->front().end_reason, "timeout");
  auto sessions = read_sessions(s.dir.path());
  ASSERT_TRUE(sessions.ok());
  ASSERT_EQ(sessions->records.size(), 1u);
  EXPECT_EQ(sessions->records.front().end_reason, "timeout");
}

TEST(FakeSmtpConformance, PythonLmtp) {
  if (!have_tool("python3")) GTEST_SKIP() << "python3 not installed";
  Server s({"--lmtp"});
  ASSERT_FALSE(s.port.empty());
  EXPECT_EQ(run_python(R"PY(
import smtplib, sys
c = smtplib.LMTP("127.0.0.1", int(sys.argv[1]))
refused = c.sendmail("a@provider.example", ["hans@firma.example", "x@foreign.example", "grete@firma.example"],
                     "Subject: lmtp\r\n\r\nhi\r\n")
assert list(refused) == ["x@foreign.example"], refused
c.quit()
)PY",
                       s.port),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_TRUE((*recs)[0].lmtp);
  EXPECT_EQ((*recs)[0].rcpts.at(2).data_code, 250);
}

}  // namespace
}  // namespace dropcheck::fake_smtp

namespace dropcheck::fake_smtp {
namespace {

// --http: the REST API over what arrived (SMTP by Python smtplib, HTTP by urllib), with two
// I/O threads handing records to the HTTP thread; delete-all keeps the journal file.
TEST(FakeSmtpConformance, HttpApiShowsWhatArrivedAndDeleteAllKeepsTheJournal) {
  if (!have_tool("python3")) GTEST_SKIP() << "python3 not installed";
  Server s({"--http", "127.0.0.1:0", "--threads", "2"});
  ASSERT_FALSE(s.port.empty());
  const std::string http = s.child->read_line(std::chrono::seconds(10));
  ASSERT_EQ(http.rfind("http 127.0.0.1:", 0), 0u) << http;
  EXPECT_EQ(run_python(R"PY(
import json, smtplib, sys, urllib.request
smtp_port, http_port = sys.argv[1].split(",")
msg = ("From: alice@sender.example\r\nTo: a@firma.example\r\nX-Envelope-To: bob@firma.example\r\n"
       "Message-ID: <m1@sender.example>\r\n\r\nbody\r\n")
for _ in range(3):
    with smtplib.SMTP("127.0.0.1", int(smtp_port), timeout=10) as c:
        c.sendmail("alice@sender.example", ["a@firma.example"], msg)
base = "http://127.0.0.1:%s" % http_port
def get(path, method="GET"):
    req = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())
j = get("/api/messages?q=bob%40firma.example")
assert j["total"] == 3, j
assert [m["id"] for m in j["messages"]] == [3, 2, 1], j
assert j["messages"][0]["envelope_headers"][0]["reached_recipient"] is True, j
assert get("/api/messages/2")["rcpts"][0]["code"] == 250
assert get("/api/messages", "DELETE")["deleted_through"] == 3
assert get("/api/messages")["total"] == 0
print("ok")
)PY",
                       s.port + "," + http.substr(http.rfind(':') + 1)),
            0);
  EXPECT_EQ(s.child->stop(), 0);
  auto recs = read_journal(s.dir.path());
  ASSERT_TRUE(recs.ok()) << recs.error().message;
  EXPECT_EQ(recs->size(), 3u);  // delete-all cleared the view, not the evidence
}

TEST(FakeSmtpConformance, HttpLoopbackOnlyUnlessAllowed) {
  test::TempDir dir;
  EXPECT_EQ(run(fake_smtp_cmd(dir) + "--http 0.0.0.0:0 2>/dev/null"), 2);
  EXPECT_EQ(run(fake_smtp_cmd(dir) + "--http nonsense 2>/dev/null"), 2);
}

}  // namespace
}  // namespace dropcheck::fake_smtp
