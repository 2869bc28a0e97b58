#include "web/render.hpp"

#include <fmt/format.h>

#include <ctime>

#include "base/strings.hpp"
#include "page_assets.hpp"

namespace dropcheck::web {
namespace {

std::string code_class(int code) {
  return code >= 200 && code < 300 ? "code2" : code >= 400 && code < 500 ? "code4" : "code5";
}

std::string code_span(int code) {
  if (code == 0) return "-";
  return fmt::format("<span class=\"{}\">{}</span>", code_class(code), code);
}

std::string css_class(Mark m, bool finding) {
  std::string c = m == Mark::leak ? "leak" : m == Mark::stamped ? "stamped" : "";
  if (finding) c += c.empty() ? "finding" : " finding";
  return c;
}

std::string class_attr(const std::string& c) { return c.empty() ? "" : " class=\"" + c + "\""; }

std::string rcpt_list(const Item& item) {
  std::string out;
  for (const auto& r : item.rec.rcpts)
    out += fmt::format("<span class=\"rcpt\">{} {}</span> ", html(r.address), code_span(r.code));
  return out;
}

std::string from_text(const fake_smtp::TransactionRecord& rec) {
  return rec.mail_from_null ? "&lt;&gt;" : html(rec.mail_from);
}

std::string findings_html(const std::vector<Annotation>& findings) {
  if (findings.empty()) return {};
  std::string out = "<ul class=\"findings\">";
  for (const auto& f : findings)
    out += fmt::format("<li class=\"finding\"><b>{}</b> {} &mdash; {}</li>", html(f.type),
                       html(f.recipient), html(f.evidence));
  return out + "</ul>";
}

std::string envelope_table(const Item& item) {
  const auto& r = item.rec;
  std::string rows = fmt::format("<tr><th>MAIL FROM</th><td>{} {}</td></tr>", from_text(r),
                                 code_span(r.mail_code));
  for (const auto& rc : r.rcpts)
    rows += fmt::format("<tr><th>RCPT TO</th><td>{} {} {}{}</td></tr>", html(rc.address),
                        code_span(rc.code), html(rc.reply),
                        rc.mailbox.empty() ? "" : " &rarr; " + html(rc.mailbox));
  rows += fmt::format("<tr><th>DATA</th><td>{} {}</td></tr>", code_span(r.data_code),
                      html(r.data_reply));
  rows += fmt::format(
      "<tr><th>session</th><td>{} from {} {} {}{}</td></tr>"
      "<tr><th>time</th><td>{}</td></tr><tr><th>size</th><td>{} octets</td></tr>"
      "<tr><th>end</th><td>{}</td></tr><tr><th>SHA-256</th><td>{}</td></tr>",
      html(r.session_id), html(r.client), html(r.helo_verb), html(r.helo), r.tls ? " (TLS)" : "",
      iso_time(r.real_ms), r.size, html(r.end_reason), html(r.sha256));
  return "<table class=\"envelope\">" + rows + "</table>";
}

std::string headers_table(const Item& item) {
  std::string rows;
  for (const auto& f : item.headers)
    rows += fmt::format("<tr{}><th>{}</th><td>{}</td></tr>",
                        class_attr(css_class(mark_of(item, f), finding_points_at(item, f))),
                        html(f.name), html(f.value));
  return "<table class=\"headers\">" + rows + "</table>";
}

// The line classes of the raw view: the marks of the header fields, line by line.
std::vector<std::string> line_classes(const Item& item) {
  std::vector<std::string> out;
  for (const auto& f : item.headers) {
    const std::string c = css_class(mark_of(item, f), finding_points_at(item, f));
    if (c.empty()) continue;
    if (out.size() < f.first_line + f.lines) out.resize(f.first_line + f.lines);
    for (std::size_t i = 0; i < f.lines; ++i) out[f.first_line + i] = c;
  }
  return out;
}

std::string raw_view(const Item& item) {
  const std::string_view msg = item.rec.message;
  const std::string_view shown = msg.substr(0, kPageMaxRawOctets);
  const auto classes = line_classes(item);
  std::string out = "<pre class=\"raw\">";
  std::size_t pos = 0, line = 0;
  while (pos < shown.size()) {
    const std::size_t lf = shown.find('\n', pos);
    const std::size_t end = lf == std::string_view::npos ? shown.size() : lf + 1;
    const std::string c = line < classes.size() ? classes[line] : "";
    std::string_view text = shown.substr(pos, end - pos);
    const bool crlf = text.size() >= 2 && text.substr(text.size() - 2) == "\r\n";
    if (crlf) text.remove_suffix(2);  // CRLF shown as a line break (the raw link has the bytes)
    if (!c.empty()) out += "<span class=\"" + c + "\">";
    out += html(text);
    if (crlf) out += '\n';
    if (!c.empty()) out += "</span>";
    pos = end;
    ++line;
  }
  out += "</pre>";
  if (shown.size() < msg.size())
    out +=
        fmt::format("<p class=\"note\">first {} of {} octets shown</p>", shown.size(), msg.size());
  return out;
}

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::string page_head(const PageOptions& options) {
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">"
      "<meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>"
      "<style>{}</style></head>\n",
      page_csp(), html(options.title), assets::kStyle);
}

std::string notes_html(const Store& store) {
  std::string out;
  for (const auto& n : store.notes())
    if (!n.findings.empty())
      out += fmt::format("<h3>{}: findings without a journal record</h3>{}", html(n.source),
                         findings_html(n.findings));
  return out;
}

}  // namespace

