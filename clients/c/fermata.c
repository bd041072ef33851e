/* The definitions of fermata.h as an object of their own, for programs that cannot define
 * FERMATA_IMPLEMENTATION in one of their own C files: Fortran (clients/fortran/fermata.f90) and
 * other languages that call C. Build: cc -O2 -pthread -c fermata.c */
#define _GNU_SOURCE /* SOCK_CLOEXEC, MSG_NOSIGNAL and pthreads whatever -std the caller uses */
#define FERMATA_IMPLEMENTATION
#include "fermata.h"
