// The REST API's JSON of a record (web/render.hpp).
#include <nlohmann/json.hpp>

#include "web/render.hpp"

namespace dropcheck::web {
namespace {

nlohmann::json rcpts_json(const fake_smtp::TransactionRecord& rec) {
  auto out = nlohmann::json::array();
  for (const auto& r : rec.rcpts) {
    nlohmann::json j = {{"address", r.address},
                        {"code", r.code},
                        {"reply", r.reply},
                        {"mailbox", r.mailbox},
                        {"relayed", r.relayed}};
    if (rec.lmtp) j["lmtp_code"] = r.data_code;
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json findings_json(const std::vector<Annotation>& findings) {
  auto out = nlohmann::json::array();
  for (const auto& f : findings)
    out.push_back({{"type", f.type}, {"recipient", f.recipient}, {"evidence", f.evidence}});
  return out;
}

// The envelope headers and Bcc the message carries, with whether they reached a recipient.
nlohmann::json disclosing_json(const Item& item) {
  auto out = nlohmann::json::array();
  for (const auto& f : item.headers)
    if (is_disclosing_header(f.name))
      out.push_back({{"name", f.name},
                     {"value", f.value},
                     {"reached_recipient", mark_of(item, f) == Mark::leak},
                     {"finding", finding_points_at(item, f)}});
  return out;
}

}  // namespace

nlohmann::json item_summary(const Item& item) {
  const auto& r = item.rec;
  nlohmann::json j = {{"id", item.id},
                      {"seq", r.seq},
                      {"session", r.session_id},
                      {"client", r.client},
                      {"time", iso_time(r.real_ms)},
                      {"real_ms", r.real_ms},
                      {"virtual_ms", r.virtual_ms},
                      {"mail_from", r.mail_from},
                      {"null_sender", r.mail_from_null},
                      {"rcpts", rcpts_json(r)},
                      {"data_code", r.data_code},
                      {"accepted", r.accepted},
                      {"size", r.size},
                      {"message_id", item.message_id},
                      {"subject", item.subject},
                      {"end_reason", r.end_reason},
                      {"envelope_headers", disclosing_json(item)},
                      {"findings", findings_json(item.findings)}};
  if (!item.source.empty()) j["scenario"] = item.source;
  return j;
}

nlohmann::json item_detail(const Item& item) {
  auto j = item_summary(item);
  const auto& r = item.rec;
  auto headers = nlohmann::json::array();
  for (const auto& f : item.headers)
    headers.push_back(
        {{"name", f.name}, {"value", f.value}, {"envelope", is_disclosing_header(f.name)}});
  j["headers"] = std::move(headers);
  j["helo_verb"] = r.helo_verb;
  j["helo"] = r.helo;
  j["tls"] = r.tls;
  j["lmtp"] = r.lmtp;
  j["data_reply"] = r.data_reply;
  j["sha256"] = r.sha256;
  j["faults"] = r.faults;
  j["bare_lf_in_data"] = r.bare_lf_in_data;
  j["raw_url"] = "/api/messages/" + std::to_string(item.id) + "/raw";
  return j;
}

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace dropcheck::web
