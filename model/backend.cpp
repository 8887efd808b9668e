// What every backend shares: the device names, the fused ops' default compositions of plain ops,
// and the factory (the one place that knows whether this build has CUDA).
#include "model/backend.h"

#include "core/error.h"

namespace flame::model {

std::unique_ptr<Backend> make_cpu_backend();  // backend_cpu.cpp
#ifdef FLAME_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend();  // backend_cuda.cu
bool cuda_device_present();
#endif

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu;
  if (s == "cuda") return Device::cuda;
  throw Error("unknown device '" + s + "' (expected cpu or cuda)");
}

const char* name(Device d) { return d == Device::cuda ? "cuda" : "cpu"; }

bool backend_built(Device device) {
#ifdef FLAME_WITH_CUDA
  return true;
#else
  return device == Device::cpu;
#endif
}

bool backend_available(Device device) {
  if (device == Device::cpu) return true;
#ifdef FLAME_WITH_CUDA
  return cuda_device_present();
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(Device device, const ModelConfig& cfg, int B, int T) {
  std::unique_ptr<Backend> be;
  if (device == Device::cpu) {
    be = make_cpu_backend();
  } else {
    FLAME_CHECK(cfg.head_dim() == 64 || cfg.head_dim() == 128,
                "the CUDA attention kernels support head_dim 64 and 128 only; this model has "
                "d_model/n_head = "
                    << cfg.d_model << "/" << cfg.n_head << " = " << cfg.head_dim()
                    << " (use device: cpu, or change n_head)");
#ifdef FLAME_WITH_CUDA
    FLAME_CHECK(cuda_device_present(), "device cuda: no CUDA device available (use device: cpu)");
    be = make_cuda_backend();
#else
    throw Error("device cuda: this flame binary was built without CUDA (use device: cpu)");
#endif
  }
  be->prepare(cfg, B, T);
  return be;
}

void Backend::norm_residual_forward(Norm kind, void* res_out, void* out, float* mean, float* rstd,
                                    const void* resid, const void* delta, const void* w,
                                    const void* b, int N, int C, float eps) {
  add(res_out, resid, delta, long(N) * C);
  norm_forward(kind, out, mean, rstd, res_out, w, b, N, C, eps);
}

void Backend::mlp_up_forward(Mlp kind, void* act, void* fch, const void* inp, const void* w,
                             const void* b, int N, int C, int F) {
  matmul_forward(fch, inp, w, b, N, C, is_gated(kind) ? 2 * F : F);
  activation_forward(kind, act, fch, N, F);
}

void Backend::mlp_down_backward(Mlp kind, void* dfch, void* dact, void* dw, void* db,
                                const void* dout, const void* act, const void* w, const void* fch,
                                int N, int F, int C) {
  matmul_backward(dact, dw, db, dout, act, w, N, F, C);
  activation_backward(kind, dfch, fch, dact, N, F);
}

}  // namespace flame::model
