// web/api.hpp: the REST API as a pure handler (no sockets).
#include "web/api.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace dropcheck::web {
namespace {

fake_smtp::RcptRecord rcpt(std::string address, int code, std::string reply = {}) {
  fake_smtp::RcptRecord r;
  r.address = std::move(address);
  r.code = code;
  r.reply = std::move(reply);
  return r;
}

Store sample() {
  Store s;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    Item it;
    it.id = i * 10;  // fake-smtp: the journal seq
    it.rec.seq = i * 10;
    it.rec.mail_from = "alice@sender.example";
    it.rec.rcpts.push_back(rcpt("u" + std::to_string(i) + "@firma.example", 250));
    it.rec.accepted = true;
    it.rec.data_code = 250;
    it.rec.message = "Message-ID: <m" + std::to_string(i) +
                     "@x>\r\nX-Envelope-To: bob@firma.example\r\n\r\nbody \xFF\r\n";
    it.rec.size = it.rec.message.size();
    s.add(std::move(it));
  }
  return s;
}

nlohmann::json get_json(Store& s, const std::string& target, int status = 200) {
  const Response r = handle(s, {"GET", target}, {});
  EXPECT_EQ(r.status, status) << target << ": " << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  return nlohmann::json::parse(r.body);
}

TEST(WebApi, ListIsNewestFirstWithTotalsAndEnvelope) {
  Store s = sample();
  const auto j = get_json(s, "/api/messages");
  EXPECT_EQ(j["total"], 3);
  ASSERT_EQ(j["messages"].size(), 3u);
  EXPECT_EQ(j["messages"][0]["id"], 30);
  EXPECT_EQ(j["messages"][0]["rcpts"][0]["address"], "u3@firma.example");
  EXPECT_EQ(j["messages"][0]["rcpts"][0]["code"], 250);
  EXPECT_EQ(j["messages"][0]["envelope_headers"][0]["name"], "X-Envelope-To");
  EXPECT_EQ(j["messages"][0]["envelope_headers"][0]["reached_recipient"], true);
}

TEST(WebApi, SearchByAddressAndMessageId) {
  Store s = sample();
  auto j = get_json(s, "/api/messages?q=U2%40firma.example");
  ASSERT_EQ(j["total"], 1);
  EXPECT_EQ(j["messages"][0]["id"], 20);
  j = get_json(s, "/api/messages?q=%3Cm1%40x%3E");
  ASSERT_EQ(j["total"], 1);
  EXPECT_EQ(j["messages"][0]["message_id"], "<m1@x>");
}

TEST(WebApi, PaginationAndItsMaximum) {
  Store s = sample();
  auto j = get_json(s, "/api/messages?limit=1&offset=1");
  EXPECT_EQ(j["total"], 3);
  ASSERT_EQ(j["messages"].size(), 1u);
  EXPECT_EQ(j["messages"][0]["id"], 20);
  get_json(s, "/api/messages?limit=" + std::to_string(kListMaxLimit), 200);
  get_json(s, "/api/messages?limit=" + std::to_string(kListMaxLimit + 1), 400);
  get_json(s, "/api/messages?offset=-1", 400);
  get_json(s, "/api/messages?limit=2x", 400);
  get_json(s, "/api/messages?q=" + std::string(kMaxQueryOctets + 1, 'a'), 400);
}

TEST(WebApi, OneMessageAndItsRawBytes) {
  Store s = sample();
  const auto j = get_json(s, "/api/messages/20");
  EXPECT_EQ(j["seq"], 20);
  EXPECT_EQ(j["headers"][1]["envelope"], true);
  EXPECT_EQ(j["raw_url"], "/api/messages/20/raw");
  const Response raw = handle(s, {"GET", "/api/messages/20/raw"}, {});
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body, s.find(20)->rec.message);  // the bytes as received, 0xFF included
  get_json(s, "/api/messages/21", 404);
  get_json(s, "/api/messages/2x", 404);
  get_json(s, "/api/messages/20/rawx", 404);
}

TEST(WebApi, DeleteAllClearsTheViewAndRecordsThePoint) {
  Store s = sample();
  const Response r = handle(s, {"DELETE", "/api/messages"}, {});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["deleted_through"], 30);
  const auto j = get_json(s, "/api/messages");
  EXPECT_EQ(j["total"], 0);
  EXPECT_EQ(j["deleted_through"], 30);
}

TEST(WebApi, MethodsAndRoutes) {
  Store s = sample();
  EXPECT_EQ(handle(s, {"POST", "/api/messages"}, {}).status, 405);
  EXPECT_EQ(handle(s, {"DELETE", "/api/messages/10"}, {}).status, 405);
  EXPECT_EQ(handle(s, {"GET", "/etc/passwd"}, {}).status, 404);
  const Response page = handle(s, {"GET", "/"}, {});
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  ASSERT_EQ(page.headers.size(), 1u);
  EXPECT_EQ(page.headers[0].first, "Content-Security-Policy");
  const Response frag = handle(s, {"GET", "/page/items/10"}, {});
  ASSERT_EQ(frag.status, 200);
  const auto f = nlohmann::json::parse(frag.body);
  EXPECT_NE(f["row"].get<std::string>().find("data-id=\"10\""), std::string::npos);
  EXPECT_NE(f["detail"].get<std::string>().find("id=\"m-10\""), std::string::npos);
}

TEST(WebApi, QueryParameters) {
  EXPECT_EQ(query_param("/x?a=1&q=b%40c+d&z", "q"), "b@c d");
  EXPECT_EQ(query_param("/x?a=1", "q"), "");
  EXPECT_EQ(query_param("/x?q=%4", "q"), "%4");
  EXPECT_EQ(target_path("/api/messages?q=1"), "/api/messages");
  EXPECT_EQ(sse_event("added", "{\"id\":1}"), "event: added\ndata: {\"id\":1}\n\n");
}

}  // namespace
}  // namespace dropcheck::web
