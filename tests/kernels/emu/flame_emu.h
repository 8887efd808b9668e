// Host emulator of the few CUDA features the fused attention kernels use, so that their exact
// code (kernels/cuda/attention.cu compiled with FLAME_ATTN_EMULATE) runs on a CPU: one ucontext
// fiber per CUDA thread, scheduled cooperatively; __syncthreads / __syncthreads_or / warp
// barriers; __shfl_xor_sync; mma.sync.m16n8k16 bf16 -> fp32, whose operand fragments are decoded
// with the PTX ISA layout formulas (written independently of the kernels' loaders); ldmatrix .x4
// (.trans); cp.async with commit / wait_group groups.
// Dynamic shared memory is an exact-size heap buffer filled with 0xFF (NaN / -1), so reads of
// unwritten shared memory poison results and overruns are caught by AddressSanitizer.
// Scheduling (g_shuffle_seed): 0 round robin over all threads; 1 / 2 warp-greedy (each warp runs
// as far as it can before the next starts: exposes missing block barriers), warps ascending /
// descending; > 2 warp-greedy in a random warp order per round. Odd modes land cp.async copies
// at issue (exposes overwriting a stage still being read), even modes only at the covering wait
// (exposes reading before the wait). A deadlock (a barrier not reached by every thread) or a
// thread exiting with copies in flight aborts with a message.
// Not modelled: timing, memory-model weakness beyond barrier order, bank conflicts, registers.
#pragma once
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <ucontext.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>
#include <algorithm>

namespace flame_emu {
struct Dim { unsigned x = 1, y = 1, z = 1; };
struct Bar { int count = 0, arrived = 0; long gen = 0; };
struct WarpX { uint32_t a[32][4]; uint32_t b[32][2]; float f[32]; const uint16_t* p[32]; };
struct Copy { uint16_t* dst; const uint16_t* src; };  // 16 bytes; src null: zero-fill
struct Fiber {
  ucontext_t ctx;
  bool done = false;
  unsigned tid = 0;
  std::vector<Copy> open;                 // cp.async issued since the last commit
  std::vector<std::vector<Copy>> groups;  // committed, not yet landed (oldest first)
};
struct Block {
  std::vector<Fiber> fibers;
  ucontext_t sched;
  int cur = -1;
  std::vector<unsigned char> smem;
  Bar block_bar;
  std::vector<Bar> warp_bars;
  std::vector<WarpX> wx;
  int red = 0;
  long progress = 0;
  const std::function<void()>* body = nullptr;
};
inline Block* g_block = nullptr;
inline Dim g_blockIdx, g_blockDim, g_gridDim;
inline unsigned g_shuffle_seed = 0;  // scheduling mode, see the top of this file
// cp.async: eager copies land at issue (exposes a tile overwritten while others still read it);
// lazy ones land only at the wait that covers them (exposes a read before its wait / barrier).
inline bool g_async_eager = false;
inline long g_mma_count = 0;

inline Dim thread_idx() { Dim d; d.x = g_block->fibers[g_block->cur].tid; d.y = 0; d.z = 0; return d; }
inline unsigned char* smem() { return g_block->smem.empty() ? nullptr : g_block->smem.data(); }
inline void yield() { swapcontext(&g_block->fibers[g_block->cur].ctx, &g_block->sched); }
inline void bar_wait(Bar& b) {
  const long my = b.gen;
  ++g_block->progress;
  if (++b.arrived == b.count) { b.arrived = 0; ++b.gen; return; }
  while (b.gen == my) yield();
}
inline unsigned tid() { return g_block->fibers[g_block->cur].tid; }
inline void sync_block() { bar_wait(g_block->block_bar); }
inline void sync_warp() { bar_wait(g_block->warp_bars[tid() / 32]); }
inline bool sync_block_or(int p) {
  sync_block();  // everyone done with a previous reduction
  if (p) g_block->red = 1;
  sync_block();
  const bool r = g_block->red != 0;
  sync_block();
  if (tid() == 0) g_block->red = 0;
  sync_block();
  return r;
}
inline bool sync_block_and(int p) { return !sync_block_or(!p); }
inline float shfl_xor(float v, int mask) {
  WarpX& w = g_block->wx[tid() / 32];
  const unsigned lane = tid() % 32;
  w.f[lane] = v;
  sync_warp();
  const float r = w.f[lane ^ mask];
  sync_warp();
  return r;
}
inline float bf(uint32_t word, int half) {
  uint32_t bits = half ? (word & 0xffff0000u) : (word << 16);
  float f; memcpy(&f, &bits, 4); return f;
}
// PTX m16n8k16 bf16 layouts, written from the ISA's formulas.
inline float A_el(const WarpX& w, int row, int col) {
  const int g = row % 8, t = (col % 8) / 2;
  const int reg = (row >= 8 ? 1 : 0) + (col >= 8 ? 2 : 0);
  return bf(w.a[g * 4 + t][reg], col % 2);
}
inline float B_el(const WarpX& w, int k, int n) {
  const int lane = n * 4 + (k % 8) / 2;
  return bf(w.b[lane][k >= 8 ? 1 : 0], k % 2);
}
inline void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  WarpX& w = g_block->wx[tid() / 32];
  const unsigned lane = tid() % 32;
  for (int i = 0; i < 4; ++i) w.a[lane][i] = a[i];
  w.b[lane][0] = b0; w.b[lane][1] = b1;
  sync_warp();
  const int g = lane / 4, t = lane % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
    float acc = 0.f;
    for (int k = 0; k < 16; ++k) acc += A_el(w, row, k) * B_el(w, k, col);
    c[i] += acc;
  }
  ++g_mma_count;
  sync_warp();
}

// ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16: lane l gives the address of row (l & 7) of
// matrix (l >> 3) (16 contiguous bytes, 16-byte aligned); lane l receives of matrix i the
// elements (row l/4, cols 2(l%4), 2(l%4)+1), or with trans (rows 2(l%4), 2(l%4)+1, col l/4);
// the first element in the low 16 bits.
inline long g_ldmatrix_count = 0;
inline void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* row, bool trans) {
  WarpX& w = g_block->wx[tid() / 32];
  const unsigned lane = tid() % 32;
  const unsigned char* lo = g_block->smem.data();
  const unsigned char* hi = lo + g_block->smem.size();
  const unsigned char* pc = reinterpret_cast<const unsigned char*>(row);
  if (reinterpret_cast<uintptr_t>(row) % 16 || pc < lo || pc + 16 > hi) {
    fprintf(stderr, "emu: ldmatrix row address not 16-byte aligned shared memory\n");
    abort();
  }
  w.p[lane] = row;
  sync_warp();
  for (int i = 0; i < 4; ++i) {
    const uint16_t* const* rows = &w.p[8 * i];
    uint16_t e0, e1;
    if (!trans) {
      e0 = rows[lane / 4][2 * (lane % 4)];
      e1 = rows[lane / 4][2 * (lane % 4) + 1];
    } else {
      e0 = rows[2 * (lane % 4)][lane / 4];
      e1 = rows[2 * (lane % 4) + 1][lane / 4];
    }
    r[i] = uint32_t(e0) | (uint32_t(e1) << 16);
  }
  ++g_ldmatrix_count;
  sync_warp();
}

inline void do_copy(const Copy& c) {
  const unsigned char* lo = g_block->smem.data();
  const unsigned char* d = reinterpret_cast<const unsigned char*>(c.dst);
  if (reinterpret_cast<uintptr_t>(c.dst) % 16 || reinterpret_cast<uintptr_t>(c.src) % 16 ||
      d < lo || d + 16 > lo + g_block->smem.size()) {
    fprintf(stderr, "emu: cp.async destination/source misaligned or outside shared memory\n");
    abort();
  }
  if (c.src)
    memcpy(c.dst, c.src, 16);
  else
    memset(c.dst, 0, 16);
}
inline void cp_async16(uint16_t* dst, const uint16_t* src) {
  Fiber& f = g_block->fibers[g_block->cur];
  if (g_async_eager)
    do_copy({dst, src});
  else
    f.open.push_back({dst, src});
}
inline void cp_async_commit() {
  Fiber& f = g_block->fibers[g_block->cur];
  f.groups.push_back(std::move(f.open));
  f.open.clear();
}
inline void cp_async_wait(int n) {
  Fiber& f = g_block->fibers[g_block->cur];
  while (int(f.groups.size()) > n) {
    for (const Copy& c : f.groups.front()) do_copy(c);
    f.groups.erase(f.groups.begin());
  }
}

