// libFuzzer target: any bytes through trace_reader::from_bytes, with the
// format named by HOTSHARD_FUZZ_FORMAT ("auto": detection, compression
// included). A trace_error is the only accepted failure; every record must
// have a valid op. Records are read up to a bound, since an ARC line may ask
// for 2^60 blocks (streamed, but slow).
#include <hotshard/workloads/trace.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#ifndef HOTSHARD_FUZZ_FORMAT
#error "HOTSHARD_FUZZ_FORMAT must name a trace format or auto"
#endif

namespace wl = hotshard::workloads;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string name = HOTSHARD_FUZZ_FORMAT;
  static const std::optional<wl::trace_format> format = wl::trace_format_from_name(name);
  if (name != "auto" && !format) std::abort();
  try {
    auto reader = wl::trace_reader::from_bytes(std::string(reinterpret_cast<const char*>(data), size), "fuzz",
                                               format, 61);
    std::vector<wl::operation> chunk;
    for (std::size_t records = 0; records < (std::size_t{1} << 16) && reader.next_chunk(chunk);
         records += chunk.size()) {
      if (chunk.size() > 61) std::abort();
      for (const auto& op : chunk)
        if (static_cast<unsigned>(op.op) >= wl::op_kind_count) std::abort();
    }
  } catch (const wl::trace_error& e) {
    // Every message names where: a line or a byte offset (or the file, for I/O).
    const std::string what = e.what();
    if (what.find("line ") == std::string::npos && what.find("byte offset ") == std::string::npos) std::abort();
  }
  return 0;
}
