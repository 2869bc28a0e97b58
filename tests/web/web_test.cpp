// web/: header fields, store, page rendering (escaping, highlighting) without sockets.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "web/message.hpp"
#include "web/render.hpp"
#include "web/store.hpp"

namespace dropcheck::web {
namespace {

fake_smtp::RcptRecord rcpt(std::string address, int code, std::string reply = {}) {
  fake_smtp::RcptRecord r;
  r.address = std::move(address);
  r.code = code;
  r.reply = std::move(reply);
  return r;
}

fake_smtp::TransactionRecord record(std::uint64_t seq, std::string message, bool accepted = true) {
  fake_smtp::TransactionRecord r;
  r.seq = seq;
  r.session_id = "s" + std::to_string(seq);
  r.mail_from = "alice@sender.example";
  r.rcpts.push_back(rcpt("a@firma.example", 250, "2.1.5 ok"));
  r.rcpts.push_back(rcpt("b@firma.example", 550, "5.1.1 unknown"));
  r.data_code = accepted ? 250 : 0;
  r.accepted = accepted;
  r.real_ms = 1'767'225'600'123;  // 2026-01-01T00:00:00.123Z
  r.size = message.size();
  r.message = std::move(message);
  return r;
}

const std::string kLeaky =
    "From: alice@sender.example\r\nTo: a@firma.example\r\nX-Envelope-To: bob@firma.example\r\n"
    "Message-ID: <m1@sender.example>\r\nSubject: hello\r\n\r\nbody\r\n";

Item item(std::uint64_t seq, std::string message, bool accepted = true) {
  Item i;
  i.rec = record(seq, std::move(message), accepted);
  return i;
}

TEST(WebMessage, HeaderFieldsUnfoldAndStopAtTheBody) {
  const auto f = header_fields("A: 1\r\nB: two\r\n  lines\r\nnot a field\r\n\r\nC: body\r\n");
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].name, "B");
  EXPECT_EQ(f[1].value, "two lines");
  EXPECT_EQ(f[1].first_line, 1u);
  EXPECT_EQ(f[1].lines, 2u);
}

TEST(WebMessage, HeaderFieldsAreBounded) {
  std::string m;
  for (std::size_t i = 0; i < kMaxHeaderFields + 1; ++i) m += "X: 1\n";
  EXPECT_EQ(header_fields(m).size(), kMaxHeaderFields);
}

TEST(WebMessage, EnvelopeHeadersAndBccDisclose) {
  for (const auto& h : envelope_header_names()) EXPECT_TRUE(is_disclosing_header(h)) << h;
  EXPECT_TRUE(is_disclosing_header("x-envelope-to"));
  EXPECT_TRUE(is_disclosing_header("BCC"));
  EXPECT_FALSE(is_disclosing_header("To"));
  EXPECT_FALSE(is_envelope_header("Bcc"));
}

TEST(WebMessage, DisplayTextReadsInvalidOctetsAsLatin1) {
  EXPECT_EQ(display_text("gr\xFC\xC3\xBC"), "gr\xC3\xBC\xC3\xBC");
  EXPECT_EQ(html("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
}

TEST(WebStore, QueryByAddressAndMessageIdNewestFirst) {
  Store s;
  s.add(item(1, kLeaky));
  s.add(item(2, "From: carol@other.example\r\nMessage-ID: <m2@x>\r\n\r\nbody\r\n"));
  std::size_t total = 0;
  auto all = s.query("", 0, 10, total);
  ASSERT_EQ(total, 2u);
  EXPECT_EQ(all[0]->id, 2u);
  EXPECT_EQ(s.query("BOB@firma", 0, 10, total).front()->id, 1u);
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(s.query("<m2@x>", 0, 10, total).front()->id, 2u);
  EXPECT_TRUE(s.query("nobody@", 0, 10, total).empty());
  EXPECT_EQ(s.query("", 1, 10, total).front()->id, 1u);
}

TEST(WebStore, ClearKeepsCountingAndRecordsTheDeletionPoint) {
  Store s;
  s.add(item(1, kLeaky));
  s.add(item(2, kLeaky));
  s.clear();
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.deleted_through(), 2u);
  EXPECT_EQ(s.generation(), 1u);
  EXPECT_EQ(s.add(item(3, kLeaky)), 3u);
  EXPECT_EQ(s.find(1), nullptr);
  ASSERT_NE(s.find(3), nullptr);
}

TEST(WebStore, EvictsTheOldestBeyondItsLimit) {
  Store s(StoreLimits{.max_items = 2, .max_message_octets = 1 << 20});
  for (std::uint64_t i = 1; i <= 3; ++i) {
    Item it = item(i, kLeaky);
    it.id = i;
    s.add(std::move(it));
  }
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.evicted(), 1u);
  EXPECT_EQ(s.find(1), nullptr);
}

TEST(WebStore, OutOfOrderIdsStaySorted) {
  Store s;
  for (std::uint64_t id : {2u, 1u, 3u}) {
    Item it = item(id, kLeaky);
    it.id = id;
    s.add(std::move(it));
  }
  ASSERT_NE(s.find(1), nullptr);
  EXPECT_EQ(s.find(1)->id, 1u);
  EXPECT_EQ(s.items().front().id, 1u);
}

