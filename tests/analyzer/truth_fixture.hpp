#pragma once
// The analyzer tests' scenario truth: one message m1 from alice@sender.example to two local
// recipients of firma.example (analyzer_test.cpp, journal_input_test.cpp).
#include <string>

#include "analyzer/analyzer.hpp"

namespace dropcheck::analyzer::fixture {

inline Truth one_message_truth(const std::string& raw) {
  Truth t;
  t.scenario = "t";
  t.local_domains = {"firma.example"};
  t.messages.push_back(
      {"m1", "alice@sender.example", {"a@firma.example", "b@firma.example"}, raw, 0, ""});
  return t;
}

}  // namespace dropcheck::analyzer::fixture
