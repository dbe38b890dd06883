#include "cli/signals.hpp"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace wasimancer::cli {

namespace {

sigset_t stop_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}

}  // namespace

void block_stop_signals() {
  sigset_t s = stop_signals();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int wait_stop_signal() {
  sigset_t s = stop_signals();
  int sig = 0;
  while (sigwait(&s, &sig) != 0) {
  }
  return sig;
}

void die_on_stop_signal() {
  named_thread("wm-signals", [] {
    int sig = wait_stop_signal();
    log().debug("signal {} received: exiting", sig);
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_UNBLOCK, &only, nullptr);  // this thread only: the signal below lands here
    pthread_kill(pthread_self(), sig);
  }).detach();
}

}  // namespace wasimancer::cli
