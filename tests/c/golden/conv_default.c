#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <math.h>
#ifdef ALT_MVEC
#pragma omp declare simd simdlen(16) notinbranch
float expf(float);
#pragma omp declare simd simdlen(16) notinbranch
float logf(float);
#pragma omp declare simd simdlen(16) notinbranch
float tanhf(float);
#pragma omp declare simd simdlen(8) notinbranch
double exp(double);
#pragma omp declare simd simdlen(8) notinbranch
double log(double);
#pragma omp declare simd simdlen(8) notinbranch
double tanh(double);
#endif
static inline int32_t alt_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

int alt_main_(const float* restrict X_, const float* restrict W_, float* restrict conv_, float* restrict conv_pad_) {
  #pragma omp parallel for
  for (int32_t i0_i1_i2_fused_ = 0; i0_i1_i2_fused_ < 130; ++i0_i1_i2_fused_) {
    #pragma omp simd
    for (int32_t i3_ = 0; i3_ < 15; ++i3_) {
      conv_pad_[i3_ + i0_i1_i2_fused_ * 15] = (i0_i1_i2_fused_ % 13 >= 1 && i0_i1_i2_fused_ % 13 < 12 && i3_ >= 1 && i3_ < 14 ? X_[i0_i1_i2_fused_ % 13 * 13 + i3_ + i0_i1_i2_fused_ / 13 * 143 - 14] : 0.0f);
    }
  }
  #pragma omp parallel for
  for (int32_t n_o_y_outer_fused_ = 0; n_o_y_outer_fused_ < 36; ++n_o_y_outer_fused_) {
    float conv_local_[52] __attribute__((aligned(64)));
    for (int32_t n_c_ = 0; n_c_ < 1; ++n_c_) {
      for (int32_t o_c_ = 0; o_c_ < 1; ++o_c_) {
        #pragma GCC unroll 4
        for (int32_t y_c_ = 0; y_c_ < alt_min_i32(4, 11 - n_o_y_outer_fused_ % 3 * 4); ++y_c_) {
          #pragma omp simd
          for (int32_t x_c_ = 0; x_c_ < 13; ++x_c_) {
            conv_local_[n_c_ * 52 + o_c_ * 52 + y_c_ * 13 + x_c_] = 0.0f;
          }
        }
        for (int32_t rc_ = 0; rc_ < 5; ++rc_) {
          for (int32_t ry_ = 0; ry_ < 3; ++ry_) {
            for (int32_t rx_ = 0; rx_ < 3; ++rx_) {
              #pragma GCC unroll 4
              for (int32_t y_c_ = 0; y_c_ < alt_min_i32(4, 11 - n_o_y_outer_fused_ % 3 * 4); ++y_c_) {
                #pragma omp simd
                for (int32_t x_c_ = 0; x_c_ < 13; ++x_c_) {
                  conv_local_[n_c_ * 52 + o_c_ * 52 + y_c_ * 13 + x_c_] = conv_local_[n_c_ * 52 + o_c_ * 52 + y_c_ * 13 + x_c_] + conv_pad_[n_o_y_outer_fused_ / 3 / 6 * 975 + n_c_ * 975 + rc_ * 195 + n_o_y_outer_fused_ % 3 * 60 + y_c_ * 15 + ry_ * 15 + x_c_ + rx_] * W_[n_o_y_outer_fused_ / 3 % 6 * 45 + o_c_ * 45 + rc_ * 9 + ry_ * 3 + rx_];
                }
              }
            }
          }
        }
      }
    }
    for (int32_t y_inner_ = 0; y_inner_ < alt_min_i32(4, 11 - n_o_y_outer_fused_ % 3 * 4); ++y_inner_) {
      #pragma omp simd
      for (int32_t x_ = 0; x_ < 13; ++x_) {
        conv_[n_o_y_outer_fused_ % 3 * 52 + y_inner_ * 13 + x_ + n_o_y_outer_fused_ / 3 * 143] = conv_local_[y_inner_ * 13 + x_];
      }
    }
  }
  return 0;
}
