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
  for (int32_t n_o_y_outer_fused = 0; n_o_y_outer_fused < 36; ++n_o_y_outer_fused) {
    float conv_local[52] __attribute__((aligned(64)));
    for (int32_t n_c = 0; n_c < 1; ++n_c) {
      for (int32_t o_c = 0; o_c < 1; ++o_c) {
        #pragma GCC unroll 4
        for (int32_t y_c = 0; y_c < alt_min_i32(4, 11 - n_o_y_outer_fused % 3 * 4); ++y_c) {
          #pragma omp simd
          for (int32_t x_c = 0; x_c < 13; ++x_c) {
            conv_local[n_c * 52 + o_c * 52 + y_c * 13 + x_c] = 0.0f;
          }
        }
        for (int32_t rc = 0; rc < 5; ++rc) {
          for (int32_t ry = 0; ry < 3; ++ry) {
            for (int32_t rx = 0; rx < 3; ++rx) {
              #pragma GCC unroll 4
              for (int32_t y_c = 0; y_c < alt_min_i32(4, 11 - n_o_y_outer_fused % 3 * 4); ++y_c) {
                #pragma omp simd
                for (int32_t x_c = 0; x_c < 13; ++x_c) {
                  conv_local[n_c * 52 + o_c * 52 + y_c * 13 + x_c] = conv_local[n_c * 52 + o_c * 52 + y_c * 13 + x_c] + conv_pad[n_o_y_outer_fused / 3 / 6 * 975 + n_c * 975 + rc * 195 + n_o_y_outer_fused % 3 * 60 + y_c * 15 + ry * 15 + x_c + rx] * W[n_o_y_outer_fused / 3 % 6 * 45 + o_c * 45 + rc * 9 + ry * 3 + rx];
                }
              }
            }
          }
        }
      }
    }
    for (int32_t y_inner = 0; y_inner < alt_min_i32(4, 11 - n_o_y_outer_fused % 3 * 4); ++y_inner) {
      #pragma omp simd
      for (int32_t x = 0; x < 13; ++x) {
        conv[n_o_y_outer_fused / 3 / 6 * 858 + n_o_y_outer_fused / 3 % 6 * 143 + n_o_y_outer_fused % 3 * 52 + y_inner * 13 + x] = conv_local[y_inner * 13 + x];
      }
    }
  }
  free(conv_pad);
  return 0;
}
