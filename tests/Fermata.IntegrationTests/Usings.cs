global using Libc = Fermata.Linux.Interop.Libc;
