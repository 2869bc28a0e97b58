// The flow picture of a scenario result (runner/pictures.hpp): each message
// from its sender through the provider's copies and the fetcher to the local
// mailboxes, one edge per delivery.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "base/strings.hpp"
#include "runner/pictures.hpp"
#include "svg.hpp"

namespace dropcheck::runner {

namespace {

using analyzer::Finding;
using svg::add_unique;
using svg::duration;
using svg::esc;
using svg::joined;
using svg::label;
using svg::rect;
using svg::text;
using Findings = std::vector<const Finding*>;

std::map<std::string, Findings> findings_by_message(const analyzer::Report& r) {
  std::map<std::string, Findings> out;
  for (const auto& f : r.findings)
    if (!f.message.empty()) out[f.message].push_back(&f);
  return out;
}

// Findings of a whole copy (every mailbox it reached) and of one recipient of
// it.
bool is_copy_finding(const std::string& type) {
  return type == "bcc-header-leak" || type == "message-altered" || type == "sender-rewritten";
}

// Marks an accepted delivery with the analyzer's findings about it: a duplicate
// from the copy the analyzer named on, a leak on every edge of the copy that
// carried it (not the edge of the disclosed address itself), a misroute or
// delay on its own edge.
void mark_edge(FlowEdge& e, const Finding& f) {
  const bool same_box = base::iequals(f.recipient, e.mailbox);
  if (f.type == "duplicate" && same_box && f.journal_seq >= 0 && e.journal_seq >= f.journal_seq) {
    e.duplicate = true;
    add_unique(e.findings, f.type);
  }
  if (f.journal_seq != e.journal_seq) return;
  if (f.type == "envelope-header-leak") {
    if (same_box) return;
    e.leak = true;
    e.leaked = f.recipient;
  } else if (f.type == "bcc-header-leak") {
    e.leak = true;
  } else if (!is_copy_finding(f.type) && !f.recipient.empty() && !same_box) {
    return;
  }
  if (f.type == "misroute") e.misroute = true;
  add_unique(e.findings, f.type);
}

FlowEdge delivery_edge(const analyzer::AcceptedDelivery& d, const Findings& fs,
                       std::int64_t origin) {
  FlowEdge e;
  e.mailbox = d.mailbox;
  e.journal_seq = static_cast<std::int64_t>(d.journal_seq);
  e.ms = d.virtual_ms - origin;
  for (const Finding* f : fs) mark_edge(e, *f);
  return e;
}

// Keeps at most kMaxLaneEdges edges to at most kMaxLaneMailboxes mailboxes,
// marked edges first, in their original order; counts the rest (and `unlisted`
// deliveries the report did not list).
void select_edges(FlowLane& l, std::vector<FlowEdge> all, std::size_t unlisted) {
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_partition(order.begin(), order.end(), [&](std::size_t i) { return all[i].marked(); });
  std::vector<std::size_t> keep;
  std::set<std::string> boxes, every_box;
  for (const std::size_t i : order) {
    every_box.insert(all[i].mailbox);
    if (keep.size() >= kMaxLaneEdges) continue;
    if (!boxes.count(all[i].mailbox) && boxes.size() >= kMaxLaneMailboxes) continue;
    boxes.insert(all[i].mailbox);
    keep.push_back(i);
  }
  std::sort(keep.begin(), keep.end());
  for (const std::size_t i : keep) {
    add_unique(l.mailboxes, all[i].mailbox);
    l.edges.push_back(std::move(all[i]));
  }
  l.omitted_edges = all.size() - keep.size() + unlisted;
  l.omitted_mailboxes = every_box.size() - boxes.size();
}

FlowLane lane_of(const analyzer::MessageStats& m, const MessageFact* fact, const Findings& fs,
                 std::int64_t origin) {
  FlowLane l;
  l.message = m.id;
  if (fact) {
    l.from = fact->from;
    l.from_known = true;
    l.copies = fact->copies;
    l.copies_total = fact->copies_total;
  }
  std::vector<FlowEdge> all;
  for (const auto& d : m.deliveries) all.push_back(delivery_edge(d, fs, origin));
  for (const Finding* f : fs) {
    add_unique(l.findings, f->type);
    if (f->type == "lost-message") l.lost_message = true;
    if (f->type != "lost-recipient") continue;
    FlowEdge e;
    e.mailbox = base::to_lower(f->recipient);
    e.lost = true;
    e.findings = {f->type};
    all.push_back(std::move(e));
    ++l.lost;
  }
  l.deliveries = std::max(m.deliveries_total, m.deliveries.size());
  select_edges(l, std::move(all), l.deliveries - m.deliveries.size());
  return l;
}

std::vector<std::string> unattached_findings(const analyzer::Report& r) {
  std::map<std::string, std::size_t> n;
  for (const auto& f : r.findings)
    if (f.message.empty()) ++n[f.type];
  std::vector<std::string> out;
  for (const auto& [type, count] : n) out.push_back(fmt::format("{} x{}", type, count));
  return out;
}

}  // namespace

FlowModel flow_model(const ScenarioResult& r) {
  FlowModel m;
  const auto by_message = findings_by_message(r.report);
  std::map<std::string, const MessageFact*> facts;
  for (const auto& f : r.facts.messages) facts.emplace(f.id, &f);
  const auto& msgs = r.report.messages;
  m.messages_total = msgs.size();
  std::vector<std::size_t> order(msgs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_partition(order.begin(), order.end(),
                        [&](std::size_t i) { return by_message.count(msgs[i].id) > 0; });
  std::vector<bool> drawn(msgs.size(), false);
  for (std::size_t k = 0; k < order.size() && k < kMaxFlowMessages; ++k) drawn[order[k]] = true;
  static const Findings kNone;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto f = by_message.find(msgs[i].id);
    const Findings& fs = f == by_message.end() ? kNone : f->second;
    if (drawn[i]) {
      const auto fact = facts.find(msgs[i].id);
      m.lanes.push_back(
          lane_of(msgs[i], fact == facts.end() ? nullptr : fact->second, fs, r.facts.origin_ms));
      continue;
    }
    ++m.omitted_messages;
    m.omitted_deliveries += std::max(msgs[i].deliveries_total, msgs[i].deliveries.size());
    m.omitted_lost += static_cast<std::size_t>(std::count_if(
        fs.begin(), fs.end(), [](const Finding* x) { return x->type == "lost-recipient"; }));
  }
  m.unattached = unattached_findings(r.report);
  return m;
}

namespace {

// Flow picture geometry (px): columns message | provider copies | fetcher |
// mailboxes.
constexpr int kFlowWidth = 900;
constexpr int kRow = 24;
constexpr int kPad = 8;
constexpr int kMsgX = 8, kMsgW = 200;
constexpr int kCopyX = 250, kCopyW = 130;
constexpr int kFetchX = 420, kFetchW = 70;
constexpr int kBoxX = 650, kBoxW = 240;
constexpr int kFlowHeader = 46;

// The vertical centre of item i of n in a lane of `rows` rows starting at y0.
int slot_y(int y0, std::size_t rows, std::size_t n, std::size_t i) {
  return y0 + kPad + static_cast<int>((rows - n) * kRow / 2 + i * kRow) + kRow / 2;
}

std::size_t copy_slots(const FlowLane& l) {
  return l.copies.size() + (l.copies_total > l.copies.size() ? 1 : 0);
}
std::size_t box_slots(const FlowLane& l) {
  return l.mailboxes.size() + (l.omitted_mailboxes > 0 || l.omitted_edges > 0 ? 1 : 0);
}
std::size_t lane_rows(const FlowLane& l) {
  return std::max({std::size_t{1}, copy_slots(l), box_slots(l)});
}

std::string link(std::string_view cls, int x1, int y1, int x2, int y2) {
  const int mx = (x1 + x2) / 2;
  return fmt::format(
      "<path class=\"link {}\" d=\"M{} {} C{} {} {} {} {} {}\" "
      "fill=\"none\" stroke=\"#999\" "
      "stroke-width=\"1\"/>",
      cls, x1, y1, mx, y1, mx, y2, x2, y2);
}

std::string message_node(const FlowLane& l, int mid) {
  const bool lost = l.lost_message;
  std::string out = fmt::format("<g class=\"node message{}\" data-message=\"{}\">",
                                lost ? " lost" : "", esc(l.message));
  out += rect("box", kMsgX, mid - 17, kMsgW, 34, lost ? "#f6c0c0" : "#eef3fb",
              lost ? "#c00" : "#6b8cc7");
  out += text(kMsgX + 6, mid - 3, label(l.message, 30), "label id", "font-weight=\"600\"");
  const std::string from = l.from_known ? (l.from.empty() ? "<>" : l.from) : "?";
  out += text(kMsgX + 6, mid + 11, "from " + label(from, 28));
  out += "<title>" + esc(l.message) +
         (lost ? " (lost: deleted at the provider, delivered nowhere)" : "") + "</title></g>";
  return out;
}

std::string copy_nodes(const FlowLane& l, int y0, int mid, std::size_t rows) {
  std::string out;
  const std::size_t n = copy_slots(l);
  if (n == 0) return link("fetched", kMsgX + kMsgW, mid, kFetchX, mid);
  for (std::size_t i = 0; i < n; ++i) {
    const int y = slot_y(y0, rows, n, i);
    out += link("stored", kMsgX + kMsgW, mid, kCopyX, y);
    out += link("fetched", kCopyX + kCopyW, y, kFetchX, mid);
    if (i == l.copies.size()) {
      out += text(kCopyX + 6, y + 4, fmt::format("+{} more copies", l.copies_total - i), "summary");
      continue;
    }
    const ProviderCopyFact& c = l.copies[i];
    out += fmt::format("<g class=\"node copy{}\" data-seq=\"{}\" data-box=\"{}\">",
                       c.deleted ? " deleted" : "", c.seq, esc(c.box));
    out += rect("box", kCopyX, y - 9, kCopyW, 18, c.deleted ? "#f2f2f2" : "#fff7e0", "#b08a2e");
    const std::string what = fmt::format("copy #{}{}", c.seq, c.deleted ? " deleted" : "");
    out += text(kCopyX + 5, y + 4, esc(what) + (c.box.empty() ? "" : " " + label(c.box, 10)));
    out += "<title>provider copy #" + std::to_string(c.seq) +
           (c.box.empty() ? "" : " in box " + esc(c.box)) +
           (c.deleted ? ", deleted by the fetcher (DELE, QUIT)" : ", still at the provider") +
           "</title></g>";
  }
  return out;
}

std::string mailbox_nodes(const FlowLane& l, int y0, std::size_t rows) {
  std::string out;
  const std::size_t n = box_slots(l);
  for (std::size_t i = 0; i < l.mailboxes.size(); ++i) {
    const int y = slot_y(y0, rows, n, i);
    out += fmt::format("<g class=\"node mailbox\" data-mailbox=\"{}\">", esc(l.mailboxes[i]));
    out += rect("box", kBoxX, y - 9, kBoxW, 18, "#eef7ee", "#4d8f4d");
    out += text(kBoxX + 6, y + 4, label(l.mailboxes[i], 36));
    out += "<title>" + esc(l.mailboxes[i]) + "</title></g>";
  }
  if (n > l.mailboxes.size())
    out += text(kBoxX + 6, slot_y(y0, rows, n, n - 1) + 4,
                fmt::format("+{} more edge(s) to {} more mailbox(es) not drawn", l.omitted_edges,
                            l.omitted_mailboxes),
                "summary", fmt::format("data-omitted-edges=\"{}\"", l.omitted_edges));
  return out;
}

struct EdgeStyle {
  std::string_view stroke;
  double width;
  std::string_view dash;
  std::string tag;  // short label on the picture ("" none)
};

EdgeStyle edge_style(const FlowEdge& e) {
  if (e.lost) return {"#d00000", 1.8, "6 4", "lost"};
  if (e.leak) return {"#d00000", 3.5, "", e.leaked.empty() ? "leak: Bcc" : "leak: " + e.leaked};
  if (e.misroute) return {"#7a3db8", 2.5, "", "misroute"};
  if (e.duplicate) return {"#d98200", 2.5, "", "duplicate"};
  if (!e.findings.empty()) return {"#b06000", 1.8, "", e.findings.front()};
  return {"#2a7d2a", 1.5, "", ""};
}

std::string edge_classes(const FlowEdge& e) {
  std::string c = e.lost ? "edge lost" : "edge delivered";
  if (e.duplicate) c += " duplicate";
  if (e.misroute) c += " misroute";
  if (e.leak) c += " leak";
  return c;
}

std::string edge_title(const FlowLane& l, const FlowEdge& e) {
  if (e.lost) return esc(l.message + " never reached " + e.mailbox + " (lost recipient)");
  std::string t = fmt::format("{}: journal #{} at +{}, delivered to {}", l.message, e.journal_seq,
                              duration(e.ms), e.mailbox);
  if (!e.findings.empty()) t += " — " + joined(e.findings, ", ");
  if (!e.leaked.empty()) t += " (shows " + e.leaked + ")";
  return esc(t);
}

// Edge k of those to one mailbox bends by k * 12 px, alternating sides, so each
// is visible.
std::string edge_path(const FlowLane& l, const FlowEdge& e, int mid, int y, int bend) {
  const EdgeStyle s = edge_style(e);
  const int x1 = kFetchX + kFetchW, x2 = kBoxX;
  std::string out = fmt::format("<path class=\"{}\" data-message=\"{}\" data-mailbox=\"{}\"",
                                edge_classes(e), esc(l.message), esc(e.mailbox));
  if (!e.lost) out += fmt::format(" data-seq=\"{}\" data-ms=\"{}\"", e.journal_seq, e.ms);
  if (!e.findings.empty()) out += " data-findings=\"" + esc(joined(e.findings, ",")) + "\"";
  if (!e.leaked.empty()) out += " data-leaked=\"" + esc(e.leaked) + "\"";
  out += fmt::format(
      " d=\"M{} {} C{} {} {} {} {} {}\" fill=\"none\" stroke=\"{}\" "
      "stroke-width=\"{}\"{}>",
      x1, mid, x1 + 70, mid + bend, x2 - 70, y + bend, x2, y, s.stroke, s.width,
      s.dash.empty() ? "" : fmt::format(" stroke-dasharray=\"{}\"", s.dash));
  out += "<title>" + edge_title(l, e) + "</title></path>";
  if (!s.tag.empty())
    out += text(x2 - 150, y + bend - 3, label(s.tag, 26), "edge-label",
                fmt::format("fill=\"{}\"", s.stroke));
  return out;
}

std::string edges_svg(const FlowLane& l, int y0, int mid, std::size_t rows) {
  std::string out;
  const std::size_t n = box_slots(l);
  std::map<std::string, int> seen;
  for (const auto& e : l.edges) {
    const auto at = std::find(l.mailboxes.begin(), l.mailboxes.end(), e.mailbox);
    const std::size_t i = static_cast<std::size_t>(at - l.mailboxes.begin());
    const int k = seen[e.mailbox]++;
    const int bend = (k % 2 == 0 ? 1 : -1) * ((k + 1) / 2) * 12;
    out += edge_path(l, e, mid, slot_y(y0, rows, n, i), bend);
  }
  return out;
}

std::string lane_svg(const FlowLane& l, int y0, int& height) {
  const std::size_t rows = lane_rows(l);
  height = static_cast<int>(rows) * kRow + 2 * kPad;
  const int mid = y0 + height / 2;
  std::string out = fmt::format(
      "<g class=\"lane{}\" data-message=\"{}\" "
      "data-deliveries=\"{}\" data-lost=\"{}\" "
      "data-omitted-edges=\"{}\">",
      l.lost_message ? " lost-message" : "", esc(l.message), l.deliveries, l.lost, l.omitted_edges);
  out += fmt::format("<line x1=\"0\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>", y0,
                     kFlowWidth, y0);
  out += copy_nodes(l, y0, mid, rows);
  out += edges_svg(l, y0, mid, rows);
  out += message_node(l, mid);
  out += "<g class=\"node fetcher\">" +
         rect("box", kFetchX, mid - 12, kFetchW, 24, "#e8e8e8", "#666") +
         text(kFetchX + 12, mid + 4, "fetcher") + "</g>";
  out += mailbox_nodes(l, y0, rows);
  return out + "</g>\n";
}

std::string flow_legend() {
  std::string out = "<g class=\"legend\">";
  out += text(kMsgX, 14, "message (envelope sender)", "heading", "font-weight=\"600\"");
  out += text(kCopyX, 14, "provider copies", "heading", "font-weight=\"600\"");
  out += text(kFetchX, 14, "fetcher", "heading", "font-weight=\"600\"");
  out += text(kBoxX, 14, "local mailboxes", "heading", "font-weight=\"600\"");
  int x = kMsgX;
  for (const auto& [name, stroke, dash] :
       {std::tuple{"delivered", "#2a7d2a", ""}, std::tuple{"lost", "#d00000", "6 4"},
        std::tuple{"duplicate", "#d98200", ""}, std::tuple{"leak", "#d00000", ""},
        std::tuple{"misroute", "#7a3db8", ""}}) {
    out += fmt::format(
        "<line x1=\"{}\" y1=\"32\" x2=\"{}\" y2=\"32\" stroke=\"{}\" "
        "stroke-width=\"{}\"{}/>",
        x, x + 26, stroke, std::string_view(name) == "leak" ? 3.5 : 2.0,
        *dash ? fmt::format(" stroke-dasharray=\"{}\"", dash) : "");
    out += text(x + 30, 36, name);
    x += 110;
  }
  return out + "</g>";
}

}  // namespace

std::string flow_svg(const FlowModel& m) {
  std::string body;
  int y = kFlowHeader;
  std::size_t drawn = 0;
  for (const auto& l : m.lanes) {
    int h = 0;
    body += lane_svg(l, y, h);
    y += h;
    drawn += static_cast<std::size_t>(
        std::count_if(l.edges.begin(), l.edges.end(), [](const FlowEdge& e) { return !e.lost; }));
  }
  if (m.lanes.empty()) {
    body += text(kMsgX, y + 16, "no messages");
    y += 24;
  }
  if (m.omitted_messages > 0) {
    body += text(
        kMsgX, y + 16,
        fmt::format("{} more message(s) not drawn: {} delivery(ies), {} lost "
                    "recipient(s) (limit {} messages per picture)",
                    m.omitted_messages, m.omitted_deliveries, m.omitted_lost, kMaxFlowMessages),
        "summary", fmt::format("data-omitted-messages=\"{}\"", m.omitted_messages));
    y += 24;
  }
  if (!m.unattached.empty()) {
    body += text(kMsgX, y + 16, esc("findings naming no message: " + joined(m.unattached, ", ")),
                 "summary unattached");
    y += 24;
  }
  return svg::open("flow", kFlowWidth, y + kPad,
                   fmt::format("data-messages=\"{}\" data-lanes=\"{}\" "
                               "data-drawn-deliveries=\"{}\"",
                               m.messages_total, m.lanes.size(), drawn)) +
         "<title>What happened to each message</title>" + flow_legend() + body + "</svg>";
}

}  // namespace dropcheck::runner
