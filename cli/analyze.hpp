#pragma once
// dropcheck analyze --journal DIR --truth FILE: re-judge a recorded run offline. Needs only
// journal/ (the reader) and analyzer/: the journal streams from disk one record at a time.
#include <string>

namespace dropcheck::cli {

// Exit 0: no finding, 1: findings, 2: a journal or truth that does not load.
int cmd_analyze(const std::string& journal_dir, const std::string& truth_path, bool json);

}  // namespace dropcheck::cli
