#include "fake_pop3/provider.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "base/clock.hpp"
#include "protocol/pop3_server.hpp"

namespace dropcheck::fake_pop3 {
namespace {

using namespace std::chrono_literals;

const char kMsg[] = "From: a@world.example\r\nTo: b@firma.example\r\nSubject: s\r\n\r\nbody\r\n";

Profile profile(std::string_view name) {
  auto p = load_profile(name);
  EXPECT_TRUE(p.ok()) << p.error().message;
  return *p;
}

// A POP3 client driving a session directly (no sockets).
struct Client {
  std::unique_ptr<net::ProtocolSession> s;
  std::string greeting;
  Client(Provider& p, bool tls = false) : s(p.make_pop3_session({"127.0.0.1", 4242, tls})) {
    greeting = s->start();
  }
  std::string send(std::string_view in) {
    std::string out;
    s->receive(in, out);
    return out;
  }
  void end(std::string_view reason = "closed") { (void)s->finish(reason); }
};

TEST(Stamp, XEnvelopeToOneCopyPerRecipient) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  const auto copies = p.stamp("a@world.example", {"b@firma.example", "c@firma.example"}, kMsg);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[0], std::string("Return-Path: <a@world.example>\r\n"
                                   "X-Envelope-To: b@firma.example\r\n") +
                           kMsg);
  EXPECT_EQ(copies[1], std::string("Return-Path: <a@world.example>\r\n"
                                   "X-Envelope-To: c@firma.example\r\n") +
                           kMsg);
}

// Issue 21: the MX's own Received line, "for" only when the copy has one recipient.
TEST(Stamp, ReceivedForOneCopyPerRecipient) {
  base::VirtualClock clock;
  Provider p(profile("received-for"), "u", "p", clock);
  const auto copies = p.stamp("a@world.example", {"b@firma.example", "c@firma.example"}, kMsg);
  ASSERT_EQ(copies.size(), 2u);
  EXPECT_EQ(copies[1], std::string("Return-Path: <a@world.example>\r\n"
                                   "Received: from mail.world.example (mail.world.example "
                                   "[192.0.2.25])\r\n"
                                   "\tby mx.provider.example (dropcheck fake-pop3) with ESMTP id "
                                   "00001\r\n"
                                   "\tfor <c@firma.example>; Thu, 01 Jan 1970 00:00:00 +0000\r\n") +
                           kMsg);
  EXPECT_NE(copies[0].find("\tfor <b@firma.example>; "), std::string::npos);
}

TEST(Stamp, ReceivedForSharedCopyHasNoForWithSeveralRecipients) {
  base::VirtualClock clock;
  Provider p(profile("received-for-shared"), "u", "p", clock);
  const auto two = p.stamp("a@world.example", {"b@firma.example", "c@firma.example"}, kMsg);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].find(" for "), std::string::npos);
  EXPECT_NE(two[0].find("with ESMTP id 00000;\r\n\tThu, 01 Jan 1970"), std::string::npos);
  const auto one = p.stamp("a@world.example", {"b@firma.example"}, kMsg);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NE(one[0].find("\tfor <b@firma.example>; "), std::string::npos);
}

TEST(Stamp, ReceivedForLmtpHopAboveTheMxLine) {
  base::VirtualClock clock;
  Provider p(profile("received-for-lmtp"), "u", "p", clock);
  const std::string lf = "From: a@world.example\nSubject: s\n\nbody\n";
  const auto copies = p.stamp("", {"b@firma.example"}, lf);
  ASSERT_EQ(copies.size(), 1u);
  const std::string& m = copies[0];
  const auto store = m.find("by store.provider.example");
  const auto mx = m.find("by mx.provider.example");
  ASSERT_NE(store, std::string::npos);
  ASSERT_NE(mx, std::string::npos);
  EXPECT_LT(store, mx);
  EXPECT_NE(m.find("from localhost (localhost [192.0.2.25])\n\tby mx."), std::string::npos);
  EXPECT_EQ(m.find('\r'), std::string::npos);  // the message's own line ending in the folds
}

TEST(Stamp, EximEnvelopeToListsAllInOneCopy) {
  base::VirtualClock clock;
  Provider p(profile("envelope-to"), "u", "p", clock);
  const auto copies = p.stamp("", {"b@firma.example", "c@firma.example"}, kMsg);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], std::string("Return-Path: <>\r\n"
                                   "Envelope-To: b@firma.example, c@firma.example\r\n") +
                           kMsg);
}

TEST(Stamp, XRcptToOneLinePerRecipientInOneCopy) {
  base::VirtualClock clock;
  Provider p(profile("x-rcpt-to"), "u", "p", clock);
  const auto copies = p.stamp("a@w.example", {"b@f.example", "c@f.example"}, kMsg);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], std::string("Return-Path: <a@w.example>\r\nX-Rcpt-To: b@f.example\r\n"
                                   "X-Rcpt-To: c@f.example\r\n") +
                           kMsg);
}

