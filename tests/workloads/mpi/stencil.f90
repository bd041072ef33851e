! The same 2D stencil as stencil.c, in Fortran: the ranks form a periodic grid, swap their edges
! with their four neighbours every sweep, update their cells from their neighbours, and join an
! allreduce of the grid's sum; rank 0 gathers every rank's checksum and prints one line per step:
!
!   step S sum X ranks C0 C1 ... Cn-1
!
! The arithmetic is stencil.c's on 64-bit integers that wrap (unsigned in C, two's complement
! here, the same bits), so both print the same bytes for the same arguments, whichever MPI, and
! however the run is interrupted, checkpointed, restarted or spread over hosts.
! Build with -fwrapv (integer overflow wraps, as stencil.c's unsigned arithmetic does).
!
! usage: stencil CELLS STEPS [SWEEPS [SLEEP_MS]]    (CELLS: the side of each rank's square)
program stencil
  use mpi
  use iso_c_binding, only: c_int
  implicit none
  interface
    integer(c_int) function usleep(microseconds) bind(c, name='usleep')
      import :: c_int
      integer(c_int), value :: microseconds
    end function usleep
  end interface
  integer, parameter :: i8 = selected_int_kind(18)
  integer :: n, steps, sweeps, sleep_ms, ierr, nprocs, rank, grid, up, down, left, right
  integer :: dims(2), coords(2), step, sweep, i, j, r
  logical :: periods(2)
  integer(i8), allocatable :: a(:, :), b(:, :), colout(:), colin(:), sums(:)
  integer(i8) :: local, total
  character(len=32) :: arg
  character(len=4096) :: line

  call MPI_Init(ierr)
  if (command_argument_count() < 2) then
    write (0, '(a)') 'usage: stencil CELLS STEPS [SWEEPS [SLEEP_MS]]'
    call MPI_Abort(MPI_COMM_WORLD, 2, ierr)
  end if
  n = int_arg(1, 0)
  steps = int_arg(2, 0)
  sweeps = int_arg(3, 1)
  sleep_ms = int_arg(4, 0)
  call MPI_Comm_size(MPI_COMM_WORLD, nprocs, ierr)
  dims = 0
  periods = .true.
  call MPI_Dims_create(nprocs, 2, dims, ierr)
  call MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, .false., grid, ierr)
  call MPI_Comm_rank(grid, rank, ierr)
  call MPI_Cart_coords(grid, rank, 2, coords, ierr)
  call MPI_Cart_shift(grid, 0, 1, up, down, ierr)
  call MPI_Cart_shift(grid, 1, 1, left, right, ierr)

  ! a(j, i) is stencil.c's AT(a, i, j): a row of the C program is a column here, contiguous.
  allocate (a(0:n + 1, 0:n + 1), b(0:n + 1, 0:n + 1), colout(2 * n), colin(2 * n), sums(nprocs))
  a = 0
  b = 0
  do i = 1, n
    do j = 1, n
      a(j, i) = mix(ior(ishft(int(coords(1) * n + i, i8), 32), int(coords(2) * n + j, i8)))
    end do
  end do

  do step = 1, steps
    do sweep = 1, sweeps
      call MPI_Sendrecv(a(1, 1), n, MPI_INTEGER8, up, 0, a(1, n + 1), n, MPI_INTEGER8, down, 0, &
                        grid, MPI_STATUS_IGNORE, ierr)
      call MPI_Sendrecv(a(1, n), n, MPI_INTEGER8, down, 1, a(1, 0), n, MPI_INTEGER8, up, 1, &
                        grid, MPI_STATUS_IGNORE, ierr)
      colout(1:n) = a(1, 1:n)
      colout(n + 1:2 * n) = a(n, 1:n)
      call MPI_Sendrecv(colout(1), n, MPI_INTEGER8, left, 2, colin(n + 1), n, MPI_INTEGER8, right, 2, &
                        grid, MPI_STATUS_IGNORE, ierr)
      call MPI_Sendrecv(colout(n + 1), n, MPI_INTEGER8, right, 3, colin(1), n, MPI_INTEGER8, left, 3, &
                        grid, MPI_STATUS_IGNORE, ierr)
      a(0, 1:n) = colin(1:n)
      a(n + 1, 1:n) = colin(n + 1:2 * n)
      do i = 1, n
        do j = 1, n
          b(j, i) = mix(a(j, i) + 3 * a(j, i - 1) + 5 * a(j, i + 1) + 7 * a(j - 1, i) + 11 * a(j + 1, i) &
                        + int(step, i8))
        end do
      end do
      a(1:n, 1:n) = b(1:n, 1:n)
    end do
    local = 0
    do i = 1, n
      do j = 1, n
        local = local + ishft(a(j, i), -8)
      end do
    end do
    call MPI_Allreduce(local, total, 1, MPI_INTEGER8, MPI_SUM, grid, ierr)
    call MPI_Gather(local, 1, MPI_INTEGER8, sums, 1, MPI_INTEGER8, 0, grid, ierr)
    if (rank == 0) then
      write (line, '(a,i0,a,a,a)') 'step ', step, ' sum ', hex(total), ' ranks'
      do r = 1, nprocs
        line = trim(line)//' '//hex(sums(r))
      end do
      write (*, '(a)') trim(line)
      flush (6)
    end if
    if (sleep_ms > 0) ierr = usleep(int(sleep_ms * 1000, c_int))
  end do
  call MPI_Comm_free(grid, ierr)
  call MPI_Finalize(ierr)

contains

  ! stencil.c's mix(): a 64-bit finalizer, its shifts logical, its products wrapping.
  integer(i8) function mix(v)
    integer(i8), intent(in) :: v
    integer(i8) :: x
    x = v
    x = ieor(x, ishft(x, -33))
    x = x * (-49064778989728563_i8)      ! 0xff51afd7ed558ccd
    x = ieor(x, ishft(x, -33))
    x = x * (-4265267296055464877_i8)    ! 0xc4ceb9fe1a85ec53
    mix = ieor(x, ishft(x, -33))
  end function mix

  ! Sixteen lowercase hex digits of the value's bits, as C's %016llx prints them.
  character(len=16) function hex(v)
    integer(i8), intent(in) :: v
    character(len=16), parameter :: digits = '0123456789abcdef'
    integer :: k
    do k = 0, 15
      hex(16 - k:16 - k) = digits(int(iand(ishft(v, -4 * k), 15_i8)) + 1:int(iand(ishft(v, -4 * k), 15_i8)) + 1)
    end do
  end function hex

  integer function int_arg(index, default)
    integer, intent(in) :: index, default
    if (command_argument_count() < index) then
      int_arg = default
    else
      call get_command_argument(index, arg)
      read (arg, *) int_arg
    end if
  end function int_arg
end program stencil
