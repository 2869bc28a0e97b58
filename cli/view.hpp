#pragma once
// dropcheck view DIR: the page and REST API (web/) over a kept run (run --keep DIR), with the
// analyzer's findings of each scenario that has a truth.json.
#include <filesystem>
#include <string>
#include <vector>

#include "web/store.hpp"

namespace dropcheck::cli {

// One journal to show: DIR/journal.jsonl (a fake-smtp --journal DIR), DIR/journal/ with
// DIR/truth.json (one scenario of run --keep), or each DIR/NAME/journal/ (the whole --keep DIR).
struct ViewSource {
  std::string name;               // the scenario ("" for a bare journal)
  std::filesystem::path journal;  // the directory holding journal.jsonl
  std::filesystem::path truth;    // empty: no truth.json, no findings
};
std::vector<ViewSource> find_view_sources(const std::filesystem::path& dir);

// Reads every source into `store` (findings by journal record; the others as notes). Throws
// std::runtime_error naming the file on a journal or truth that does not load.
void load_view(const std::vector<ViewSource>& sources, web::Store& store);

struct ViewFlags {
  std::string dir;
  std::string listen;  // serve the page and API here
  std::string out;     // or write the page to this file
  bool allow_non_loopback = false;
};
// Exit 0, or 2 (usage, a directory without journals, a file that does not load, cannot listen).
int cmd_view(const ViewFlags& flags);

}  // namespace dropcheck::cli