TEST(Stamp, PostfixXOriginalToWithMailboxDeliveredTo) {
  base::VirtualClock clock;
  Provider p(profile("x-original-to"), "u", "p", clock);
  const auto copies = p.stamp("a@w.example", {"b@f.example"}, kMsg);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], std::string("Return-Path: <a@w.example>\r\nX-Original-To: b@f.example\r\n"
                                   "Delivered-To: catchall@provider.example\r\n") +
                           kMsg);
}

TEST(Stamp, DeliveredToGoesAboveExistingOnes) {
  base::VirtualClock clock;
  Provider p(profile("delivered-to"), "u", "p", clock);
  const std::string forwarded = std::string("Delivered-To: old@elsewhere.example\r\n") + kMsg;
  const auto copies = p.stamp("a@w.example", {"b@f.example"}, forwarded);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], "Return-Path: <a@w.example>\r\nDelivered-To: b@f.example\r\n" + forwarded);
}

TEST(Stamp, QmailPrefix) {
  base::VirtualClock clock;
  Provider p(profile("qmail"), "u", "p", clock);
  const auto copies = p.stamp("a@w.example", {"hans.meier@example.com"}, kMsg);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].substr(0, copies[0].find("From:")),
            "Return-Path: <a@w.example>\r\nDelivered-To: example.com-hans.meier@example.com\r\n");
}

TEST(Stamp, NoneAddsOnlyReturnPathAndKeepsBareLf) {
  base::VirtualClock clock;
  Provider p(profile("none"), "u", "p", clock);
  const auto copies = p.stamp("a@w.example", {"b@f.example", "c@f.example"}, "A: b\n\nc\n");
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], "Return-Path: <a@w.example>\nA: b\n\nc\n");
}

TEST(Stamp, EveryBuiltinProfileNamesEveryRecipientSomewhere) {
  for (const auto& name : builtin_profile_names()) {
    base::VirtualClock clock;
    Provider p(profile(name), "u", "p", clock);
    p.deliver("a@w.example", {"b@f.example", "bcc@f.example"}, kMsg);
    EXPECT_GE(p.stored_count(), 1u) << name;
    std::string all;
    for (const auto& m : p.stored()) {
      EXPECT_NE(m.data.find(kMsg), std::string::npos) << name << ": original bytes kept";
      all += m.data.substr(0, m.data.find(kMsg));
    }
    if (p.profile().envelope_header.empty() || p.profile().qmail_prefix) continue;
    EXPECT_NE(all.find("bcc@f.example"), std::string::npos) << name;
  }
}

TEST(Provider, DeliverStoresWithUniqueUidls) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example", "c@f.example"}, kMsg);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  ASSERT_EQ(p.stored_count(), 3u);
  const auto s = p.stored();
  EXPECT_NE(s[0].uidl, s[1].uidl);
  EXPECT_NE(s[1].uidl, s[2].uidl);
  EXPECT_NE(s[0].uidl, s[2].uidl);
  for (const auto& m : s) {
    EXPECT_LE(m.uidl.size(), protocol::kPop3MaxUidlOctets);
    for (char c : m.uidl) EXPECT_TRUE(c >= 0x21 && c <= 0x7e);
  }
  EXPECT_EQ(s[1].rcpts, std::vector<std::string>{"c@f.example"});
  EXPECT_EQ(p.deliveries(), 2u);
}

TEST(Provider, Pop3SessionRetrieveDeleteQuitAndLog) {
  base::VirtualClock clock(std::chrono::milliseconds(5000));
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example", "c@f.example"}, kMsg);
  const auto uidls = p.stored();
  {
    Client c(p);
    EXPECT_EQ(c.greeting.substr(0, 4), "+OK ");
    EXPECT_EQ(c.send("USER u\r\nPASS p\r\n").substr(0, 31), "+OK send PASS\r\n+OK maildrop has");
    const auto r = c.send("RETR 1\r\nDELE 1\r\nDELE 2\r\nQUIT\r\n");
    EXPECT_NE(r.find("X-Envelope-To: b@f.example\r\n"), std::string::npos);
    EXPECT_TRUE(c.s->closing());
    c.end();
  }
  EXPECT_EQ(p.stored_count(), 0u);
  ASSERT_EQ(p.session_log().size(), 1u);
  const auto& e = p.session_log()[0];
  EXPECT_EQ(e.auth_mechanism, "USER");
  EXPECT_EQ(e.auth_result, "ok");
  ASSERT_TRUE(e.login_at.has_value());
  EXPECT_EQ(e.login_at->count(), 5000);
  EXPECT_EQ(e.retrieved_uidls, std::vector<std::string>{uidls[0].uidl});
  EXPECT_EQ(e.deleted_uidls, (std::vector<std::string>{uidls[0].uidl, uidls[1].uidl}));
  EXPECT_TRUE(e.quit);
  EXPECT_FALSE(e.tls);
  EXPECT_FALSE(e.cleartext_password_while_stls_offered);  // no TLS context: STLS not offered
  EXPECT_NE(to_log_line(e).find("event=pop3-session id=1"), std::string::npos);
  EXPECT_EQ(to_log_line(e).find("PASS"), std::string::npos);
}

