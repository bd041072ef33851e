/* A 2D stencil over MPI, the shape of most HPC codes: the ranks form a grid (MPI_Dims_create), each
 * owns a square of cells, and every step each rank swaps its edges with its four neighbours (halo
 * exchange, periodic), updates its cells from their neighbours, and joins an allreduce of the
 * grid's sum. Rank 0 gathers every rank's checksum and prints one line per step:
 *
 *   step S sum X ranks C0 C1 ... Cn-1
 *
 * All arithmetic is on unsigned 64-bit integers, so the output is the same byte for byte however
 * the run is interrupted, checkpointed, restarted or spread over hosts: a test compares it with an
 * uninterrupted run's. Work per step is cells x sweeps.
 *
 * usage: stencil CELLS STEPS [SWEEPS [SLEEP_MS]]    (CELLS: the side of each rank's square)
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t mix(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (argc < 3) {
        fprintf(stderr, "usage: stencil CELLS STEPS [SWEEPS [SLEEP_MS]]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int n = atoi(argv[1]), steps = atoi(argv[2]);
    int sweeps = argc > 3 ? atoi(argv[3]) : 1, sleep_ms = argc > 4 ? atoi(argv[4]) : 0;
    int size, rank, dims[2] = {0, 0}, periods[2] = {1, 1}, coords[2];
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, 2, dims);
    MPI_Comm grid;
    MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &grid);
    MPI_Comm_rank(grid, &rank);
    MPI_Cart_coords(grid, rank, 2, coords);
    int up, down, left, right;
    MPI_Cart_shift(grid, 0, 1, &up, &down);
    MPI_Cart_shift(grid, 1, 1, &left, &right);

    int w = n + 2; /* with a one-cell halo on each side */
    uint64_t *a = calloc((size_t)w * w, sizeof *a), *b = calloc((size_t)w * w, sizeof *b);
    uint64_t *colout = malloc(2 * n * sizeof *colout), *colin = malloc(2 * n * sizeof *colin);
    uint64_t *sums = rank == 0 ? malloc(size * sizeof *sums) : NULL;
    if (!a || !b || !colout || !colin || (rank == 0 && !sums)) MPI_Abort(grid, 3);
#define AT(m, i, j) (m)[(size_t)(i) * w + (j)]
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= n; j++)
            AT(a, i, j) = mix(((uint64_t)(coords[0] * n + i) << 32) | (uint64_t)(coords[1] * n + j));

    for (int step = 1; step <= steps; step++) {
        for (int sweep = 0; sweep < sweeps; sweep++) {
            /* Rows go straight from the array; columns through a packed buffer. */
            MPI_Sendrecv(&AT(a, 1, 1), n, MPI_UINT64_T, up, 0, &AT(a, n + 1, 1), n, MPI_UINT64_T, down, 0,
                         grid, MPI_STATUS_IGNORE);
            MPI_Sendrecv(&AT(a, n, 1), n, MPI_UINT64_T, down, 1, &AT(a, 0, 1), n, MPI_UINT64_T, up, 1,
                         grid, MPI_STATUS_IGNORE);
            for (int i = 1; i <= n; i++) {
                colout[i - 1] = AT(a, i, 1);
                colout[n + i - 1] = AT(a, i, n);
            }
            MPI_Sendrecv(colout, n, MPI_UINT64_T, left, 2, colin + n, n, MPI_UINT64_T, right, 2,
                         grid, MPI_STATUS_IGNORE);
            MPI_Sendrecv(colout + n, n, MPI_UINT64_T, right, 3, colin, n, MPI_UINT64_T, left, 3,
                         grid, MPI_STATUS_IGNORE);
            for (int i = 1; i <= n; i++) {
                AT(a, i, 0) = colin[i - 1];
                AT(a, i, n + 1) = colin[n + i - 1];
            }
            for (int i = 1; i <= n; i++)
                for (int j = 1; j <= n; j++)
                    AT(b, i, j) = mix(AT(a, i, j) + 3 * AT(a, i - 1, j) + 5 * AT(a, i + 1, j) +
                                      7 * AT(a, i, j - 1) + 11 * AT(a, i, j + 1) + (uint64_t)step);
            uint64_t *t = a; a = b; b = t;
        }
        uint64_t local = 0, total = 0;
        for (int i = 1; i <= n; i++)
            for (int j = 1; j <= n; j++) local += AT(a, i, j) >> 8;
        MPI_Allreduce(&local, &total, 1, MPI_UINT64_T, MPI_SUM, grid);
        MPI_Gather(&local, 1, MPI_UINT64_T, sums, 1, MPI_UINT64_T, 0, grid);
        if (rank == 0) {
            printf("step %d sum %016llx ranks", step, (unsigned long long)total);
            for (int r = 0; r < size; r++) printf(" %016llx", (unsigned long long)sums[r]);
            printf("\n");
            fflush(stdout);
        }
        if (sleep_ms > 0) {
            struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    MPI_Comm_free(&grid);
    MPI_Finalize();
    return 0;
}
