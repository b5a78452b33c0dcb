/* Stand-in CUDA driver for the board tests: the entry points gpu_probe.py calls, answering like a
 * Jetson Nano. STANDIN_CUDA_FAIL=<code> makes cuInit fail with that CUresult (100 = no device). */
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

int cuInit(unsigned flags) { const char *f = getenv("STANDIN_CUDA_FAIL"); (void)flags; return f ? atoi(f) : 0; }
int cuDriverGetVersion(int *v) { *v = 10000; return 0; }
int cuDeviceGetCount(int *n) { *n = 1; return 0; }
int cuDeviceGet(int *d, int i) { if (i != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char *buf, int len, int d) { (void)d; strncpy(buf, "NVIDIA Tegra X1 (stand-in)", len); buf[len-1] = 0; return 0; }
int cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = (size_t)3964 << 20; return 0; }
int cuDeviceGetAttribute(int *v, int attr, int d) { (void)d; *v = attr == 75 ? 5 : attr == 76 ? 3 : attr == 18 ? 1 : 0; return 0; }
int cuCtxCreate_v2(void **ctx, unsigned flags, int d) { (void)flags; (void)d; *ctx = malloc(1); return 0; }
int cuCtxDestroy_v2(void *ctx) { free(ctx); return 0; }
int cuMemAlloc_v2(uint64_t *p, size_t n) { *p = (uint64_t)(uintptr_t)malloc(n); return *p ? 0 : 2; }
int cuMemFree_v2(uint64_t p) { free((void *)(uintptr_t)p); return 0; }
int cuGetErrorName(int code, const char **s) {
    *s = code == 100 ? "CUDA_ERROR_NO_DEVICE" : code == 999 ? "CUDA_ERROR_UNKNOWN" : "CUDA_ERROR_OTHER"; return 0; }