TEST(Provider, CleartextPasswordWhileStlsOfferedIsLogged) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.set_stls_available(true);
  Client c(p);
  EXPECT_NE(c.send("CAPA\r\n").find("STLS\r\n"), std::string::npos);
  (void)c.send("USER u\r\nPASS p\r\n");
  EXPECT_TRUE(p.session_log()[0].cleartext_password_while_stls_offered);
}

TEST(Provider, WrongPasswordIsRefusedAndLogged) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  Client c(p);
  EXPECT_EQ(c.send("USER u\r\nPASS nope\r\n"),
            "+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n");
  EXPECT_EQ(p.session_log()[0].auth_result, "bad-credentials");
  EXPECT_FALSE(p.session_log()[0].login_at.has_value());
}

TEST(Provider, ExclusiveLockGivesInUseToSecondSession) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client first(p);
  (void)first.send("USER u\r\nPASS p\r\n");
  Client second(p);
  EXPECT_EQ(second.send("USER u\r\nPASS p\r\n"),
            "+OK send PASS\r\n-ERR [IN-USE] maildrop already locked by another session\r\n");
  EXPECT_EQ(p.session_log()[1].auth_result, "in-use");
  // The lock goes with the session, also without QUIT.
  first.end("peer-closed");
  Client third(p);
  EXPECT_NE(third.send("USER u\r\nPASS p\r\n").find("+OK maildrop has 1"), std::string::npos);
}

