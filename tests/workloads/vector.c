// vector OUTFILE ROUNDS
//
// Computes in a tight loop whose whole state lives in SSE/AVX registers (eight 256-bit
// accumulators of doubles updated with fused multiply-adds), writing "round N" to OUTFILE after
// each round and the final accumulators at the end. A checkpoint lands inside the loop with live
// vector registers; the final line must equal an uninterrupted run's.
#pragma GCC target("avx2,fma")
#include <fcntl.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline))
static void round_(__m256d acc[8], long iterations) {
    __m256d a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
    const __m256d m = _mm256_set1_pd(0.999999), c = _mm256_set1_pd(1e-6);
    for (long i = 0; i < iterations; i++) {
        a0 = _mm256_fmadd_pd(a0, m, c); a1 = _mm256_fmadd_pd(a1, m, a0);
        a2 = _mm256_fmadd_pd(a2, m, a1); a3 = _mm256_fmadd_pd(a3, m, a2);
        a4 = _mm256_fmadd_pd(a4, m, a3); a5 = _mm256_fmadd_pd(a5, m, a4);
        a6 = _mm256_fmadd_pd(a6, m, a5); a7 = _mm256_fmadd_pd(a7, m, a6);
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3; acc[4] = a4; acc[5] = a5; acc[6] = a6; acc[7] = a7;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: vector OUTFILE ROUNDS\n"); return 2; }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);
    long rounds = atol(argv[2]);
    __m256d acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm256_set_pd(i + 0.25, i + 0.5, i + 0.75, i + 1.0);
    char line[2048];
    for (long r = 1; r <= rounds; r++) {
        round_(acc, 20000000);
        int n = snprintf(line, sizeof line, "round %ld\n", r);
        if (write(out, line, n) != n) return 3;
    }
    double v[32];
    memcpy(v, acc, sizeof v);
    int n = 0;
    for (int i = 0; i < 32; i++) n += snprintf(line + n, sizeof line - n, "%a%c", v[i], i % 4 == 3 ? '\n' : ' ');
    n += snprintf(line + n, sizeof line - n, "done\n");
    return write(out, line, n) == n ? 0 : 3;
}
