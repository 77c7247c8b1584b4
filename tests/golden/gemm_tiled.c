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

int alt_main(const float* restrict A, const float* restrict B, float* restrict C) {
  #pragma omp parallel for
  for (int32_t i_outer = 0; i_outer < 16; ++i_outer) {
    for (int32_t j_outer = 0; j_outer < 4; ++j_outer) {
      float C_local[128] __attribute__((aligned(64)));
      #pragma GCC unroll 4
      for (int32_t i_c = 0; i_c < 4; ++i_c) {
        #pragma omp simd
        for (int32_t j_c = 0; j_c < 32; ++j_c) {
          C_local[i_c * 32 + j_c] = 0.0f;
        }
      }
      for (int32_t k = 0; k < 32; ++k) {
        #pragma GCC unroll 4
        for (int32_t i_c = 0; i_c < 4; ++i_c) {
          #pragma omp simd
          for (int32_t j_c = 0; j_c < 32; ++j_c) {
            C_local[i_c * 32 + j_c] = C_local[i_c * 32 + j_c] + A[i_outer * 128 + i_c * 32 + k] * B[k * 128 + j_outer * 32 + j_c];
          }
        }
      }
      for (int32_t i_inner = 0; i_inner < 4; ++i_inner) {
        #pragma omp simd
        for (int32_t j_inner = 0; j_inner < 32; ++j_inner) {
          C[i_outer * 512 + i_inner * 128 + j_outer * 32 + j_inner] = C_local[i_inner * 32 + j_inner];
        }
      }
    }
  }
  return 0;
}