Mark mark_of(const Item& item, const HeaderField& field) {
  if (!is_disclosing_header(field.name)) return Mark::none;
  return item.rec.accepted ? Mark::leak : Mark::stamped;
}

bool finding_points_at(const Item& item, const HeaderField& field) {
  const std::string line = field.name + ": " + field.value;
  for (const auto& f : item.findings) {
    if (f.evidence.find(line) != std::string::npos) return true;
    if (is_disclosing_header(field.name) && !f.recipient.empty() &&
        icontains(field.value, f.recipient))
      return true;
  }
  return false;
}

std::string iso_time(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (unix_ms <= 0 || gmtime_r(&secs, &tm) == nullptr) return "-";
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, unix_ms % 1000);
}

std::string page_csp() {
  static const std::string csp =
      "default-src 'none'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
      "base-uri 'none'; form-action 'none'; script-src 'sha256-" +
      base::base64_encode(hex_to_bytes(base::sha256_hex(assets::kScript))) + "'";
  return csp;
}

// The disclosing headers that reached a recipient, named in the list row.
std::string leak_tags(const Item& item) {
  std::string out;
  for (const auto& f : item.headers)
    if (mark_of(item, f) == Mark::leak)
      out += fmt::format(" <span class=\"tag leak\">{}</span>", html(f.name));
  return out;
}

std::string render_row(const Item& item) {
  const std::string label = item.source.empty() ? "" : html(item.source) + " ";
  return fmt::format(
      "<tr data-search=\"{}\" data-id=\"{}\"><td><a href=\"#m-{}\">{}#{}</a>{}</td><td>{}</td>"
      "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
      html(item.search_key), item.id, item.id, label, item.rec.seq,
      item.findings.empty() ? ""
                            : fmt::format(" <span class=\"badge\">{}</span>", item.findings.size()),
      iso_time(item.rec.real_ms), from_text(item.rec), rcpt_list(item),
      code_span(item.rec.data_code), item.rec.size, html(item.subject) + leak_tags(item),
      html(item.rec.session_id));
}

std::string render_detail(const Item& item, const PageOptions& options) {
  const std::string raw_link =
      options.live ? fmt::format(" <a href=\"api/messages/{}/raw\">raw</a>", item.id) : "";
  return fmt::format(
      "<section class=\"msg\" id=\"m-{}\"><h2>{}#{} {}{}</h2><p>Message-ID: {}</p>{}"
      "<div class=\"cols\"><div><h3>Envelope</h3>{}</div><div><h3>Headers</h3>{}</div></div>"
      "<h3>Raw</h3>{}</section>\n",
      item.id, item.source.empty() ? "" : html(item.source) + " ", item.rec.seq, html(item.subject),
      raw_link, html(item.message_id), findings_html(item.findings), envelope_table(item),
      headers_table(item), raw_view(item));
}

std::string render_page(const Store& store, const PageOptions& options) {
  std::size_t total = 0;
  const auto items = store.query("", 0, kPageMaxItems, total);
  std::string rows, details;
  for (const Item* i : items) {
    rows += render_row(*i) + "\n";
    details += render_detail(*i, options);
  }
  const std::string more =
      total > items.size()
          ? fmt::format("<p class=\"note\">newest {} shown; the REST API has all</p>", items.size())
          : "";
  return page_head(options) +
         fmt::format(
             "<body data-live=\"{}\"><header><h1>{}</h1><span><b id=\"count\">{}</b> "
             "transactions, <span id=\"shown\">{}</span> shown</span>"
             "<input id=\"q\" type=\"search\" placeholder=\"address or Message-ID\"></header>"
             "<main><p class=\"note\">In a message: <span class=\"leak\">red</span> an "
             "envelope header (Envelope-To, X-Envelope-To, X-Original-To, Delivered-To, ...) or "
             "Bcc in a copy that reached a recipient, <span class=\"stamped\">yellow</span> in a "
             "copy that reached none, <span class=\"finding\">outlined</span> the line a "
             "finding points at.</p>{}{}<table "
             "id=\"list\"><thead><tr><th>#</th><th>time</th><th>MAIL FROM</th>"
             "<th>RCPT (reply)</th><th>DATA</th><th>size</th><th>subject</th><th>session</th>"
             "</tr></thead><tbody>\n{}</tbody></table><div id=\"details\">{}</div></main>"
             "<script>{}</script></body></html>\n",
             options.live ? "1" : "0", html(options.title), total, items.size(), notes_html(store),
             more, rows, details, assets::kScript);
}

}  // namespace dropcheck::web
