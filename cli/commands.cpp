// Helpers the subcommands share: writing a report, the scenario list and its shard, the
// fetchers and providers a matrix or replay names.
#include "commands.hpp"

#include <fmt/format.h>

#include <fstream>

#include "base/strings.hpp"
#include "fake_pop3/profile.hpp"
#include "runner/external.hpp"
#include "runner/matrix.hpp"

namespace dropcheck::cli {

namespace {

// "--shard i/n" (1-based): this process plays scenarios i, i+n, i+2n, ... of the sorted list.
bool parse_shard(const std::string& text, std::size_t& index, std::size_t& count) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) return false;
  try {
    std::size_t used = 0;
    index = std::stoul(text.substr(0, slash), &used);
    if (used != slash) return false;
    count = std::stoul(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) return false;
  } catch (const std::exception&) {
    return false;
  }
  return count >= 1 && index >= 1 && index <= count;
}

}  // namespace

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  return static_cast<bool>(out);
}

// Keeps this shard's scenarios ("--shard I/N": I, I+N, I+2N, ... of the list); false (message
// printed) when `shard` is malformed. Empty: all.
bool apply_shard(const std::string& shard, std::vector<runner::Scenario>& scenarios) {
  if (shard.empty()) return true;
  std::size_t index = 0, count = 0;
  if (!parse_shard(shard, index, count)) {
    fmt::print(stderr, "dropcheck: --shard {}: expected I/N with 1 <= I <= N\n", shard);
    return false;
  }
  std::vector<runner::Scenario> mine;
  for (std::size_t k = index - 1; k < scenarios.size(); k += count)
    mine.push_back(std::move(scenarios[k]));
  scenarios = std::move(mine);
  return true;
}

// The built-in library when no files are given, else the files; false (message printed) on the
// first file that does not load.
bool load_scenarios(const std::vector<std::string>& files, std::vector<runner::Scenario>& out) {
  if (files.empty()) {
    out = runner::builtin_scenarios();
    return true;
  }
  for (const auto& f : files) {
    auto s = runner::load_scenario_file(f);
    if (!s.ok()) {
      fmt::print(stderr, "dropcheck: {}\n", s.error().message);
      return false;
    }
    out.push_back(std::move(s).value());
  }
  return true;
}

std::vector<std::string> csv(const std::string& text) {
  std::vector<std::string> out;
  for (auto f : base::split(text, ',')) {
    std::string name(base::trim(f));
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

// Fetchers and providers a matrix or replay names: 0 when usable, else the exit code (message
// printed).
int check_cell_inputs(const std::vector<std::string>& fetchers, const std::string& command,
                      const std::vector<std::string>& providers, std::string_view provider_flag) {
  if (auto ok = runner::check_matrix_fetchers(fetchers, command); !ok.ok()) {
    fmt::print(stderr, "dropcheck: --fetchers: {}\n", ok.error().message);
    return kExitUsage;
  }
  for (const auto& p : providers)
    if (auto prof = fake_pop3::load_profile(p); !prof.ok()) {
      fmt::print(stderr, "dropcheck: {}: {}\n", provider_flag, prof.error().message);
      return kExitUsage;
    }
  for (const auto& f : fetchers) {
    std::string missing;
    if (runner::is_external_fetcher(f) && !runner::external_fetcher_available(f, &missing)) {
      fmt::print(stderr, "dropcheck: fetcher {} is not installed (missing: {})\n", f, missing);
      return kExitUnavailable;
    }
  }
  return 0;
}

}  // namespace dropcheck::cli
