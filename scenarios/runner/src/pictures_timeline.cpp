// The timeline picture of a scenario result (runner/pictures.hpp): cycles on
// the virtual clock, overlapping invocations, POP3 sessions as the provider saw
// them, scheduled events, drift, and per message the latency from injection to
// each recipient's first delivery.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "runner/pictures.hpp"
#include "svg.hpp"

namespace dropcheck::runner {

namespace {

using svg::duration;
using svg::esc;
using svg::label;
using svg::text;

constexpr int kWidth = 900;
constexpr int kLeft = 150;  // row labels
constexpr int kPlot = kWidth - kLeft - 50;
constexpr int kAxis = 22;  // axis labels at the top
constexpr int kCycleRow = 30;
constexpr int kStackStep = 11;
constexpr int kMessageRow = 18;
constexpr int kLineRow = 15;

struct Scale {
  std::int64_t span = 1;
  int x(std::int64_t t) const {
    const std::int64_t c = std::clamp<std::int64_t>(t, 0, span);
    return kLeft + static_cast<int>(c * kPlot / span);
  }
};

Scale scale_of(const ScenarioResult& r) {
  std::int64_t span = std::max<std::int64_t>(r.facts.end_ms, 1);
  for (const auto& c : r.facts.cycles) span = std::max(span, c.start_ms + 1);
  return {span};
}

// Gridlines and "+N min" labels: the first step giving at most ten ticks.
std::string axis(const Scale& s, int height) {
  static constexpr std::int64_t kSteps[] = {1'000,      10'000,     60'000,     300'000,
                                            900'000,    1'800'000,  3'600'000,  10'800'000,
                                            21'600'000, 43'200'000, 86'400'000, 604'800'000};
  std::int64_t step = kSteps[std::size(kSteps) - 1];
  for (const auto k : kSteps)
    if (s.span / k <= 10) {
      step = k;
      break;
    }
  std::string out = "<g class=\"axis\">";
  for (std::int64_t t = 0; t <= s.span; t += step) {
    out += fmt::format(
        "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
        "stroke=\"#e4e4e4\"/>",
        s.x(t), kAxis - 6, height);
    out += text(s.x(t) - 8, kAxis - 9, fmt::format("+{}", duration(t)), "tick");
  }
  return out + "</g>";
}

std::string row_label(int y, std::string_view escaped) {
  return text(6, y, escaped, "row-label", "font-weight=\"600\"");
}

// Green: fetched; grey: the fetcher's own lock kept it out; amber: it waited (LOGIN-DELAY,
// in use) or held mail back; red: it failed (credentials, POP3, SMTP, state).
std::string outcome_fill(std::string_view outcome) {
  if (outcome == "ok") return "#5a9e5a";
  if (outcome.empty() || outcome == "locked") return "#9a9a9a";
  if (outcome == "login-delay" || outcome == "in-use" || outcome == "held") return "#e69500";
  return "#c0504d";
}

std::string cycle_mark(const CycleFact& c, const Scale& s, int y, bool labelled, bool wide) {
  const int x = s.x(c.start_ms);
  std::string out = fmt::format(
      "<g class=\"cycle{}\" data-cycle=\"{}\" "
      "data-ms=\"{}\" data-outcome=\"{}\">",
      c.overlapping ? " overlapping" : "", c.cycle, c.start_ms, esc(c.outcome));
  out += fmt::format(
      "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" "
      "stroke-width=\"2\"/>",
      x, y, y + 18, outcome_fill(c.outcome));
  if (labelled)
    out += text(x + 3, y + 13,
                esc(wide && c.outcome != "ok" ? fmt::format("c{} {}", c.cycle, c.outcome)
                                              : fmt::format("c{}", c.cycle)),
                "cycle-label");
  out += fmt::format("<title>cycle {}{} at +{}: {}</title></g>", c.cycle,
                     c.overlapping ? " (overlapping invocation)" : "", duration(c.start_ms),
                     esc(c.outcome.empty() ? "did not finish" : c.outcome));
  return out;
}

std::string cycles_svg(const ScenarioResult& r, const Scale& s, int& y) {
  const auto& cs = r.facts.cycles;
  const bool overlap =
      std::any_of(cs.begin(), cs.end(), [](const CycleFact& c) { return c.overlapping; });
  const bool labelled = cs.size() * 22 <= static_cast<std::size_t>(kPlot);
  const bool wide = cs.size() * 90 <= static_cast<std::size_t>(kPlot);  // room for the outcome
  std::string out = row_label(y + 13, "cycles");
  if (overlap) out += row_label(y + kCycleRow + 13, "overlapping");
  for (const auto& c : cs)
    out += cycle_mark(c, s, c.overlapping ? y + kCycleRow : y, labelled, wide);
  if (r.facts.cycles_total > cs.size())
    out +=
        text(kLeft, y + 28,
             fmt::format("{} more cycles not drawn", r.facts.cycles_total - cs.size()), "summary");
  y += kCycleRow * (overlap ? 2 : 1);
  return out;
}

std::string session_class(const SessionFact& f) {
  const std::string& a = f.auth_result;
  std::string c = a == "ok"                ? "ok"
                  : a == "login-delay"     ? "login-delay"
                  : a == "bad-credentials" ? "refused"
                  : a == "in-use"          ? "in-use"
                  : a.empty()              ? "no-login"
                                           : "other";
  if (f.end_reason.rfind("fault", 0) == 0) c += " fault";
  return c;
}

std::string session_fill(const SessionFact& f) {
  const std::string& a = f.auth_result;
  return a == "ok"                ? "#5a9e5a"
         : a == "login-delay"     ? "#e69500"
         : a == "bad-credentials" ? "#c00000"
         : a.empty()              ? "#cccccc"
                                  : "#888888";
}

std::string session_mark(const SessionFact& f, int x, int y) {
  const bool fault = f.end_reason.rfind("fault", 0) == 0;
  std::string out = fmt::format(
      "<rect class=\"session {}\" data-session=\"{}\" data-user=\"{}\" "
      "data-auth=\"{}\" "
      "data-ms=\"{}\" x=\"{}\" y=\"{}\" width=\"9\" height=\"9\" fill=\"{}\" "
      "stroke=\"{}\" "
      "stroke-width=\"{}\">",
      session_class(f), f.id, esc(f.user), esc(f.auth_result), f.start_ms, x, y, session_fill(f),
      fault ? "#000" : "#fff", fault ? 2 : 1);
  out += fmt::format(
      "<title>POP3 session #{} at +{}, user {}: login {}; {} retrieved, {} "
      "deleted; end {}</title></rect>",
      f.id, duration(f.start_ms), esc(f.user.empty() ? "?" : f.user),
      esc(f.auth_result.empty() ? "none" : f.auth_result), f.retrieved, f.deleted,
      esc(f.end_reason));
  return out;
}

// LOGIN-DELAY: after each successful login the provider refuses logins for
// login_delay_ms.
std::string login_delay_windows(const ScenarioResult& r, const Scale& s, int y, int h) {
  if (r.facts.login_delay_ms <= 0) return {};
  std::string out;
  std::size_t n = 0;
  for (const auto& f : r.facts.sessions) {
    if (f.auth_result != "ok" || n++ >= kMaxTimelineSessions) continue;
    const int x1 = s.x(f.start_ms), x2 = s.x(f.start_ms + r.facts.login_delay_ms);
    out += fmt::format(
        "<rect class=\"login-delay-window\" data-session=\"{}\" "
        "x=\"{}\" y=\"{}\" width=\"{}\" "
        "height=\"{}\" fill=\"#fbe3bd\" "
        "opacity=\"0.6\"><title>LOGIN-DELAY {} after session "
        "#{}</title></rect>",
        f.id, x1, y, std::max(1, x2 - x1), h, duration(r.facts.login_delay_ms), f.id);
  }
  return out;
}

std::string sessions_svg(const ScenarioResult& r, const Scale& s, int& y) {
  std::map<std::int64_t, std::vector<const SessionFact*>> at;
  std::size_t drawn = 0;
  for (const auto& f : r.facts.sessions)
    if (drawn++ < kMaxTimelineSessions) at[f.start_ms].push_back(&f);
  std::size_t stack = 1;
  for (const auto& [t, v] : at) stack = std::max(stack, std::min(v.size(), kMaxSessionStack + 1));
  const int h = static_cast<int>(stack) * kStackStep + 8;
  std::string out = row_label(y + 13, "POP3 sessions") + login_delay_windows(r, s, y, h);
  for (const auto& [t, v] : at)
    for (std::size_t k = 0; k < v.size(); ++k) {
      const int yk = y + 4 + static_cast<int>(k) * kStackStep;
      if (k == kMaxSessionStack) {
        out += text(s.x(t) - 2, yk + 9, fmt::format("+{}", v.size() - k), "summary");
        break;
      }
      out += session_mark(*v[k], s.x(t) - 4, yk);
    }
  y += h;
  const std::size_t hidden = r.facts.sessions_total - std::min(drawn, kMaxTimelineSessions);
  if (hidden > 0) {
    out += text(kLeft, y + 11, fmt::format("{} more POP3 sessions not drawn", hidden), "summary");
    y += kLineRow;
  }
  return out;
}

std::string event_mark(const ScheduledEvent& e, const Scale& s, int y, int stagger) {
  const int x = s.x(e.at_ms);
  std::string out = fmt::format("<g class=\"event fired\" data-event=\"{}\" data-ms=\"{}\">",
                                esc(e.name), e.at_ms);
  out += fmt::format("<polygon points=\"{},{} {},{} {},{} {},{}\" fill=\"#7a3db8\"/>", x, y + 2,
                     x + 6, y + 8, x, y + 14, x - 6, y + 8);
  out += text(x + 8, y + 12 + stagger, label(e.name, 40), "event-label");
  return out + "<title>" + esc(e.name + " fired: " + e.detail) + "</title></g>";
}

// Timed events as marks (labels stacked when several fired at one instant), the others (not
// fired, or when unknown) as lines of text below.
std::string events_svg(const ScenarioResult& r, const Scale& s, int& y) {
  if (r.events.empty()) return {};
  std::string out = row_label(y + 13, "events"), lines;
  std::map<std::int64_t, int> at;  // marks so far per instant
  int stacked = 0, extra = 0;
  for (const auto& e : r.events) {
    if (e.fired && e.at_ms >= 0) {
      const int k = at[e.at_ms]++;
      stacked = std::max(stacked, k);
      out += event_mark(e, s, y, k * 12);
      continue;
    }
    extra += kLineRow;
    lines += fmt::format("<g class=\"event {}\" data-event=\"{}\">",
                         e.fired ? "fired" : "not-fired", esc(e.name)) +
             text(kLeft, y + 24 + stacked * 12 + extra,
                  esc(fmt::format("{} {}: {}", e.name, e.fired ? "fired" : "NOT FIRED", e.detail)),
                  "event-label", e.fired ? "" : "fill=\"#c00000\"") +
             "</g>";
  }
  y += 30 + stacked * 12 + extra;
  return out + lines;
}

// The drift: a dashed line through every row at the start of the drift cycle.
std::string drift_svg(const ScenarioResult& r, const Scale& s, int height) {
  if (r.facts.drift_cycle <= 0) return {};
  for (const auto& c : r.facts.cycles) {
    if (c.cycle != r.facts.drift_cycle) continue;
    const int x = s.x(c.start_ms);
    return fmt::format("<g class=\"drift\" data-cycle=\"{}\" data-profile=\"{}\">", c.cycle,
                       esc(r.facts.drift_profile)) +
           fmt::format(
               "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
               "stroke=\"#7a3db8\" "
               "stroke-dasharray=\"5 3\"/>",
               x - 3, kAxis, height) +
           text(x - 1, height - 4, "drift \xE2\x86\x92 " + label(r.facts.drift_profile, 30),
                "drift-label", "fill=\"#7a3db8\"") +
           "</g>";
  }
  return {};
}

// Messages with findings first, at most kMaxTimelineMessages, in report order.
std::vector<std::size_t> latency_messages(const analyzer::Report& rep) {
  std::set<std::string> named;
  for (const auto& f : rep.findings)
    if (!f.message.empty()) named.insert(f.message);
  std::vector<std::size_t> order(rep.messages.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_partition(order.begin(), order.end(),
                        [&](std::size_t i) { return named.count(rep.messages[i].id) > 0; });
  order.resize(std::min(order.size(), kMaxTimelineMessages));
  std::sort(order.begin(), order.end());
  return order;
}

std::string latency_dots(const analyzer::MessageStats& m, std::int64_t inj, std::int64_t budget,
                         const Scale& s, int y) {
  std::string out;
  std::size_t n = 0;
  for (const auto& [rcpt, lat] : m.recipient_latency_ms) {
    if (n++ >= kMaxLatencyDots) break;
    const bool late = budget > 0 && lat > budget;
    out += fmt::format(
        "<circle class=\"latency{}\" data-message=\"{}\" "
        "data-mailbox=\"{}\" data-ms=\"{}\" "
        "cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"><title>{} "
        "reached {} after {}</title></circle>",
        late ? " delayed" : "", esc(m.id), esc(rcpt), lat, s.x(inj + lat), y,
        late ? "#e69500" : "#2f5f9e", esc(m.id), esc(rcpt), duration(lat));
  }
  return out;
}

std::string latency_row(const analyzer::MessageStats& m, std::size_t lost, const RunFacts& facts,
                        const Scale& s, int y) {
  const std::int64_t inj = m.injected_ms - facts.origin_ms;
  const int x0 = s.x(inj), mid = y + kMessageRow / 2;
  std::int64_t last = -1;
  for (const auto& [rcpt, lat] : m.recipient_latency_ms) last = std::max(last, lat);
  std::string out = fmt::format("<g class=\"latency-row\" data-message=\"{}\" data-lost=\"{}\">",
                                esc(m.id), lost);
  out += text(12, mid + 4, label(m.id, 22), "row-label");
  if (lost > 0)
    out += fmt::format(
        "<line class=\"latency lost\" data-message=\"{}\" data-lost=\"{}\" "
        "x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d00000\" "
        "stroke-dasharray=\"6 4\"/>",
        esc(m.id), lost, x0, mid, s.x(s.span), mid);
  if (last >= 0)
    out += fmt::format(
        "<line class=\"latency-bar\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
        "stroke=\"#9db7dc\" stroke-width=\"3\"/>",
        x0, mid, s.x(inj + last), mid);
  if (facts.latency_budget_ms > 0)
    out += fmt::format(
        "<line class=\"budget\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
        "stroke=\"#e69500\" stroke-width=\"2\"/>",
        s.x(inj + facts.latency_budget_ms), mid - 6, mid + 6);
  out += latency_dots(m, inj, facts.latency_budget_ms, s, mid);
  out += fmt::format(
      "<circle class=\"inject\" data-message=\"{}\" data-ms=\"{}\" cx=\"{}\" "
      "cy=\"{}\" r=\"3.5\" fill=\"#fff\" stroke=\"#333\"><title>{} injected at "
      "+{}</title></circle>",
      esc(m.id), inj, x0, mid, esc(m.id), duration(inj));
  const std::string note = (last >= 0 ? duration(last) : std::string("not delivered")) +
                           (lost > 0 ? fmt::format(", {} lost", lost) : "");
  out += text(std::min(s.x(inj + std::max<std::int64_t>(last, 0)) + 8, kWidth - 110), mid + 4,
              esc(note), "latency-label");
  return out + "</g>";
}

std::string latency_rows_svg(const ScenarioResult& r, const Scale& s, int& y) {
  const auto& rep = r.report;
  if (rep.messages.empty()) return {};
  std::map<std::string, std::size_t> lost;
  for (const auto& f : rep.findings)
    if (f.type == "lost-recipient") ++lost[f.message];
  std::string out = row_label(y + 13, "latency (injection \xE2\x86\x92 delivery)");
  y += kLineRow + 4;
  const auto chosen = latency_messages(rep);
  for (const std::size_t i : chosen) {
    const auto& m = rep.messages[i];
    if (m.injected_ms < 0) continue;
    const auto l = lost.find(m.id);
    out += latency_row(m, l == lost.end() ? 0 : l->second, r.facts, s, y);
    y += kMessageRow;
  }
  if (rep.messages.size() > chosen.size()) {
    out += text(12, y + 12,
                fmt::format("{} more message(s) not drawn (limit {})",
                            rep.messages.size() - chosen.size(), kMaxTimelineMessages),
                "summary");
    y += kLineRow;
  }
  return out;
}

}  // namespace

std::string timeline_svg(const ScenarioResult& r) {
  const Scale s = scale_of(r);
  int y = kAxis + 4;
  std::string body = cycles_svg(r, s, y);
  body += sessions_svg(r, s, y);
  body += events_svg(r, s, y);
  body += latency_rows_svg(r, s, y);
  y += r.facts.drift_cycle > 0 ? 20 : 6;  // the drift's label below the rows
  return svg::open("timeline", kWidth, y,
                   fmt::format("data-span-ms=\"{}\" data-cycles=\"{}\" data-sessions=\"{}\"",
                               s.span, r.facts.cycles_total, r.facts.sessions_total)) +
         "<title>Cycles, POP3 sessions, events and latency on the virtual "
         "clock</title>" +
         axis(s, y) + body + drift_svg(r, s, y) + "</svg>";
}

}  // namespace dropcheck::runner
