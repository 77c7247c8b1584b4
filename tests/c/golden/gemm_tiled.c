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

int alt_main_(const float* restrict A_, const float* restrict B_, float* restrict C_) {
  #pragma omp parallel for
  for (int32_t i_outer_ = 0; i_outer_ < 16; ++i_outer_) {
    for (int32_t j_outer_ = 0; j_outer_ < 4; ++j_outer_) {
      float C_local_[128] __attribute__((aligned(64)));
      #pragma GCC unroll 4
      for (int32_t i_c_ = 0; i_c_ < 4; ++i_c_) {
        #pragma omp simd
        for (int32_t j_c_ = 0; j_c_ < 32; ++j_c_) {
          C_local_[i_c_ * 32 + j_c_] = 0.0f;
        }
      }
      for (int32_t k_ = 0; k_ < 32; ++k_) {
        #pragma GCC unroll 4
        for (int32_t i_c_ = 0; i_c_ < 4; ++i_c_) {
          #pragma omp simd
          for (int32_t j_c_ = 0; j_c_ < 32; ++j_c_) {
            C_local_[i_c_ * 32 + j_c_] = C_local_[i_c_ * 32 + j_c_] + A_[i_outer_ * 128 + i_c_ * 32 + k_] * B_[k_ * 128 + j_outer_ * 32 + j_c_];
          }
        }
      }
      for (int32_t i_inner_ = 0; i_inner_ < 4; ++i_inner_) {
        #pragma omp simd
        for (int32_t j_inner_ = 0; j_inner_ < 32; ++j_inner_) {
          C_[i_outer_ * 512 + i_inner_ * 128 + j_outer_ * 32 + j_inner_] = C_local_[i_inner_ * 32 + j_inner_];
        }
      }
    }
  }
  return 0;
}
