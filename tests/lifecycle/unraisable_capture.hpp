// test.support.catch_unraisable_exception for lifecycle tests: every unraisable report made
// while it lives, instead of stderr.
#pragma once

#include <vector>

#include "lifecycle/unraisable.hpp"

struct unraisable_capture {
  std::vector<lifecycle::unraisable_event> events;
  lifecycle::unraisable_hook_binding previous{};
  unraisable_capture() {
    previous = lifecycle::set_unraisable_hook(
        [](const lifecycle::unraisable_event& e, void* self) {
          static_cast<unraisable_capture*>(self)->events.push_back(e);
        },
        this);
  }
  ~unraisable_capture() { lifecycle::set_unraisable_hook(previous.hook, previous.context); }
  unraisable_capture(const unraisable_capture&) = delete;
  unraisable_capture& operator=(const unraisable_capture&) = delete;
};