inline void fiber_entry() {
  (*g_block->body)();
  Fiber& f = g_block->fibers[g_block->cur];
  for (auto& g : f.groups)
    if (!g.empty()) { fprintf(stderr, "emu: thread exits with cp.async copies in flight\n"); abort(); }
  if (!f.open.empty()) { fprintf(stderr, "emu: thread exits with uncommitted cp.async copies\n"); abort(); }
  f.done = true;
  ++g_block->progress;
}
inline std::vector<std::vector<char>>& stacks() { static std::vector<std::vector<char>> s; return s; }

inline void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& body) {
  const unsigned nt = block.x * block.y * block.z;
  if (block.y != 1 || block.z != 1 || nt % 32) { fprintf(stderr, "emu: 1-D blocks of whole warps only\n"); abort(); }
  g_gridDim = {grid.x, grid.y, grid.z};
  g_blockDim = {block.x, 1, 1};
  std::mt19937 rng(g_shuffle_seed);
  g_async_eager = (g_shuffle_seed % 2) == 1;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        Block blk;
        blk.body = &body;
        blk.smem.assign(smem_bytes, 0xff);  // NaN / -1 poison
        blk.block_bar.count = nt;
        blk.warp_bars.resize(nt / 32);
        for (auto& w : blk.warp_bars) w.count = 32;
        blk.wx.resize(nt / 32);
        blk.fibers.resize(nt);
        g_block = &blk;
        g_blockIdx = {bx, by, bz};
        for (unsigned i = 0; i < nt; ++i) {
          Fiber& f = blk.fibers[i];
          f.tid = i;
          if (stacks().size() <= i) stacks().emplace_back(256 * 1024);
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = stacks()[i].data();
          f.ctx.uc_stack.ss_size = stacks()[i].size();
          f.ctx.uc_link = &blk.sched;
          makecontext(&f.ctx, (void (*)())fiber_entry, 0);
        }
        // Scheduling: mode 0 round robin over all threads; otherwise warp-greedy (each warp runs
        // as far as it can before the next one starts: exposes missing block barriers), warps in
        // ascending (1), descending (2) or random (>2) order.
        const unsigned nw = nt / 32;
        std::vector<int> worder(nw);
        for (unsigned i = 0; i < nw; ++i) worder[i] = i;
        if (g_shuffle_seed == 2) std::reverse(worder.begin(), worder.end());
        auto run_fiber = [&](int i) {
          if (blk.fibers[i].done) return;
          blk.cur = i;
          swapcontext(&blk.sched, &blk.fibers[i].ctx);
        };
        auto all_done = [&] {
          for (auto& f : blk.fibers) if (!f.done) return false;
          return true;
        };
        while (!all_done()) {
          const long before = blk.progress;
          if (g_shuffle_seed == 0) {
            for (unsigned i = 0; i < nt; ++i) run_fiber(i);
          } else {
            if (g_shuffle_seed > 2) std::shuffle(worder.begin(), worder.end(), rng);
            for (int w : worder) {
              for (;;) {  // this warp until it stops making progress
                const long wb = blk.progress;
                for (int l = 0; l < 32; ++l) run_fiber(w * 32 + l);
                if (blk.progress == wb) break;
              }
            }
          }
          if (!all_done() && blk.progress == before) {
            fprintf(stderr, "emu: deadlock in block (%u,%u,%u)\n", bx, by, bz);
            abort();
          }
        }
        g_block = nullptr;
      }
}
}  // namespace flame_emu

#define threadIdx (::flame_emu::thread_idx())
#define blockIdx (::flame_emu::g_blockIdx)
#define blockDim (::flame_emu::g_blockDim)
#define gridDim (::flame_emu::g_gridDim)
