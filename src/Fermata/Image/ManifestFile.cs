using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>
/// manifest.img: a 32-byte header, then the body (the encoded records).
///
///   0  8  magic "FERMATA\0"
///   8  4  format version (little endian)
///  12  4  header size (32)
///  16  8  body length
///  24  8  XXH3-64 of the body
///
/// A reader checks every header field and the body's checksum before it decodes anything.
/// </summary>
internal static class ManifestFile
{
    public static void Write(string path, ReadOnlySpan<byte> body)
    {
        var bytes = new byte[ImageFormat.HeaderSize + body.Length];
        ImageFormat.Magic.CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), ImageFormat.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), ImageFormat.HeaderSize);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), (ulong)body.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(24), Checksum.Compute(body));
        body.CopyTo(bytes.AsSpan(ImageFormat.HeaderSize));
        using var fd = SafeFd.Open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC, ImageFormat.FileMode, path);
        WriteAll(fd, bytes, path);
        if (Libc.FSync(fd.Fd) < 0) throw Libc.Error($"fsync {path}");
    }

    private static unsafe void WriteAll(SafeFd fd, ReadOnlySpan<byte> bytes, string path)
    {
        fixed (byte* p = bytes)
        {
            int done = 0;
            while (done < bytes.Length)
            {
                nint n = Libc.Write(fd.Fd, p + done, (nuint)(bytes.Length - done));
                if (n < 0) throw Libc.Error($"write {path}");
                done += (int)n;
            }
        }
    }

    /// <summary>True when the file starts with the manifest magic (whatever its version).</summary>
    public static bool LooksLikeManifest(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[8];
            return f.ReadAtLeast(magic, 8, throwOnEndOfStream: false) == 8 && magic.SequenceEqual(ImageFormat.Magic);
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>Reads and validates the manifest; returns its body.</summary>
    public static byte[] Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ImageException($"{Path.GetDirectoryName(path)} is not a Fermata image (no {ImageFormat.ManifestFile})"); }
        catch (DirectoryNotFoundException) { throw new ImageException($"{Path.GetDirectoryName(path)} does not exist"); }
        catch (UnauthorizedAccessException) { throw new PermissionException($"permission denied reading {path}"); }
        catch (IOException e) { throw new ImageException($"cannot read {path}: {e.Message}"); }

        if (bytes.Length < 8 || !bytes.AsSpan(0, 8).SequenceEqual(ImageFormat.Magic))
            throw new ImageException($"{path} is not a Fermata image manifest");
        if (bytes.Length < ImageFormat.HeaderSize)
            throw new ImageException($"image manifest {path} is truncated ({bytes.Length} bytes)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
        if (version < ImageFormat.OldestReadable || version > ImageFormat.Version)
            throw new ImageException($"image format version {version} is not supported: this Fermata reads versions {ImageFormat.OldestReadable} to {ImageFormat.Version}");
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        ulong bodyLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(16));
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(24));
        if (headerSize != ImageFormat.HeaderSize)
            throw new ImageException($"image manifest {path} is damaged: header size {headerSize}");
        ulong actual = (ulong)(bytes.Length - ImageFormat.HeaderSize);
        if (bodyLength != actual)
            throw new ImageException(actual < bodyLength
                ? $"image manifest {path} is truncated: {actual} of {bodyLength} bytes"
                : $"image manifest {path} is damaged: {actual - bodyLength} bytes of trailing data");
        var body = bytes.AsSpan(ImageFormat.HeaderSize);
        if (Checksum.Compute(body) != checksum)
            throw new ImageException($"image manifest {path} is damaged: checksum mismatch");
        return body.ToArray();
    }
}
