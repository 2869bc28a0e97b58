#pragma once
// Umbrella header: policy, journal, receiver.
#include "fake_smtp/journal.hpp"
#include "fake_smtp/policy.hpp"
#include "fake_smtp/receiver.hpp"