TEST(Provider, NonlockingLetsOverlappingSessionsFetchTheSameMail) {
  base::VirtualClock clock;
  Provider p(profile("nonlocking"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client a(p), b(p);
  (void)a.send("USER u\r\nPASS p\r\n");
  (void)b.send("USER u\r\nPASS p\r\n");
  EXPECT_NE(a.send("RETR 1\r\n").find("body"), std::string::npos);
  EXPECT_NE(b.send("RETR 1\r\n").find("body"), std::string::npos);
  EXPECT_EQ(a.send("DELE 1\r\nQUIT\r\n").substr(0, 3), "+OK");
  EXPECT_EQ(b.send("DELE 1\r\nQUIT\r\n").substr(0, 3), "+OK");  // already gone: no error
  EXPECT_EQ(p.stored_count(), 0u);
}

TEST(Provider, LoginDelayEnforcedOnTheClock) {
  base::VirtualClock clock;
  Provider p(profile("login-delay"), "u", "p", clock);
  {
    Client c(p);
    EXPECT_NE(c.send("CAPA\r\n").find("LOGIN-DELAY 900\r\n"), std::string::npos);
    EXPECT_NE(c.send("USER u\r\nPASS p\r\n").find("+OK maildrop"), std::string::npos);
    (void)c.send("QUIT\r\n");
    c.end();
  }
  clock.advance(std::chrono::minutes(14));
  {
    Client c(p);
    const auto r = c.send("USER u\r\nPASS p\r\n");
    EXPECT_NE(r.find("-ERR [LOGIN-DELAY] wait 900 seconds"), std::string::npos) << r;
    EXPECT_TRUE(c.s->closing());
    EXPECT_EQ(p.session_log().back().auth_result, "login-delay");
  }
  clock.advance(std::chrono::minutes(1));
  {
    Client c(p);
    EXPECT_NE(c.send("USER u\r\nPASS p\r\n").find("+OK maildrop"), std::string::npos);
  }
}

TEST(Provider, ApopLogin) {
  base::VirtualClock clock;
  Provider p(profile("apop"), "u", "secret", clock);
  Client c(p);
  const auto lt = c.greeting.find('<');
  ASSERT_NE(lt, std::string::npos) << c.greeting;
  const std::string ts = c.greeting.substr(lt, c.greeting.find('>') - lt + 1);
  const auto r = c.send("APOP u " + protocol::apop_digest(ts, "secret") + "\r\n");
  EXPECT_EQ(r.substr(0, 16), "+OK maildrop has");
  EXPECT_EQ(p.session_log()[0].auth_mechanism, "APOP");
  Client c2(p);
  EXPECT_NE(c2.greeting, c.greeting);  // a fresh timestamp per greeting (RFC 1939 7)
}

TEST(Provider, SaslPlainLogin) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  Client c(p);
  EXPECT_EQ(c.send("AUTH PLAIN AHUAcA==\r\n").substr(0, 16), "+OK maildrop has");
  EXPECT_EQ(p.session_log()[0].auth_mechanism, "PLAIN");
}

TEST(Provider, TlsRequiredProfileRefusesPlaintextLogin) {
  base::VirtualClock clock;
  Provider p(profile("tls-required"), "u", "p", clock);
  p.set_stls_available(true);
  Client c(p);
  EXPECT_NE(c.send("USER u\r\n").find("-ERR [AUTH] plaintext authentication disallowed"),
            std::string::npos);
  Client over_tls(p, true);
  EXPECT_NE(over_tls.send("USER u\r\nPASS p\r\n").find("+OK maildrop"), std::string::npos);
  EXPECT_TRUE(p.session_log()[1].tls);
}

TEST(Faults, FlakyProfileErrDropAndLyingSizes) {
  base::VirtualClock clock;
  Provider p(profile("flaky"), "u", "p", clock);
  for (int i = 0; i < 3; ++i) p.deliver("a@w.example", {"b@f.example"}, kMsg);
  const auto real = protocol::pop3_octets(p.stored()[0].data);
  Client c(p);
  (void)c.send("USER u\r\nPASS p\r\n");
  EXPECT_EQ(c.send("LIST 1\r\n"), "+OK 1 " + std::to_string(real + 7) + "\r\n");
  EXPECT_EQ(c.send("RETR 2\r\n"), "-ERR [SYS/TEMP] message temporarily unavailable\r\n");
  const auto r = c.send("RETR 3\r\n");
  EXPECT_EQ(r.size(), std::string("+OK ").size() + std::to_string(real + 7).size() +
                          std::string(" octets\r\n").size() + 100);
  EXPECT_TRUE(c.s->closing());
  c.end("closed");
  EXPECT_EQ(p.session_log()[0].end_reason, "fault-drop");
  EXPECT_EQ(p.stored_count(), 3u);
}

Profile with_faults(Faults f) {
  Profile pr = profile("x-envelope-to");
  pr.faults = std::move(f);
  return pr;
}

TEST(Faults, DropAfterBytes) {
  base::VirtualClock clock;
  Faults f;
  f.drop_after_bytes = 60;
  Provider p(with_faults(f), "u", "p", clock);
  Client c(p);
  const auto r = c.send("USER u\r\nPASS p\r\nNOOP\r\nNOOP\r\n");
  EXPECT_EQ(c.greeting.size() + r.size(), 60u);
  EXPECT_TRUE(c.s->closing());
}

TEST(Faults, DuplicateAndChangingUidls) {
  base::VirtualClock clock;
  Faults f;
  f.duplicate_uidls = true;
  Provider p(with_faults(f), "u", "p", clock);
  for (int i = 0; i < 2; ++i) p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client c(p);
  (void)c.send("USER u\r\nPASS p\r\n");
  const auto u1 = c.send("UIDL 1\r\n").substr(6);
  const auto u2 = c.send("UIDL 2\r\n").substr(6);
  EXPECT_EQ(u1, u2);

  Faults g;
  g.changing_uidls = true;
  Provider q(with_faults(g), "u", "p", clock);
  q.deliver("a@w.example", {"b@f.example"}, kMsg);
  std::string first;
  {
    Client a(q);
    (void)a.send("USER u\r\nPASS p\r\n");
    first = a.send("UIDL 1\r\n");
    (void)a.send("QUIT\r\n");
  }
  Client b(q);
  (void)b.send("USER u\r\nPASS p\r\n");
  EXPECT_NE(b.send("UIDL 1\r\n"), first);
}

TEST(Faults, AuthFailuresThenSuccessAndAlways) {
  base::VirtualClock clock;
  Faults f;
  f.auth_failures = 2;
  Provider p(with_faults(f), "u", "p", clock);
  for (int i = 0; i < 2; ++i) {
    Client c(p);
    EXPECT_NE(c.send("USER u\r\nPASS p\r\n").find("-ERR [AUTH]"), std::string::npos);
  }
  Client ok(p);
  EXPECT_NE(ok.send("USER u\r\nPASS p\r\n").find("+OK maildrop"), std::string::npos);

  Faults g;
  g.auth_failures = -1;
  Provider q(with_faults(g), "u", "p", clock);
  for (int i = 0; i < 3; ++i) {
    Client c(q);
    EXPECT_NE(c.send("USER u\r\nPASS p\r\n").find("-ERR [AUTH]"), std::string::npos);
  }
}

TEST(Faults, RepresentingProviderKeepsDeletedMail) {
  base::VirtualClock clock;
  Provider p(profile("represent"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  std::string before;
  {
    Client c(p);
    (void)c.send("USER u\r\nPASS p\r\n");
    before = c.send("UIDL 1\r\n");
    EXPECT_EQ(c.send("DELE 1\r\nQUIT\r\n").substr(0, 3), "+OK");
  }
  EXPECT_EQ(p.stored_count(), 1u);
  Client c(p);
  EXPECT_NE(c.send("USER u\r\nPASS p\r\n").find("+OK maildrop has 1"), std::string::npos);
  EXPECT_NE(c.send("UIDL 1\r\n"), before);
  EXPECT_EQ(p.session_log()[0].deleted_uidls.size(), 1u);
  EXPECT_EQ(p.session_log()[0].deleted_seqs, std::vector<std::uint64_t>{1});
  EXPECT_EQ(p.last_seq(), 1u);

  Faults same;
  same.represent_deleted = Represent::same_uidl;
  Provider q(with_faults(same), "u", "p", clock);
  q.deliver("a@w.example", {"b@f.example"}, kMsg);
  {
    Client a(q);
    (void)a.send("USER u\r\nPASS p\r\n");
    before = a.send("UIDL 1\r\n");
    (void)a.send("DELE 1\r\nQUIT\r\n");
  }
  Client b(q);
  (void)b.send("USER u\r\nPASS p\r\n");
  EXPECT_EQ(b.send("UIDL 1\r\n"), before);
}

TEST(Provider, ThrottleIdleTimeoutAndServerOptionsFromProfile) {
  base::VirtualClock clock;
  Profile pr = profile("x-envelope-to");
  pr.throttle_bytes_per_s = 1000;
  pr.idle_timeout_s = 700;
  pr.max_sessions = 2;
  Provider p(pr, "u", "p", clock);
  Client c(p);
  EXPECT_EQ(c.s->write_rate(), 1000u);
  EXPECT_EQ(c.s->idle_timeout(), std::chrono::seconds(700));
  const auto o = p.pop3_server_options();
  EXPECT_EQ(o.max_sessions, 2u);
  EXPECT_EQ(o.busy_reply, "-ERR [SYS/TEMP] too many sessions, try later\r\n");
}

TEST(Provider, TimeoutEndsWithoutResponseAndWithoutUpdate) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client c(p);
  (void)c.send("USER u\r\nPASS p\r\nDELE 1\r\n");
  EXPECT_EQ(c.s->finish("timeout"), "");
  EXPECT_EQ(p.stored_count(), 1u);
  EXPECT_EQ(p.session_log()[0].end_reason, "timeout");
  EXPECT_FALSE(p.session_log()[0].quit);
}

TEST(Provider, ProfileDriftAppliesToLaterDeliveries) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  p.set_profile(profile("none"));
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  const auto s = p.stored();
  EXPECT_NE(s[0].data.find("X-Envelope-To"), std::string::npos);
  EXPECT_EQ(s[1].data.find("X-Envelope-To"), std::string::npos);
}

TEST(MxIntake, SmtpTransactionIsStamped) {
  base::VirtualClock clock;
  Provider p(profile("envelope-to"), "u", "p", clock);
  auto mx = p.make_mx_session({"127.0.0.1", 2525, false});
  EXPECT_EQ(mx->start().substr(0, 4), "220 ");
  std::string out;
  mx->receive(
      "EHLO client.example\r\nMAIL FROM:<a@w.example>\r\nRCPT TO:<b@f.example>\r\n"
      "RCPT TO:<c@f.example>\r\nDATA\r\n",
      out);
  out.clear();
  mx->receive("Subject: s\r\n\r\n..dot\r\n.\r\nQUIT\r\n", out);
  EXPECT_NE(out.find("250 "), std::string::npos) << out;
  ASSERT_EQ(p.stored_count(), 1u);
  EXPECT_EQ(p.stored()[0].data,
            "Return-Path: <a@w.example>\r\nEnvelope-To: b@f.example, c@f.example\r\n"
            "Subject: s\r\n\r\n.dot\r\n");
}

}  // namespace
}  // namespace dropcheck::fake_pop3

