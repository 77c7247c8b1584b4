#include <stdint.h>
#include <math.h>

extern "C" __global__ void alt_main_k0(const float* __restrict__ A_, const float* __restrict__ B_, float* __restrict__ C_, int* alt_status) {
  __shared__ float A_shared_[128] __align__(16);
  __shared__ float B_shared_[64] __align__(16);
  { const int32_t i_outer_ = (int32_t)blockIdx.y;
  if (i_outer_ < 4) {
    { const int32_t j_outer_ = (int32_t)blockIdx.x;
    if (j_outer_ < 8) {
      { const int32_t i_inner_outer_ = (int32_t)threadIdx.y;
      if (i_inner_outer_ < 8) {
        { const int32_t j_inner_ = (int32_t)threadIdx.x;
        if (j_inner_ < 8) {
          float C_local_[2] __align__(16);
          for (int32_t i_c_ = 0; i_c_ < 2; ++i_c_) {
            for (int32_t j_c_ = 0; j_c_ < 1; ++j_c_) {
              C_local_[i_c_ + j_c_] = 0.0f;
            }
          }
          for (int32_t k_outer_ = 0; k_outer_ < 6; ++k_outer_) {
            __syncthreads();
            for (int32_t ax0_ax1_fused_outer_ = 0; ax0_ax1_fused_outer_ < 2; ++ax0_ax1_fused_outer_) {
              { const int32_t ax0_ax1_fused_inner_outer_ = (int32_t)threadIdx.y;
              if (ax0_ax1_fused_inner_outer_ < 8) {
                { const int32_t ax0_ax1_fused_inner_inner_ = (int32_t)threadIdx.x;
                if (ax0_ax1_fused_inner_inner_ < 8) {
                  A_shared_[ax0_ax1_fused_outer_ * 64 + ax0_ax1_fused_inner_outer_ * 8 + ax0_ax1_fused_inner_inner_] = A_[i_outer_ * 768 + ax0_ax1_fused_outer_ * 384 + ax0_ax1_fused_inner_outer_ * 48 + k_outer_ * 8 + ax0_ax1_fused_inner_inner_];
                }
                }
              }
              }
            }
            __syncthreads();
            for (int32_t ax0_ax1_fused_outer_1_ = 0; ax0_ax1_fused_outer_1_ < 1; ++ax0_ax1_fused_outer_1_) {
              { const int32_t ax0_ax1_fused_inner_outer_1_ = (int32_t)threadIdx.y;
              if (ax0_ax1_fused_inner_outer_1_ < 8) {
                { const int32_t ax0_ax1_fused_inner_inner_1_ = (int32_t)threadIdx.x;
                if (ax0_ax1_fused_inner_inner_1_ < 8) {
                  B_shared_[ax0_ax1_fused_outer_1_ * 64 + ax0_ax1_fused_inner_outer_1_ * 8 + ax0_ax1_fused_inner_inner_1_] = B_[k_outer_ * 512 + ax0_ax1_fused_outer_1_ * 512 + ax0_ax1_fused_inner_outer_1_ * 64 + j_outer_ * 8 + ax0_ax1_fused_inner_inner_1_];
                }
                }
              }
              }
            }
            __syncthreads();
            for (int32_t k_inner_ = 0; k_inner_ < 8; ++k_inner_) {
              for (int32_t i_c_ = 0; i_c_ < 2; ++i_c_) {
                for (int32_t j_c_ = 0; j_c_ < 1; ++j_c_) {
                  C_local_[i_c_ + j_c_] = C_local_[i_c_ + j_c_] + A_shared_[i_inner_outer_ * 16 + i_c_ * 8 + k_inner_] * B_shared_[k_inner_ * 8 + j_inner_ + j_c_];
                }
              }
            }
          }
          for (int32_t i_inner_inner_ = 0; i_inner_inner_ < 2; ++i_inner_inner_) {
            C_[i_outer_ * 1024 + i_inner_outer_ * 128 + i_inner_inner_ * 64 + j_outer_ * 8 + j_inner_] = C_local_[i_inner_inner_];
          }
        }
        }
      }
      }
    }
    }
  }
  }
}
