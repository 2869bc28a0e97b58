#pragma once
// Pictures in the HTML reports (issue 18): SVG written by the program, inline
// in one page that works offline (no script library, no CDN). Pure functions,
// data -> markup:
//   flow      per scenario result, what happened to each message: sender ->
//   provider copies ->
//             fetcher -> local mailboxes, one edge per accepted delivery
//             (analyzer MessageStats::deliveries), lost recipients as dashed
//             edges to the mailbox that should have got them, duplicates, leaks
//             and misroutes marked on their edges;
//   timeline  cycles on the virtual clock, overlapping invocations, POP3
//   sessions (LOGIN-DELAY
//             refusals, refused logins), scheduled events firing, drift, and
//             per message the latency from injection to each recipient's first
//             delivery;
//   heat map  the matrix, one square per cell, linked to the cell's evidence
//   and pictures.
// Every element that carries meaning has a stable class and data- attributes;
// the selectors a browser test counts on are listed in scenarios/README.md
// ("Pictures in the HTML reports"). Everything from a scenario file (ids,
// addresses, names) is XML-escaped; every picture is bounded by the named
// limits below and summarises the rest in a line of text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runner/matrix.hpp"
#include "runner/runner.hpp"

namespace dropcheck::runner {

// Message lanes in a flow picture and rows in a timeline: messages with
// findings first.
inline constexpr std::size_t kMaxFlowMessages = 30;
inline constexpr std::size_t kMaxTimelineMessages = 30;
// Per lane: edges and mailbox nodes drawn (marked edges first).
inline constexpr std::size_t kMaxLaneEdges = 24;
inline constexpr std::size_t kMaxLaneMailboxes = 10;
// POP3 sessions drawn in a timeline, and stacked at one instant (the rest as
// "+N").
inline constexpr std::size_t kMaxTimelineSessions = 300;
inline constexpr std::size_t kMaxSessionStack = 8;
// Latency dots per message row (one per recipient).
inline constexpr std::size_t kMaxLatencyDots = 16;
// Heat map squares; cells beyond are counted, not drawn.
inline constexpr std::size_t kMaxHeatMapCells = 20'000;
// A page's pictures: at most this many cells pictured and this many octets of
// pictures (failing cells first); the rest say "picture omitted". A 400-cell
// matrix stays a page of megabytes.
inline constexpr std::size_t kMaxPicturedCells = 400;
inline constexpr std::size_t kMaxPicturePageBytes = std::size_t{12} << 20;

// One edge of a flow picture: an accepted delivery (journal_seq >= 0) or a lost
// recipient.
struct FlowEdge {
  std::string mailbox;
  std::int64_t journal_seq = -1;  // -1: lost, no delivery
  std::int64_t ms = -1;           // virtual ms from the run's start (end of DATA)
  bool lost = false;
  bool duplicate = false;
  bool misroute = false;
  bool leak = false;
  std::string leaked;                 // the address the copy disclosed (envelope-header-leak)
  std::vector<std::string> findings;  // finding types attached to this edge
  bool marked() const { return lost || duplicate || misroute || leak || !findings.empty(); }
};

// One message: its node, the provider's copies, the fetcher, the mailboxes and
// the edges drawn.
struct FlowLane {
  std::string message;
  std::string from;         // envelope sender ("" = <>)
  bool from_known = false;  // the runner's facts named it
  std::vector<ProviderCopyFact> copies;
  std::size_t copies_total = 0;
  std::vector<std::string> mailboxes;  // nodes drawn, in order of their first edge
  std::vector<FlowEdge> edges;         // drawn
  std::size_t deliveries = 0;          // all accepted deliveries of the message
  std::size_t lost = 0;                // all lost recipients
  std::size_t omitted_edges = 0;
  std::size_t omitted_mailboxes = 0;
  bool lost_message = false;
  std::vector<std::string> findings;  // every finding type naming the message
};

struct FlowModel {
  std::vector<FlowLane> lanes;  // in the report's message order
  std::size_t messages_total = 0;
  std::size_t omitted_messages = 0;
  std::size_t omitted_deliveries = 0;
  std::size_t omitted_lost = 0;
  std::vector<std::string> unattached;  // "unknown-message x2": findings naming no message
};

// The flow of a result, bounded (kMaxFlowMessages, kMaxLaneEdges,
// kMaxLaneMailboxes).
FlowModel flow_model(const ScenarioResult& result);
std::string flow_svg(const FlowModel& model);
std::string timeline_svg(const ScenarioResult& result);
// Both pictures of one result, each in a <figure> ("" pictures for a result not
// played).
std::string result_pictures_html(const ScenarioResult& result);
// result_pictures_html while `budget` (octets) lasts, then a line saying it was
// omitted; `budget` is decreased by what was written.
std::string result_pictures_html(const ScenarioResult& result, std::size_t& budget);

// The matrix as a heat map: one <a href="#cell-N"> square per cell (N: index in
// m.cells). Regression view: coloured by status (clean, expected, fail, ...). Evaluation
// view: by the worst finding charged to the fetcher, documented or not (class and
// data-severity: critical, major, moderate, minor, clean; " fail" added and outlined dark red
// when not as documented), as the table's cells.
std::string heat_map_svg(const MatrixResult& m, MatrixView view = MatrixView::regression);
// Per cell a <details id="cell-N"> with its evidence and pictures, and the few
// lines of inline script that open the details a heat-map square links to.
std::string matrix_pictures_html(const MatrixResult& m, MatrixView view = MatrixView::regression);

// "clean", "expected", "fail", "error", "notexercised": the table's and the
// heat map's class.
std::string_view cell_status_class(const ScenarioResult& result);

}  // namespace dropcheck::runner