// Issue 15 item 1: faults fire on every retrieval command, and the provider records which of
// its scheduled faults fired (a fault that never fired leaves a scenario not exercised).
namespace dropcheck::fake_pop3 {
namespace {

TEST(Faults, TopFiresRetrievalFaultsLikeRetr) {
  base::VirtualClock clock;
  Provider p(profile("flaky"), "u", "p", clock);
  for (int i = 0; i < 3; ++i) p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client c(p);
  (void)c.send("USER u\r\nPASS p\r\n");
  EXPECT_EQ(c.send("TOP 2 99999999\r\n"), "-ERR [SYS/TEMP] message temporarily unavailable\r\n");
  const auto r = c.send("TOP 3 99999999\r\n");
  EXPECT_EQ(r.size(), std::string("+OK top of message follows\r\n").size() + 100);
  EXPECT_TRUE(c.s->closing());
  c.end("closed");
  const auto& e = p.session_log()[0];
  EXPECT_EQ(e.end_reason, "fault-drop");
  EXPECT_TRUE(e.retrieved_uidls.empty());
  ASSERT_EQ(e.topped_uidls.size(), 1u);  // the dropped one; message 2 was refused
  EXPECT_EQ(e.topped_uidls[0], p.stored()[2].uidl);
  EXPECT_EQ(p.fired_faults().count("err_on_retr"), 1u);
  EXPECT_EQ(p.fired_faults().count("drop_in_retr"), 1u);
}

TEST(Faults, ScheduledFaultsAreNamedAndFiringIsRecorded) {
  EXPECT_TRUE(scheduled_faults(Faults{}).empty());
  EXPECT_EQ(scheduled_faults(profile("flaky").faults),
            (std::vector<std::string>{"drop_in_retr", "err_on_retr", "list_size_delta"}));
  base::VirtualClock clock;
  Provider p(profile("flaky"), "u", "p", clock);
  p.deliver("a@w.example", {"b@f.example"}, kMsg);
  Client c(p);
  EXPECT_TRUE(p.fired_faults().empty());
  (void)c.send("USER u\r\nPASS p\r\nLIST\r\nRETR 1\r\n");
  // One message: neither message 2 nor 3 exists; the sizes lied (login reply, LIST, RETR).
  EXPECT_EQ(p.fired_faults().size(), 1u);
  EXPECT_EQ(p.fired_faults().count("list_size_delta"), 1u);

  Faults f;
  f.duplicate_uidls = true;
  f.changing_uidls = true;
  f.auth_failures = 1;
  f.drop_after_bytes = 4000;
  f.represent_deleted = Represent::new_uidl;
  Provider q(with_faults(f), "u", "p", clock);
  for (int i = 0; i < 2; ++i) q.deliver("a@w.example", {"b@f.example"}, kMsg);
  {
    Client refused(q);
    (void)refused.send("USER u\r\nPASS p\r\n");
  }
  EXPECT_EQ(q.fired_faults().count("auth_failures"), 1u);
  Client d(q);
  (void)d.send("USER u\r\nPASS p\r\nUIDL\r\nDELE 1\r\nQUIT\r\n");
  d.end("closed");
  for (const char* name : {"duplicate_uidls", "changing_uidls", "represent_deleted"})
    EXPECT_EQ(q.fired_faults().count(name), 1u) << name;
  EXPECT_EQ(q.fired_faults().count("drop_after_bytes"), 0u);
  Client e(q);
  std::string many = "USER u\r\nPASS p\r\n";
  for (int i = 0; i < 60; ++i) many += "RETR 1\r\n";  // ~120 octets each: past 4000
  (void)e.send(many);
  EXPECT_EQ(q.fired_faults().count("drop_after_bytes"), 1u);
}

// --- several mailboxes ---------------------------------------------------------------------

// anna and bob own their addresses; "catchall" takes the rest of the domain.
std::vector<Mailbox> three_boxes() {
  return {{"anna", "pa", {"anna@firma.example"}, false},
          {"bob", "pb", {"bob@firma.example", "robert@firma.example"}, false},
          {"catchall", "pc", {}, true}};
}

// The stamped X-Rcpt-To lines of a copy, in order.
std::vector<std::string> rcpt_lines(const std::string& data) {
  std::vector<std::string> out;
  const std::string name = "X-Rcpt-To: ";
  for (std::size_t at = data.find(name); at != std::string::npos; at = data.find(name, at + 1))
    out.push_back(data.substr(at + name.size(), data.find("\r\n", at) - at - name.size()));
  return out;
}

// The std::invalid_argument text of constructing a provider with `boxes`.
std::string construction_error(std::vector<Mailbox> boxes) {
  base::VirtualClock clock;
  try {
    Provider p(profile("x-envelope-to"), std::move(boxes), clock);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(Mailboxes, OwnedAddressGoesToItsBoxTheRestToTheCatchAll) {
  base::VirtualClock clock;
  // x-rcpt-to: one copy per box, one X-Rcpt-To line per recipient of that box.
  Provider p(profile("x-rcpt-to"), three_boxes(), clock);
  p.deliver("a@w.example", {"info@firma.example", "ANNA@Firma.Example", "sales@firma.example"},
            kMsg);
  const auto anna = p.stored("anna");
  ASSERT_EQ(anna.size(), 1u);
  EXPECT_EQ(anna[0].mailbox, "anna");
  EXPECT_EQ(anna[0].rcpts, std::vector<std::string>{"ANNA@Firma.Example"});
  EXPECT_EQ(rcpt_lines(anna[0].data), std::vector<std::string>{"ANNA@Firma.Example"});
  const auto rest = p.stored("catchall");
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].mailbox, "catchall");
  const std::vector<std::string> unowned = {"info@firma.example", "sales@firma.example"};
  EXPECT_EQ(rest[0].rcpts, unowned);
  EXPECT_EQ(rcpt_lines(rest[0].data), unowned);
  EXPECT_TRUE(p.stored("bob").empty());
  EXPECT_TRUE(p.stored("nobody").empty());
  // Seqs are global, boxes in the order of their first recipient; stored() is all, by seq.
  EXPECT_EQ(rest[0].seq, 1u);
  EXPECT_EQ(anna[0].seq, 2u);
  EXPECT_EQ(p.last_seq(), 2u);
  ASSERT_EQ(p.stored().size(), 2u);
  EXPECT_EQ(p.stored()[0].mailbox, "catchall");
  EXPECT_EQ(p.stored()[1].mailbox, "anna");
  EXPECT_EQ(p.stored_count(), 2u);
  EXPECT_EQ(p.refused_rcpts(), 0u);
}

TEST(Mailboxes, OneMailToAPerUserAndACatchAllAddressLandsOnceInEach) {
  base::VirtualClock clock;
  // x-envelope-to: a copy per recipient, so each box gets exactly its own recipient's copy.
  Provider p(profile("x-envelope-to"), three_boxes(), clock);
  p.deliver("a@w.example", {"robert@firma.example", "info@firma.example"}, kMsg);
  const auto bob = p.stored("bob");
  const auto rest = p.stored("catchall");
  ASSERT_EQ(bob.size(), 1u);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(bob[0].data, "Return-Path: <a@w.example>\r\nX-Envelope-To: robert@firma.example\r\n" +
                             std::string(kMsg));
  EXPECT_EQ(rest[0].data, "Return-Path: <a@w.example>\r\nX-Envelope-To: info@firma.example\r\n" +
                              std::string(kMsg));
  EXPECT_TRUE(p.stored("anna").empty());
  // The single-mailbox constructor: one catch-all box named by its user.
  Provider one(profile("x-envelope-to"), "u", "p", clock);
  one.deliver("a@w.example", {"anna@firma.example"}, kMsg);
  one.deliver("a@w.example", {}, kMsg);  // no recipient at all: still stored, as ever
  ASSERT_EQ(one.stored("u").size(), 2u);
  EXPECT_EQ(one.stored()[0].mailbox, "u");
}

// A `delivered_to: mailbox` provider (Postfix local(8)) names the mailbox it delivered into:
// a per-user box's own address, the catch-all's for the catch-all.
TEST(Mailboxes, DeliveredToMailboxNamesThePerUserBoxItself) {
  base::VirtualClock clock;
  Provider p(profile("x-original-to"), three_boxes(), clock);
  p.deliver("a@w.example", {"robert@firma.example", "info@firma.example"}, kMsg);
  const auto bob = p.stored("bob");
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_NE(bob[0].data.find("Delivered-To: bob@firma.example\r\n"), std::string::npos)
      << bob[0].data;
  const auto rest = p.stored("catchall");
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_NE(rest[0].data.find("Delivered-To: " + p.profile().mailbox_address + "\r\n"),
            std::string::npos)
      << rest[0].data;
}

TEST(Mailboxes, WithoutCatchAllAnUnownedRecipientIsRefusedAndNotStored) {
  base::VirtualClock clock;
  auto boxes = three_boxes();
  boxes.pop_back();
  Provider p(profile("x-envelope-to"), boxes, clock);
  EXPECT_TRUE(p.accepts("Bob@firma.example"));
  EXPECT_FALSE(p.accepts("carol@firma.example"));
  p.deliver("a@w.example", {"carol@firma.example", "anna@firma.example"}, kMsg);
  EXPECT_EQ(p.refused_rcpts(), 1u);
  ASSERT_EQ(p.stored_count(), 1u);
  EXPECT_EQ(p.stored()[0].rcpts, std::vector<std::string>{"anna@firma.example"});
  p.deliver("a@w.example", {"carol@firma.example"}, kMsg);
  EXPECT_EQ(p.refused_rcpts(), 2u);
  EXPECT_EQ(p.stored_count(), 1u);
  EXPECT_EQ(p.last_seq(), 1u);

  // The MX answers 550 5.1.1 at RCPT; the accepted recipient still gets the message.
  auto mx = p.make_mx_session({"127.0.0.1", 2525, false});
  (void)mx->start();
  std::string out;
  mx->receive("EHLO c.example\r\nMAIL FROM:<a@w.example>\r\n", out);
  out.clear();
  mx->receive("RCPT TO:<carol@firma.example>\r\n", out);
  EXPECT_EQ(out.substr(0, 10), "550 5.1.1 ") << out;
  EXPECT_NE(out.find("carol@firma.example"), std::string::npos) << out;
  out.clear();
  mx->receive("RCPT TO:<bob@firma.example>\r\n", out);
  EXPECT_EQ(out.substr(0, 4), "250 ") << out;
  mx->receive("DATA\r\nSubject: s\r\n\r\nx\r\n.\r\nQUIT\r\n", out);
  EXPECT_EQ(p.refused_rcpts(), 3u);
  const auto bob = p.stored("bob");
  ASSERT_EQ(bob.size(), 1u) << out;
  EXPECT_EQ(bob[0].rcpts, std::vector<std::string>{"bob@firma.example"});
  EXPECT_EQ(p.stored_count(), 2u);
}

TEST(Mailboxes, LoginSelectsTheBoxAndTheOtherBoxPasswordIsRefused) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), three_boxes(), clock);
  p.deliver("a@w.example", {"anna@firma.example", "x@firma.example", "y@firma.example"}, kMsg);
  {
    Client c(p);
    EXPECT_EQ(c.send("USER anna\r\nPASS pb\r\n"),
              "+OK send PASS\r\n-ERR [AUTH] authentication failed\r\n");
    c.end();
  }
  EXPECT_EQ(p.session_log()[0].auth_result, "bad-credentials");
  {
    Client c(p);
    EXPECT_NE(c.send("USER nobody\r\nPASS pa\r\n").find("-ERR [AUTH]"), std::string::npos);
    c.end();
  }
  EXPECT_EQ(p.session_log()[1].auth_result, "bad-credentials");
  {
    Client c(p);
    EXPECT_NE(c.send("USER anna\r\nPASS pa\r\n").find("+OK maildrop has 1 "), std::string::npos);
    EXPECT_NE(c.send("RETR 1\r\n").find("X-Envelope-To: anna@firma.example"), std::string::npos);
    (void)c.send("DELE 1\r\nQUIT\r\n");
    c.end();
  }
  EXPECT_EQ(p.session_log()[2].user, "anna");
  EXPECT_EQ(p.session_log()[2].auth_result, "ok");
  EXPECT_TRUE(p.stored("anna").empty());
  EXPECT_EQ(p.stored("catchall").size(), 2u);  // a QUIT in anna's box leaves it alone
  {
    Client c(p);
    EXPECT_NE(c.send("USER catchall\r\nPASS pc\r\n").find("+OK maildrop has 2 "),
              std::string::npos);
    c.end();
  }
  EXPECT_EQ(p.session_log()[3].user, "catchall");
}

