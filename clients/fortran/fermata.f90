! fermata.f90: the Fortran client of Fermata's program protocol (docs/protocol.md), a thin layer
! over the C client (clients/c/fermata.h) through ISO_C_BINDING. Link the program against an object
! of clients/c/fermata.c and pthreads:
!
!     gcc -O2 -pthread -c clients/c/fermata.c -o fermata_c.o
!     gfortran -O2 clients/fortran/fermata.f90 program.f90 fermata_c.o -pthread -o program
!
!     use fermata
!     type(fermata_checkpoint_result_t), target :: result
!     select case (fermata_checkpoint(0, c_loc(result)))
!     case (FERMATA_CHECKPOINTED)   ! saved, going on
!     case (FERMATA_RESTARTED)      ! this is the restored program: reopen what it needs
!     case (FERMATA_DISABLED)       ! not under Fermata
!     case default                  ! refused or failed: print fermata_error_message()
!     end select
!
! Pass c_null_ptr instead of c_loc(result) when the result is not wanted. Event hooks
! (fermata_register) are not offered here: a hook runs on a thread of the C client's own.
module fermata
    use, intrinsic :: iso_c_binding, only: c_int, c_double, c_char, c_size_t, c_ptr, c_null_ptr, c_loc, &
        c_null_char, c_associated, c_f_pointer
    implicit none
    private
    public :: c_ptr, c_null_ptr, c_loc
    public :: fermata_is_enabled, fermata_checkpoint, fermata_info, fermata_last_error
    public :: fermata_info_t, fermata_checkpoint_result_t, fermata_string, fermata_error_message

    ! Results: 0 always means "not under Fermata", -1 an error (see fermata_error_message).
    integer(c_int), parameter, public :: FERMATA_ERROR = -1
    integer(c_int), parameter, public :: FERMATA_DISABLED = 0
    integer(c_int), parameter, public :: FERMATA_OK = 1
    integer(c_int), parameter, public :: FERMATA_CHECKPOINTED = 1  ! the program that goes on after it
    integer(c_int), parameter, public :: FERMATA_RESTARTED = 2     ! the program restored from it

    ! fermata_checkpoint's flags (add them to combine).
    integer(c_int), parameter, public :: FERMATA_NEXT_INTERVAL = 1 ! wait for the next --interval checkpoint
    integer(c_int), parameter, public :: FERMATA_STOP = 2          ! stop the job after it

    ! struct fermata_info: what the launcher knows of the job. The strings are NUL-terminated C
    ! strings; fermata_string turns one into a Fortran string.
    type, bind(C) :: fermata_info_t
        integer(c_int) :: generation                 ! 1 after launch, one more after each restart
        integer(c_int) :: restored_from              ! 0 after launch
        integer(c_int) :: checkpoint                 ! the latest checkpoint; 0 when none
        real(c_double) :: seconds_since_checkpoint
        real(c_double) :: interval                   ! --interval in seconds; 0 when none
        character(kind=c_char) :: directory(4096)
        character(kind=c_char) :: latest(4096)
    end type fermata_info_t

    ! struct fermata_checkpoint_result: which checkpoint a fermata_checkpoint call took part in.
    type, bind(C) :: fermata_checkpoint_result_t
        integer(c_int) :: checkpoint
        integer(c_int) :: generation
        character(kind=c_char) :: path(4096)
    end type fermata_checkpoint_result_t

    interface
        ! 1 when running under a Fermata launcher that answers, else 0.
        function fermata_is_enabled() bind(C, name="fermata_is_enabled")
            import :: c_int
            integer(c_int) :: fermata_is_enabled
        end function fermata_is_enabled

        ! Asks for a checkpoint of the whole job and waits: FERMATA_CHECKPOINTED in the program
        ! that goes on, FERMATA_RESTARTED in the one restored from it, FERMATA_DISABLED, or -1.
        ! result: c_loc of a fermata_checkpoint_result_t with the target attribute, or c_null_ptr.
        function fermata_checkpoint(flags, result) bind(C, name="fermata_checkpoint")
            import :: c_int, c_ptr
            integer(c_int), value :: flags
            type(c_ptr), value :: result
            integer(c_int) :: fermata_checkpoint
        end function fermata_checkpoint

        ! Fills info: FERMATA_OK, FERMATA_DISABLED, or -1.
        function fermata_info(info) bind(C, name="fermata_info")
            import :: c_int, fermata_info_t
            type(fermata_info_t), intent(out) :: info
            integer(c_int) :: fermata_info
        end function fermata_info

        ! The C string saying why the last call failed; fermata_error_message is easier to use.
        function fermata_last_error() bind(C, name="fermata_last_error")
            import :: c_ptr
            type(c_ptr) :: fermata_last_error
        end function fermata_last_error

        function fermata_strlen(s) bind(C, name="strlen")
            import :: c_ptr, c_size_t
            type(c_ptr), value :: s
            integer(c_size_t) :: fermata_strlen
        end function fermata_strlen
    end interface

contains

    ! A NUL-terminated C string held in a character array (a field of the types above), as a
    ! Fortran string of its length.
    function fermata_string(chars) result(text)
        character(kind=c_char), intent(in) :: chars(:)
        character(len=:), allocatable :: text
        integer :: n, i
        n = 0
        do while (n < size(chars))
            if (chars(n + 1) == c_null_char) exit
            n = n + 1
        end do
        allocate(character(len=n) :: text)
        do i = 1, n
            text(i:i) = chars(i)
        end do
    end function fermata_string

    ! Why the last call failed, as a Fortran string ("" when nothing failed).
    function fermata_error_message() result(text)
        character(len=:), allocatable :: text
        type(c_ptr) :: p
        character(kind=c_char), pointer :: chars(:)
        integer(c_size_t) :: n
        p = fermata_last_error()
        if (.not. c_associated(p)) then
            text = ""
            return
        end if
        n = fermata_strlen(p)
        call c_f_pointer(p, chars, [n + 1])
        text = fermata_string(chars)
    end function fermata_error_message
end module fermata