TEST(WebRender, EnvelopeHeaderThatReachedARecipientIsALeak) {
  Store s;
  s.add(item(1, kLeaky));
  const Item& i = *s.find(1);
  EXPECT_EQ(mark_of(i, i.headers[2]), Mark::leak);
  EXPECT_EQ(mark_of(i, i.headers[1]), Mark::none);
  const std::string d = render_detail(i, {});
  EXPECT_NE(d.find("<tr class=\"leak\"><th>X-Envelope-To</th><td>bob@firma.example</td></tr>"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("<span class=\"leak\">X-Envelope-To: bob@firma.example\n</span>"),
            std::string::npos);
}

TEST(WebRender, EnvelopeHeaderOfARefusedCopyIsOnlyStamped) {
  Store s;
  s.add(item(1, kLeaky, false));
  EXPECT_EQ(mark_of(*s.find(1), s.find(1)->headers[2]), Mark::stamped);
}

TEST(WebRender, FindingMarksTheLeakedLine) {
  Store s;
  Item it = item(1, kLeaky);
  it.findings.push_back({"envelope-header-leak", "bob@firma.example",
                         "journal #1: copy for a@firma.example shows bob@firma.example in "
                         "\"X-Envelope-To: bob@firma.example\""});
  s.add(std::move(it));
  const Item& i = *s.find(1);
  EXPECT_TRUE(finding_points_at(i, i.headers[2]));
  EXPECT_FALSE(finding_points_at(i, i.headers[1]));
  const std::string d = render_detail(i, {});
  EXPECT_NE(d.find("<tr class=\"leak finding\"><th>X-Envelope-To"), std::string::npos);
  EXPECT_NE(d.find("<li class=\"finding\"><b>envelope-header-leak</b>"), std::string::npos);
  EXPECT_NE(render_row(i).find("class=\"badge\">1<"), std::string::npos);
  EXPECT_NE(render_row(i).find("<span class=\"tag leak\">X-Envelope-To</span>"), std::string::npos);
}

TEST(WebRender, PageListsEveryTransactionWithItsRecipientsAndCount) {
  Store s;
  s.add(item(1, kLeaky));
  s.add(item(2, kLeaky));
  const std::string p = render_page(s, {});
  EXPECT_NE(p.find("<b id=\"count\">2</b>"), std::string::npos);
  EXPECT_NE(p.find("a@firma.example <span class=\"code2\">250</span>"), std::string::npos);
  EXPECT_NE(p.find("b@firma.example <span class=\"code5\">550</span>"), std::string::npos);
  EXPECT_NE(p.find("2026-01-01T00:00:00.123Z"), std::string::npos);
  EXPECT_NE(p.find("id=\"m-2\""), std::string::npos);
  EXPECT_NE(p.find("data-live=\"0\""), std::string::npos);
  EXPECT_EQ(p.find("http://"), std::string::npos);  // nothing from elsewhere (offline)
  EXPECT_EQ(p.find("https://"), std::string::npos);
}

// A message is attacker-controlled: nothing in it may become markup or script.
TEST(WebRender, HostileMessageIsEscapedEverywhere) {
  const std::string evil =
      "From: \"<script>alert(1)</script>\" <x@evil.example>\r\n"
      "To: a@firma.example\r\nSubject: </script><img src=x onerror=alert(2)>\r\n"
      "Message-ID: <\"><svg onload=alert(3)>@evil>\r\n"
      "X-Envelope-To: \"onmouseover=alert(4) x=\"@firma.example\r\n\r\n"
      "<script>alert(5)</script>\r\n";
  Store s;
  Item it = item(1, evil);
  it.rec.mail_from = "<script>alert(6)</script>@evil.example";
  it.rec.rcpts[0].reply = "<iframe src=javascript:alert(7)>";
  it.findings.push_back({"<b>x</b>", "<i>y</i>", "\"</li><script>alert(8)</script>"});
  s.add(std::move(it));
  const std::string p = render_page(s, {.title = "t", .live = true});
  const std::string page_script = "<script>";
  EXPECT_EQ(p.find(page_script), p.rfind(page_script)) << "only the page's own script tag";
  for (const char* bad :
       {"<img", "<svg", "<iframe", "<b>x", "<i>y", "\"onmouseover", "<script>alert"})
    EXPECT_EQ(p.find(bad), std::string::npos) << bad;
  EXPECT_NE(p.find("&lt;script&gt;alert(5)&lt;/script&gt;"), std::string::npos);
  const std::string j = dump(item_detail(*s.find(1)));
  EXPECT_NE(j.find("<script>alert(6)"), std::string::npos);  // JSON keeps the text as it is
}

TEST(WebRender, CspAllowsOnlyThePageScriptByHash) {
  const std::string csp = page_csp();
  EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos);
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(csp.find("script-src 'unsafe-inline'"), std::string::npos);
}

TEST(WebRender, LongRawIsCutInThePage) {
  Store s;
  s.add(item(1, kLeaky + std::string(kPageMaxRawOctets, 'x')));
  const std::string d = render_detail(*s.find(1), {});
  EXPECT_NE(d.find(fmt::format("first {} of", kPageMaxRawOctets)), std::string::npos);
}

TEST(WebRender, IsoTime) {
  EXPECT_EQ(iso_time(1'767'225'600'123), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(iso_time(0), "-");
}

}  // namespace
}  // namespace dropcheck::web