TEST(Mailboxes, ApopUsesTheBoxPassword) {
  base::VirtualClock clock;
  Provider p(profile("apop"), three_boxes(), clock);
  const auto apop = [&](const std::string& user, const std::string& secret) {
    Client c(p);
    const auto lt = c.greeting.find('<');
    const std::string ts = c.greeting.substr(lt, c.greeting.find('>') - lt + 1);
    const std::string r = c.send("APOP " + user + " " + protocol::apop_digest(ts, secret) + "\r\n");
    c.end();
    return r.substr(0, 3);
  };
  EXPECT_EQ(apop("bob", "pa"), "-ER");
  EXPECT_EQ(apop("bob", "pb"), "+OK");
  EXPECT_EQ(p.session_log().back().user, "bob");
}

TEST(Mailboxes, ExclusiveLockIsPerBox) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), three_boxes(), clock);
  Client anna(p);
  EXPECT_NE(anna.send("USER anna\r\nPASS pa\r\n").find("+OK maildrop"), std::string::npos);
  Client bob(p);
  EXPECT_NE(bob.send("USER bob\r\nPASS pb\r\n").find("+OK maildrop"), std::string::npos);
  Client anna2(p);
  EXPECT_NE(anna2.send("USER anna\r\nPASS pa\r\n").find("-ERR [IN-USE]"), std::string::npos);
  bob.end();
  Client bob2(p);  // bob's lock went with his session; anna's is still held
  EXPECT_NE(bob2.send("USER bob\r\nPASS pb\r\n").find("+OK maildrop"), std::string::npos);
  anna.end();
  Client anna3(p);
  EXPECT_NE(anna3.send("USER anna\r\nPASS pa\r\n").find("+OK maildrop"), std::string::npos);
}

