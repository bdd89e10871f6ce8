#pragma once
// CPU emulation of the little CUDA that csrc/cuda/*.cu uses, so that the
// kernels compile unchanged as C++ (csrc/cuda/launch.h includes this header
// when there is no nvcc) and run on the host, under sanitizers if wanted:
//  - __global__/__device__/__host__ compile away;
//  - threadIdx, blockIdx, blockDim and gridDim are thread-locals;
//  - a launch runs the blocks one after another, each block's threads
//    concurrently on their own OS threads (a pool kept between launches),
//    or, with CUDA_EMU_FIBERS defined, as fibers on the launching thread;
//  - __shared__ is `static`: as only one block runs at a time in the whole
//    process (launches are serialised), a static IS the running block's
//    shared memory. Unlike CUDA it keeps the previous block's values;
//  - __syncthreads() is a barrier that a thread leaves when it returns, as
//    on Volta and later;
//  - the SM count that kernels size their grids by is set_sm_count()'s, so
//    that small shapes take the grid-stride loops and multi-block merges.
// Streams are synchronous: a launch returns when the kernel has finished.
// See README.md in the folder above for what this cannot check.
#include <barrier>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#if defined(CUDA_EMU_FIBERS)
#include <ucontext.h>
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

// CUDA's integer min/max device functions (std's are not found unqualified).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

namespace cuda_emu {

// Errors become exceptions (RuntimeError in Python): no c10 needed, so the
// sanitizer driver links without libtorch.
inline void check(bool ok, const std::string& message) {
  if (!ok) throw std::runtime_error("cuda_emu: " + message);
}

// The multiprocessor count the emulated device reports.
inline int& sm_count_setting() {
  static int count = 2;
  return count;
}
inline void set_sm_count(int count) {
  check(count >= 1, "the SM count must be at least 1, got " + std::to_string(count));
  sm_count_setting() = count;
}

// The built-ins of thread `id` of block `index`.
inline void enter_thread(unsigned id, dim3 index, dim3 block, dim3 grid) {
  threadIdx = uint3(id % block.x, id / block.x % block.y, id / (block.x * block.y));
  blockIdx = index;
  blockDim = block;
  gridDim = grid;
}

#if defined(CUDA_EMU_FIBERS)
// Each CUDA thread of a block is a fiber (ucontext) on the launching thread;
// a __syncthreads() switches back to the scheduler, which resumes every
// live fiber in turn: one round per barrier phase. An order of magnitude
// cheaper than OS threads (about 9 us of CPU per thread per barrier phase
// here), so the numeric tests use it; sanitizers need the OS threads.
class BlockRunner {
 public:
  void run(dim3 grid, dim3 block, const std::function<void()>& body) {
    const unsigned threads = block.x * block.y * block.z;
    while (fibers_.size() < threads) fibers_.emplace_back(new Fiber);
    body_ = &body;
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          for (unsigned t = 0; t < threads; ++t) fibers_[t]->start(&scheduler_);
          for (unsigned live = threads; live > 0;) {
            for (unsigned t = 0; t < threads; ++t) {
              if (fibers_[t]->done) continue;
              current_ = t;
              enter_thread(t, dim3(x, y, z), block, grid);
              swapcontext(&scheduler_, &fibers_[t]->context);
              if (fibers_[t]->done) --live;
            }
          }
        }
  }

  void sync() { swapcontext(&fibers_[current_]->context, &scheduler_); }

 private:
  struct Fiber {
    static constexpr size_t kStackBytes = 256 * 1024;
    std::unique_ptr<char[]> stack{new char[kStackBytes]};
    ucontext_t context;
    bool done = false;

    void start(ucontext_t* scheduler) {
      getcontext(&context);
      context.uc_stack.ss_sp = stack.get();
      context.uc_stack.ss_size = kStackBytes;
      context.uc_link = scheduler;  // where the fiber goes when the kernel returns
      makecontext(&context, &BlockRunner::entry, 0);
      done = false;
    }
  };

  static void entry();

  std::vector<std::unique_ptr<Fiber>> fibers_;
  ucontext_t scheduler_;
  const std::function<void()>* body_ = nullptr;
  unsigned current_ = 0;
};
#else
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer must see __syncthreads order memory exactly as on the GPU:
// phase k's arrivals before phase k's departures, nothing else. The barrier's
// own atomics and locks would also order a thread that leaves phase k late
// after whatever faster threads did since (up to returning from the kernel),
// hiding the very races this is for; so its internal synchronisation is
// ignored (with its memory accesses, which rely on that synchronisation)
// and the happens-before of each phase is annotated on a token.
extern "C" {
void AnnotateIgnoreReadsBegin(const char* file, int line);
void AnnotateIgnoreReadsEnd(const char* file, int line);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
void AnnotateIgnoreSyncBegin(const char* file, int line);
void AnnotateIgnoreSyncEnd(const char* file, int line);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
}
#define CUDA_EMU_IGNORE_SYNC(...)                  \
  do {                                             \
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);  \
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__); \
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);   \
    __VA_ARGS__;                                   \
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);     \
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);   \
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);    \
  } while (0)
