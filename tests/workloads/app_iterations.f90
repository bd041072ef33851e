! app_iterations OUTFILE N K, in Fortran: the same program as app_iterations.c, through the
! Fortran client (clients/fortran/fermata.f90). For i = 1..N it appends "step i" to OUTFILE,
! after each step that is a multiple of K asks for a checkpoint, and in the program restored from
! one appends "restarted from checkpoint C generation G" before going on. 50 ms between steps.
! The file is the job's state: it stays open for the whole run, because a checkpoint captures the
! files a job has open for writing (one opened and closed for each line would not be rolled back
! by a restart); each line is flushed, so the file shows the run's progress. Build:
!   gcc -O2 -pthread -c clients/c/fermata.c -o fermata_c.o
!   gfortran -O2 -J BUILD clients/fortran/fermata.f90 tests/workloads/app_iterations.f90 fermata_c.o -pthread
program app_iterations
    use, intrinsic :: iso_c_binding, only: c_int
    use fermata
    implicit none

    interface
        ! POSIX usleep: Fortran has no portable sleep shorter than a second.
        function usleep(microseconds) bind(C, name="usleep")
            import :: c_int
            integer(c_int), value :: microseconds
            integer(c_int) :: usleep
        end function usleep
    end interface

    character(len=4096) :: output
    character(len=32) :: argument
    character(len=128) :: line
    integer :: n, k, i, status, unit, error
    type(fermata_checkpoint_result_t), target :: result

    if (command_argument_count() /= 3) then
        write (0, '(a)') 'usage: app_iterations OUTFILE N K'
        stop 2
    end if
    call get_command_argument(1, output)
    call get_command_argument(2, argument)
    read (argument, *) n
    call get_command_argument(3, argument)
    read (argument, *) k
    open (newunit=unit, file=trim(output), status='unknown', position='append', action='write', iostat=error)
    if (error /= 0) then
        write (0, '(a,a)') 'app_iterations: cannot open ', trim(output)
        stop 2
    end if

    do i = 1, n
        write (line, '(a,i0)') 'step ', i
        call append(trim(line))
        if (mod(i, k) == 0) then
            status = fermata_checkpoint(0_c_int, c_loc(result))
            select case (status)
            case (FERMATA_CHECKPOINTED)
                write (*, '(a,i0,a,i0)') 'step ', i, ': checkpointed ', result%checkpoint
            case (FERMATA_RESTARTED)
                write (line, '(a,i0,a,i0)') 'restarted from checkpoint ', result%checkpoint, ' generation ', result%generation
                call append(trim(line))
                write (*, '(a,i0,a,i0)') 'step ', i, ': restarted from ', result%checkpoint
            case (FERMATA_DISABLED)
                write (*, '(a,i0,a)') 'step ', i, ': fermata disabled'
            case default
                write (*, '(a,i0,a,a)') 'step ', i, ': checkpoint failed: ', fermata_error_message()
            end select
            flush (6)
        end if
        status = usleep(50000_c_int)
    end do
    close (unit)
    write (*, '(a,i0,a)') 'app_iterations: ', n, ' steps'

contains

    ! One line at the end of the output file, handed to the kernel at once.
    subroutine append(text)
        character(len=*), intent(in) :: text
        write (unit, '(a)') text
        flush (unit)
    end subroutine append
end program app_iterations
