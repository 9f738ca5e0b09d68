// Tool and machine identification for the results header.
#include <hotshard/harness/results.hpp>
#include <hotshard/version.hpp>

#include <sys/utsname.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <thread>

#include "hotshard_git_commit.hpp"  // HOTSHARD_GIT_COMMIT, written at build time (cmake/git_commit.cmake)
#ifndef HOTSHARD_GIT_COMMIT
#define HOTSHARD_GIT_COMMIT "unknown"
#endif
#ifndef HOTSHARD_BUILD_TYPE
#define HOTSHARD_BUILD_TYPE "unknown"
#endif

namespace hotshard::harness {

namespace {
std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\"");
  const auto e = s.find_last_not_of(" \t\"\r\n");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

std::string value_after(const std::string& path, const std::string& prefix, char sep) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto at = line.find(sep);
    if (at != std::string::npos) return trim(line.substr(at + 1));
  }
  return {};
}
}  // namespace

tool_info this_tool() {
  tool_info t;
  t.version = std::string(hotshard::version_string);
  t.git = HOTSHARD_GIT_COMMIT;
  t.build = HOTSHARD_BUILD_TYPE;
  return t;
}

machine_info this_machine(std::string allocator) {
  machine_info m;
  m.cpu = value_after("/proc/cpuinfo", "model name", ':');
  if (m.cpu.empty()) m.cpu = "unknown";
  m.cores = std::thread::hardware_concurrency();
  std::string os = value_after("/etc/os-release", "PRETTY_NAME", '=');
  struct utsname u {};
  if (uname(&u) == 0) {
    const std::string kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
    os = os.empty() ? kernel : os + " (" + kernel + ")";
  }
  m.os = os.empty() ? "unknown" : os;
#if defined(__clang__)
  m.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.compiler = "gcc " __VERSION__;
#else
  m.compiler = "unknown";
#endif
  m.allocator = std::move(allocator);
  return m;
}

std::string utc_now_iso8601() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace hotshard::harness