TEST(Mailboxes, LoginDelayIsPerBox) {
  base::VirtualClock clock;
  Provider p(profile("login-delay"), three_boxes(), clock);
  const auto login = [&](const std::string& user, const std::string& password) {
    Client c(p);
    (void)c.send("USER " + user + "\r\nPASS " + password + "\r\n");
    c.end();
    return p.session_log().back().auth_result;
  };
  EXPECT_EQ(login("anna", "pa"), "ok");
  EXPECT_EQ(login("bob", "pb"), "ok");  // anna's login does not delay bob
  EXPECT_EQ(login("anna", "pa"), "login-delay");
  clock.advance(std::chrono::minutes(15));
  EXPECT_EQ(login("anna", "pa"), "ok");
  EXPECT_EQ(login("bob", "pb"), "ok");
}

TEST(Mailboxes, SetPasswordRefusesTheOldAndAcceptsTheNew) {
  base::VirtualClock clock;
  Provider p(profile("x-envelope-to"), three_boxes(), clock);
  const auto login = [&](const std::string& user, const std::string& password) {
    Client c(p);
    (void)c.send("USER " + user + "\r\nPASS " + password + "\r\n");
    c.end();
    return p.session_log().back().auth_result;
  };
  Client opened_before(p);  // not yet logged in: the check happens at PASS
  EXPECT_TRUE(p.set_password("anna", "new"));
  EXPECT_FALSE(p.set_password("nobody", "x"));
  EXPECT_EQ(login("anna", "pa"), "bad-credentials");
  EXPECT_EQ(login("anna", "new"), "ok");
  EXPECT_EQ(login("bob", "pb"), "ok");  // the other box keeps its password
  EXPECT_NE(opened_before.send("USER anna\r\nPASS new\r\n").find("+OK maildrop"),
            std::string::npos);
  EXPECT_EQ(p.mailboxes()[0].password, "new");
}

