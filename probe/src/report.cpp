// The probe's outputs: text, JSON, HTML, the inferred fake-pop3 profile and the
// recommended fetcher settings. Built only from the Report, which holds no
// credentials.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/strings.hpp"
#include "probe/advice.hpp"
#include "probe/probe.hpp"

namespace dropcheck::probe {

namespace {

// A YAML double-quoted scalar (YAML 1.2 5.7 escapes).
std::string yq(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  return out + "\"";
}

// fetchmailrc strings: double-quoted, backslash escapes.
std::string fq(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string html_escape(std::string_view s) { return base::xml_escape(s); }

bool observed(const InferredProfile &p, std::string_view field) {
  return std::find(p.observed.begin(), p.observed.end(), field) != p.observed.end();
}

std::string mark(const InferredProfile &p, std::string_view field) {
  return observed(p, field) ? "  # observed" : "  # default (not observed)";
}

std::string b(bool v) { return v ? "true" : "false"; }

// RFC 2449 6.7: "NEVER" or days, optionally followed by "USER"; the profile
// takes the first.
std::string expire_value(std::string_view e) {
  const auto first = base::trim(e.substr(0, e.find(' ')));
  if (first == "NEVER") return "NEVER";
  if (!first.empty() &&
      std::all_of(first.begin(), first.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::string(first);
  return "";
}

std::string tls_setting(const Report &r) {
  if (r.pop3.implicit_tls) return "implicit";
  if (r.pop3.stls_used) return "stls";
  return "none";
}

// fetchmail's TLS options (6.4): TLS as observed, the certificate checked
// against --ca-file when one was given; without TLS, sslproto '' so that
// fetchmail does not insist on it.
std::string fetchmail_tls(const Report &r) {
  if (!r.pop3.tls) return "  sslproto ''  # the provider offers no TLS\n";
  std::string s = r.pop3.implicit_tls ? "  ssl sslproto 'TLS1.2+'" : "  sslproto 'TLS1.2+'";
  if (r.insecure || (r.pop3.cert_valid && !*r.pop3.cert_valid))
    return s + " no sslcertck  # the certificate did not verify\n";
  s += " sslcertck";
  if (!r.ca_file.empty()) s += " sslcertfile " + fq(r.ca_file);
  return s + "\n";
}

nlohmann::json obs_json(const MessageObservation &m) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto &f : m.envelope_fields) fields.push_back({{"name", f.name}, {"value", f.value}});
  return {{"number", m.number},
          {"uidl", m.uidl},
          {"envelope_fields", fields},
          {"return_path", m.has_return_path ? nlohmann::json(m.return_path) : nlohmann::json()},
          {"message_id", m.message_id},
          {"probe_tag", m.probe_tag},
          {"header_addresses", m.header_addresses},
          {"deviations", m.deviations}};
}

nlohmann::json login_json(const LoginAttempt &a) {
  return {{"result", std::string(to_string(a.result))},
          {"mechanism", a.mechanism},
          {"resp_code", a.resp_code},
          {"text", a.text}};
}

}  // namespace

std::string profile_yaml(const Report &r) {
  const InferredProfile &p = r.profile;
  std::string y;
  y += "# Provider profile inferred by dropcheck probe: replay the scenario "
       "library against the\n"
       "# provider as observed (fake-pop3 --profile FILE). Fields marked "
       "\"default\" rest on no\n"
       "# evidence; check them before trusting the replay.\n";
  y += "version: 1\n";
  y += "name: " + yq(p.name) + "\n";
  y += "description: " + yq(p.description) + "\n";
  y += "stamp:\n";
  y += "  envelope_header: " + yq(p.envelope_header) + mark(p, "stamp.envelope_header") + "\n";
  if (!p.received_by.empty())
    y += "  received_by: " + yq(p.received_by) + mark(p, "stamp.received_by") + "\n";
  if (!p.received_inner_by.empty())
    y += "  received_inner_by: " + yq(p.received_inner_by) + mark(p, "stamp.received_inner_by") +
         "\n";
  y += "  envelope_style: " + p.envelope_style + mark(p, "stamp.envelope_style") + "\n";
  y += "  copy_per_recipient: " + b(p.copy_per_recipient) + mark(p, "stamp.copy_per_recipient") +
       "\n";
  y += "  qmail_prefix: " + b(p.qmail_prefix) + mark(p, "stamp.qmail_prefix") + "\n";
  y += "  return_path: " + b(p.return_path) + mark(p, "stamp.return_path") + "\n";
  const bool dt_header = base::iequals(p.envelope_header, "Delivered-To");
  const std::string dt = dt_header ? "none" : p.delivered_to;
  y += "  delivered_to: " + dt + mark(p, "stamp.delivered_to") + "\n";
  if (dt == "mailbox" && !p.mailbox_address.empty())
    y += "  mailbox_address: " + yq(p.mailbox_address) + "\n";
  y += "pop3:\n";
  y += "  locking: " + p.locking + mark(p, "pop3.locking") + "\n";
  y += fmt::format("  login_delay_s: {}{}\n", p.login_delay_s, mark(p, "pop3.login_delay_s"));
  y += "  advertise_login_delay: " + b(p.advertise_login_delay) +
       mark(p, "pop3.advertise_login_delay") + "\n";
  y += "  apop: " + b(p.apop) + mark(p, "pop3.apop") + "\n";
  y += "  user_pass: " + b(p.user_pass) + mark(p, "pop3.user_pass") + "\n";
  y += "  sasl_plain: " + b(p.sasl_plain) + mark(p, "pop3.sasl_plain") + "\n";
  y += "  stls: " + b(p.stls) + mark(p, "pop3.stls") + "\n";
  y += "  plaintext_without_tls: " + b(p.plaintext_without_tls) +
       mark(p, "pop3.plaintext_without_tls") + "\n";
  y += "  resp_codes: " + b(p.resp_codes) + mark(p, "pop3.resp_codes") + "\n";
  y += "  pipelining: " + b(p.pipelining) + mark(p, "pop3.pipelining") + "\n";
  y += "  expire: " + yq(expire_value(p.expire)) + mark(p, "pop3.expire") + "\n";
  return y;
}

std::string core_config_snippet(const Report &r) {
  const InferredProfile &p = r.profile;
  const Advice a = advise(p);
  std::string y;
  y += "# dropcheck fetch --config: recommended by dropcheck probe\n";
  y += "version: 1\n";
  y += "name: provider\n";
  y += fmt::format("pop3: {{host: {}, port: {}, tls: {}, user: {}, password_file: {}", yq(r.host),
                   r.port, tls_setting(r), yq("CHANGE-ME"),
                   yq(r.password_file.empty() ? "/etc/dropcheck/pw" : r.password_file));
  if (!r.ca_file.empty()) y += ", ca_file: " + yq(r.ca_file);
  if (r.insecure || (r.pop3.cert_valid && !*r.pop3.cert_valid)) y += ", verify_certificate: false";
  if (!r.pop3.tls && r.pop3.apop_offered) y += ", apop: true";
  y += "}\n";
  y += "smtp: {host: 127.0.0.1, port: 25, lmtp: false}\n";
  y += "routing:\n";
  if (a.envelope_header.empty()) {
    y += "  # no envelope header observed: every message goes to the fallback "
         "mailbox\n";
    y += "  envelope: []\n";
  } else if (!a.received_by.empty()) {
    y += "  # no envelope header: the for clause of the MX's own Received line\n";
    y += "  envelope: [{header: Received, by: " + yq(a.received_by) + "}]\n";
  } else {
    y += fmt::format("  envelope: [{{header: {}, occurrence: {}, qmail_prefix: {}}}]\n",
                     a.envelope_header, a.occurrence, b(a.qmail_prefix));
  }
  std::string domains;
  for (const auto &d : p.local_domains) domains += (domains.empty() ? "" : ", ") + d;
  y += "  local_domains: [" + (domains.empty() ? std::string("firma.example") : domains) + "]\n";
  y += "  fallback: postmaster@" +
       (p.local_domains.empty() ? std::string("firma.example") : p.local_domains.front()) + "\n";
  y += "keep: false\n";
  return y;
}

std::string fetchmailrc_snippet(const Report &r) {
  const InferredProfile &p = r.profile;
  const Advice a = advise(p);
  std::string s = "# ~/.fetchmailrc (multidrop), recommended by dropcheck probe\n";
  s += fmt::format("poll {} proto pop3 port {}", r.host, r.port);
  if (!a.received_by.empty()) {
    // fetchmail's default envelope is the Received line; it reads its "for"
    // only when the "by" host is one of the server's names (aka).
    s += " aka " + a.received_by + "  # envelope: the default (Received)";
    if (!p.received_inner_by.empty())
      s += "\n  # the topmost Received line is " + p.received_inner_by +
           "'s: use envelope 1 \"Received\"";
  } else if (!a.envelope_header.empty()) {
    // fetchmail reads one line of the header: the count skips lines from the
    // top.
    s += fmt::format(" envelope {}", fq(a.envelope_header));
    if (a.qmail_prefix && !p.local_domains.empty())
      s += " qvirtual " + fq(p.local_domains.front() + "-");
  } else {
    s += " no envelope  # no envelope header observed: BCC recipients are lost";
  }
  s += "\n";
  if (!p.local_domains.empty()) {
    s += "  localdomains";
    for (const auto &d : p.local_domains) s += " " + d;
    s += "\n";
  }
  s += "  user \"CHANGE-ME\" there with password \"CHANGE-ME\" to * here\n";
  s += "  smtphost 127.0.0.1/25  # the in-house SMTP server\n";
  s += fetchmail_tls(r);
  if (!r.pop3.tls && r.pop3.apop_offered) s += "  auth apop\n";
  if (a.min_poll_interval_s > 0)
    s += fmt::format("  # poll no more often than every {} s (set daemon {} or more)\n",
                     a.min_poll_interval_s, a.min_poll_interval_s);
  if (a.fetchmail_misses_lines)
    s += "  # caution: one copy for all with one line per recipient -- "
         "fetchmail reads only\n"
         "  # one line of the envelope header, the other recipients are "
         "missed\n";
  s += "  # fetchmail does not remove the envelope header before delivery: "
       "every recipient\n"
       "  # can read the BCC list. To avoid it: " +
       std::string(avoidance("fetchmail", "envelope-header-leak")) + "\n";
  return s;
}

std::string to_json(const Report &r) {
  nlohmann::json j;
  j["target"] = r.target;
  j["mode"] = r.mode;
  j["started_at"] = r.started_at;
  j["error"] = r.error;
  j["notes"] = r.notes;
  const Pop3Facts &f = r.pop3;
  j["pop3"] = {
      {"greeting", f.greeting},
      {"implicit_tls", f.implicit_tls},
      {"stls_offered", f.stls_offered},
      {"stls_used", f.stls_used},
      {"tls", f.tls},
      {"certificate_valid", f.cert_valid ? nlohmann::json(*f.cert_valid) : nlohmann::json()},
      {"certificate_error", f.cert_error},
      {"capa", f.capa},
      {"capa_before_tls", f.capa_before_tls},
      {"capa_after_login", f.capa_after_login},
      {"apop_offered", f.apop_offered},
      {"sasl", f.sasl},
      {"login_delay_advertised",
       f.login_delay_advertised ? nlohmann::json(*f.login_delay_advertised) : nlohmann::json()},
      {"expire", f.expire},
      {"login", login_json(f.login)},
      {"concurrent_session", login_json(f.concurrent)},
      {"second_login", login_json(f.second_login)},
      {"messages", f.message_count},
      {"maildrop_octets", f.maildrop_octets},
      {"examined", f.examined},
      {"top", f.top},
      {"uidl", f.uidl},
      {"commands", f.commands}};
  nlohmann::json msgs = nlohmann::json::array();
  for (const auto &m : r.messages) msgs.push_back(obs_json(m));
  j["messages"] = msgs;
  if (r.active) {
    nlohmann::json cases = nlohmann::json::array();
    for (const auto &c : r.active->cases) {
      nlohmann::json copies = nlohmann::json::array();
      for (const auto &m : c.copies) copies.push_back(obs_json(m));
      cases.push_back({{"id", c.id},
                       {"description", c.description},
                       {"mail_from", c.mail_from},
                       {"rcpts", c.rcpts},
                       {"bcc", c.bcc},
                       {"message_id", c.message_id},
                       {"smtp_code", c.smtp_code},
                       {"smtp_text", c.smtp_text},
                       {"copies", copies}});
    }
    j["active"] = {{"tag", r.active->tag},           {"polls", r.active->polls},
                   {"complete", r.active->complete}, {"deleted", r.active->deleted},
                   {"error", r.active->error},       {"cases", cases}};
  }
  nlohmann::json answers = nlohmann::json::array();
  for (const auto &a : r.answers)
    answers.push_back({{"id", a.id},
                       {"question", a.question},
                       {"verdict", std::string(to_string(a.verdict))},
                       {"answer", a.answer},
                       {"evidence", a.evidence}});
  j["answers"] = answers;
  j["profile_yaml"] = profile_yaml(r);
  j["core_config"] = core_config_snippet(r);
  j["fetchmailrc"] = fetchmailrc_snippet(r);
  return j.dump(2) + "\n";
}

std::string to_text(const Report &r) {
  std::string t;
  t += fmt::format("dropcheck probe of {} ({} mode), {}\n", r.target, r.mode, r.started_at);
  const Pop3Facts &f = r.pop3;
  t += fmt::format("  messages {} ({} octets), examined {} with TOP n 0; {} commands\n",
                   f.message_count, f.maildrop_octets, f.examined, f.commands);
  if (r.active)
    t += fmt::format("  test mails tag {}: {} poll(s), {} deleted\n", r.active->tag,
                     r.active->polls, r.active->deleted);
  if (!r.error.empty()) t += "  STOPPED: " + r.error + "\n";
  for (const auto &n : r.notes) t += "  note: " + n + "\n";
  t += "\n";
  for (const auto &a : r.answers) {
    t += fmt::format("{:<8} {:<18} {}\n", to_string(a.verdict), a.id, a.answer);
    if (!a.evidence.empty()) t += fmt::format("{:<27} {}\n", "", a.evidence);
  }
  t += "\n--- inferred provider profile (fake-pop3 --profile FILE) ---\n" + profile_yaml(r);
  t += "\n--- dropcheck core configuration ---\n" + core_config_snippet(r);
  t += "\n--- fetchmailrc ---\n" + fetchmailrc_snippet(r);
  return t;
}

std::string to_html(const Report &r) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
       "charset=\"utf-8\"><title>dropcheck probe "
       "of " +
       html_escape(r.target) +
       "</title>\n<style>body{font-family:sans-serif;margin:2em}"
       "table{border-collapse:collapse}td,th{border:1px solid "
       "#999;padding:.3em .6em;"
       "vertical-align:top;text-align:left}.pass{background:#cfc}.warn{"
       "background:#ffc}"
       ".fail{background:#fcc}.unknown{background:#eee}pre{background:#f4f4f4;"
       "padding:1em}"
       "</style></head><body>\n";
  h += "<h1>dropcheck probe of " + html_escape(r.target) + "</h1>\n";
  h += "<p>" + html_escape(r.mode) + " mode, " + html_escape(r.started_at) + "; " +
       std::to_string(r.pop3.message_count) + " messages, " + std::to_string(r.pop3.examined) +
       " examined.</p>\n";
  if (!r.error.empty()) h += "<p class=\"fail\">Stopped: " + html_escape(r.error) + "</p>\n";
  for (const auto &n : r.notes) h += "<p>" + html_escape(n) + "</p>\n";
  h += "<table><tr><th>verdict</th><th>question</th><th>answer</"
       "th><th>evidence</th></tr>\n";
  for (const auto &a : r.answers)
    h += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                     to_string(a.verdict), to_string(a.verdict), html_escape(a.question),
                     html_escape(a.answer), html_escape(a.evidence));
  h += "</table>\n";
  h += "<h2>Inferred provider profile</h2>\n<pre>" + html_escape(profile_yaml(r)) + "</pre>\n";
  h += "<h2>dropcheck core configuration</h2>\n<pre>" + html_escape(core_config_snippet(r)) +
       "</pre>\n";
  h += "<h2>fetchmailrc</h2>\n<pre>" + html_escape(fetchmailrc_snippet(r)) + "</pre>\n";
  h += "</body></html>\n";
  return h;
}

}  // namespace dropcheck::probe
