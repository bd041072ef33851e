// A long, deterministic computation for the Slurm tests: counts the primes up to LIMIT by trial
// division (slow on purpose: minutes of CPU), printing the count at every STEPS-th of the range,
// and keeps a 32 MiB table of prime gaps in memory so that its checkpoints hold real state.
// usage: primes LIMIT STEPS
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int is_prime(uint32_t n)
{
    if (n < 2) return 0;
    if (n % 2 == 0) return n == 2;
    for (uint32_t d = 3; d <= n / d; d += 2)
        if (n % d == 0) return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: primes LIMIT STEPS\n"); return 2; }
    uint32_t limit = (uint32_t)strtoul(argv[1], 0, 10), steps = (uint32_t)strtoul(argv[2], 0, 10);
    uint32_t *gaps = calloc(8u << 20, sizeof *gaps);
    uint64_t count = 0;
    uint32_t last = 0;
    for (uint32_t step = 1; step <= steps; step++)
    {
        uint32_t from = (uint32_t)((uint64_t)limit * (step - 1) / steps) + 1, to = (uint32_t)((uint64_t)limit * step / steps);
        for (uint32_t n = from; n <= to; n++)
            if (is_prime(n))
            {
                count++;
                if (last) gaps[(n - last) % (8u << 20)]++;
                last = n;
            }
        printf("up to %u: %llu primes\n", to, (unsigned long long)count);
        fflush(stdout);
    }
    uint64_t check = 0;
    for (uint32_t i = 0; i < (8u << 20); i++) check = check * 31 + gaps[i];
    printf("done: %llu primes up to %u, gap table %016llx\n", (unsigned long long)count, limit, (unsigned long long)check);
    return 0;
}