TEST(Mailboxes, ConstructorRejectsInconsistentBoxes) {
  EXPECT_EQ(construction_error({}), "fake-pop3: no mailbox");
  EXPECT_EQ(construction_error({{"", "p", {"a@f.example"}, false}}),
            "fake-pop3: mailbox 1: empty user");
  EXPECT_EQ(construction_error({{"a", "p", {"a@f.example"}, false}, {"a", "q", {}, true}}),
            "fake-pop3: mailbox user 'a' appears twice");
  EXPECT_EQ(construction_error({{"a", "p", {}, true}, {"b", "q", {}, true}}),
            "fake-pop3: mailboxes 'a' and 'b' are both catch_all (at most one)");
  EXPECT_EQ(
      construction_error({{"a", "p", {"x@f.example"}, false}, {"b", "q", {"X@F.example"}, false}}),
      "fake-pop3: address 'X@F.example' owned by mailboxes 'a' and 'b'");
  EXPECT_EQ(construction_error({{"a", "p", {""}, false}}), "fake-pop3: mailbox 'a': empty address");
  // Consistent: no exception (the same address twice in one box is harmless).
  EXPECT_EQ(construction_error({{"a", "p", {"x@f.example", "X@f.example"}, false}}),
            "(no exception)");
}

}  // namespace
}  // namespace dropcheck::fake_pop3