#else
#define CUDA_EMU_IGNORE_SYNC(...) __VA_ARGS__
#endif

// Threads that run one block at a time: the launching thread is CUDA
// thread 0 and a worker thread each of the others, created on demand and
// kept for later launches. (256 OS threads in all for a 256-thread block:
// ThreadSanitizer's runtime has 256 thread slots, and with more it resets its
// state now and then and misses races.)
class BlockRunner {
 public:
  ~BlockRunner() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    start_.notify_all();
    for (std::thread& w : workers_) w.join();
  }

  // Runs body() on blockDim threads for every block of the grid, in order.
  void run(dim3 grid, dim3 block, const std::function<void()>& body) {
    const unsigned threads = block.x * block.y * block.z;
    while (workers_.size() + 1 < threads) {
      const unsigned id = static_cast<unsigned>(workers_.size()) + 1;
      workers_.emplace_back([this, id] { work(id); });
    }
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          Job job{&body, grid, block, dim3(x, y, z), threads};
          {
            std::lock_guard<std::mutex> lock(mutex_);
            barrier_.emplace(threads);
            job_ = job;
            running_ = threads - 1;
            ++generation_;
          }
          start_.notify_all();
          run_thread(0, job);
          std::unique_lock<std::mutex> lock(mutex_);
          done_.wait(lock, [this] { return running_ == 0; });
        }
  }

  // __syncthreads of the running block; a thread that returns from the
  // kernel drops out (below), so the others do not wait for it.
  void sync() {
#if defined(__SANITIZE_THREAD__)
    // Phases alternate between two tokens: a thread cannot be two phases ahead.
    char* token = &phase_tokens_[phase_++ % 2];
    __tsan_release(token);
    CUDA_EMU_IGNORE_SYNC(barrier_->arrive_and_wait());
    __tsan_acquire(token);
#else
    barrier_->arrive_and_wait();
#endif
  }

 private:
  struct Job {
    const std::function<void()>* body = nullptr;
    dim3 grid, block, index;
    unsigned threads = 0;
  };

  void work(unsigned id) {
    unsigned long seen = 0;
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return stopping_ || (generation_ != seen && id < job_.threads); });
        if (stopping_) return;
        seen = generation_;
        job = job_;
      }
      run_thread(id, job);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--running_ == 0) done_.notify_one();
    }
  }

  void run_thread(unsigned id, const Job& job) {
    enter_thread(id, job.index, job.block, job.grid);
    phase_ = 0;
    (*job.body)();
    CUDA_EMU_IGNORE_SYNC(barrier_->arrive_and_drop());
  }

  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  Job job_;
  unsigned long generation_ = 0;
  unsigned running_ = 0;
  bool stopping_ = false;
  std::optional<std::barrier<>> barrier_;
  static inline thread_local unsigned phase_ = 0;  // barriers this thread passed in its block
  char phase_tokens_[2] = {};
};
#endif

inline BlockRunner& runner() {
  static BlockRunner r;
  return r;
}

#if defined(CUDA_EMU_FIBERS)
inline void BlockRunner::entry() {
  BlockRunner& r = runner();
  (*r.body_)();
  r.fibers_[r.current_]->done = true;
}
#endif

// One launch at a time in the process: __shared__ statics belong to the
// block that runs.
inline std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

template <typename Kernel>
struct Launch {
  dim3 grid, block;
  Kernel kernel;

  template <typename... Args>
  void operator()(Args&&... args) const {
    const std::tuple<std::decay_t<Args>...> values(std::forward<Args>(args)...);
    const std::function<void()> body = [&] { std::apply(kernel, values); };
    std::lock_guard<std::mutex> lock(launch_mutex());
    runner().run(grid, block, body);
  }
};

inline void syncthreads() { runner().sync(); }

}  // namespace cuda_emu

inline void __syncthreads() { cuda_emu::syncthreads(); }

// ------------------------------------------------ the CUDA runtime API used

struct CUstream_st;
using cudaStream_t = CUstream_st*;
enum cudaError_t { cudaSuccess = 0 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };

inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int /*device*/) {
  cuda_emu::check(attr == cudaDevAttrMultiProcessorCount,
                  "device attribute " + std::to_string(static_cast<int>(attr)) + " is not emulated");
  *value = cuda_emu::sm_count_setting();
  return cudaSuccess;
}

namespace cuda_emu {

// SMARTOPS_LAUNCH(grid, block, shmem, stream, kernel)(args...) of csrc/cuda/launch.h.
template <typename Kernel>
Launch<Kernel> launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t /*stream*/, Kernel kernel) {
  check(dynamic_shared_bytes == 0, "dynamic shared memory is not emulated");
  const unsigned threads = block.x * block.y * block.z;
  check(grid.x * grid.y * grid.z > 0 && threads > 0 && threads <= 1024,
        "invalid launch: grid (" + std::to_string(grid.x) + ", " + std::to_string(grid.y) + ", " +
            std::to_string(grid.z) + "), " + std::to_string(threads) + " threads per block");
  return Launch<Kernel>{grid, block, kernel};
}

}  // namespace cuda_emu
