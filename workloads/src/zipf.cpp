#include <hotshard/workloads/zipf.hpp>

#include <stdexcept>
#include <string>

namespace hotshard::workloads {

zipf_generator::zipf_generator(std::uint64_t n, double s)
    : n_(n),
      n_double_(static_cast<double>(n)),
      s_(s),
      one_minus_s_(1.0 - s),
      inverse_one_minus_s_(s == 1.0 ? 0.0 : 1.0 / (1.0 - s)),
      use_log1p_(true) {
  if (n == 0 || n > max_n) {
    throw std::invalid_argument("zipf_generator: n must be in [1, 2^63] (got " + std::to_string(n) + ")");
  }
  if (!(s > 0.0) || !std::isfinite(s)) {
    throw std::invalid_argument("zipf_generator: s must be a finite number > 0 (got " + std::to_string(s) + ")");
  }
  // Hörmann & Derflinger: the hat area starts at H(1.5) - h(1) so rank 1 owns
  // exactly its own mass, and the squeeze accepts without evaluating H when the
  // rounded point is close enough to x.
  h_integral_x1_ = h_integral(1.5) - 1.0;
  h_integral_n_ = h_integral(n_double_ + 0.5);
  // h_integral_inverse sees t = (1-s) y for y between the two ends of the hat
  // area; log(1 + t) is as exact as log1p and cheaper unless s is near 1 or t small.
  const double t_low = std::abs(one_minus_s_ * h_integral_x1_), t_high = std::abs(one_minus_s_ * h_integral_n_);
  use_log1p_ = std::abs(one_minus_s_) < 1e-3 || (t_low <= 0.5 && t_high <= 0.5);
  squeeze_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  for (std::size_t k = 1; k <= table_size; ++k) {
    const auto kd = static_cast<double>(k);
    accept_[k - 1] = h_integral(kd + 0.5) - h(kd);
  }
}

}  // namespace hotshard::workloads
