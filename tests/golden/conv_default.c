#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <math.h>

int alt_main(const float* restrict X, const float* restrict W, float* restrict conv) {
  float* restrict conv_pad = (float*)aligned_alloc(64, 7808);
  if (!conv_pad) return 1;
  #pragma omp parallel for
  for (int32_t i0_i1_i2_fused = 0; i0_i1_i2_fused < 130; ++i0_i1_i2_fused) {
    #pragma omp simd
    for (int32_t i3 = 0; i3 < 15; ++i3) {
      conv_pad[i0_i1_i2_fused / 13 / 5 * 975 + i0_i1_i2_fused / 13 % 5 * 195 + i0_i1_i2_fused % 13 * 15 + i3] = (i0_i1_i2_fused % 13 >= 1 && i0_i1_i2_fused % 13 < 12 && i3 >= 1 && i3 < 14 ? X[i0_i1_i2_fused / 13 / 5 * 715 + i0_i1_i2_fused / 13 % 5 * 143 + i0_i1_i2_fused % 13 * 13 + i3 - 14] : 0.0f);
    }
  }
  #pragma omp parallel for
  for (int32_t n_o_y_fused = 0; n_o_y_fused < 132; ++n_o_y_fused) {
    #pragma omp simd
    for (int32_t x = 0; x < 13; ++x) {
      conv[n_o_y_fused / 11 / 6 * 858 + n_o_y_fused / 11 % 6 * 143 + n_o_y_fused % 11 * 13 + x] = 0.0f;
    }
    for (int32_t rc = 0; rc < 5; ++rc) {
      for (int32_t ry = 0; ry < 3; ++ry) {
        for (int32_t rx = 0; rx < 3; ++rx) {
          #pragma omp simd
          for (int32_t x = 0; x < 13; ++x) {
            conv[n_o_y_fused / 11 / 6 * 858 + n_o_y_fused / 11 % 6 * 143 + n_o_y_fused % 11 * 13 + x] = conv[n_o_y_fused / 11 / 6 * 858 + n_o_y_fused / 11 % 6 * 143 + n_o_y_fused % 11 * 13 + x] + conv_pad[n_o_y_fused / 11 / 6 * 975 + rc * 195 + n_o_y_fused % 11 * 15 + ry * 15 + x + rx] * W[n_o_y_fused / 11 % 6 * 45 + rc * 9 + ry * 3 + rx];
          }
        }
      }
    }
  }
  free(conv_pad);
  return 0;
}
