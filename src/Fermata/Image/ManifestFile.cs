using System.Buffers.Binary;
using Fermata.Errors;
using Fermata.Image.Wire;
using Fermata.Linux;
using Fermata.Linux.Interop;

namespace Fermata.Image;

/// <summary>
/// manifest.img: a 32-byte header, then the body (the encoded records) in checksummed frames.
///
///   0  8  magic "FERMATA\0"
///   8  4  format version (little endian)
///  12  4  header size (32)
///  16  8  body length: the bytes after the header
///  24  8  XXH3-64 of the body
///
/// From version 4 the body is a sequence of frames, each a 4-byte payload length, the XXH3-64 of
/// the payload seeded with the frame's number (0, 1, ...), then the payload; the payloads one
/// after the other are the encoded root record. Frames let the manifest be written and read a
/// frame at a time, whatever its size: no array holds the whole of it, so no array's size limits
/// an image, and neither writing nor reading needs memory in proportion to it beyond the records
/// themselves. The header is written last, once the body's length and checksum are known.
///
/// A reader checks the header and the file's length before it reads a frame, and each frame's
/// checksum before it decodes it; the whole body's checksum is checked at the end, and nothing
/// decoded is returned before every check passed. Versions 2 and 3 (one body, no frames) are
/// still read.
/// </summary>
internal static class ManifestFile
{
    /// <summary>Bytes of payload the writer puts in a frame. Tests lower it (see
    /// <see cref="WithFrameSize"/>) to exercise many frames with a small manifest.</summary>
    private static int s_frameSize = 1 << 20;

    /// <summary>The largest frame a reader accepts, so that a damaged length cannot make it
    /// allocate more.</summary>
    public const int MaxFrameSize = 64 << 20;

    /// <summary>The largest top-level record a reader gathers (one process, one block...): a
    /// damaged length is refused before its bytes are collected.</summary>
    public const int MaxRecordSize = int.MaxValue - 4096;

    private const int FrameHeaderSize = 12;

    /// <summary>Writes frames of <paramref name="bytes"/> payload bytes until disposed (tests).</summary>
    internal static IDisposable WithFrameSize(int bytes)
    {
        if (bytes is < 1 or > MaxFrameSize) throw new ArgumentOutOfRangeException(nameof(bytes));
        int before = s_frameSize;
        s_frameSize = bytes;
        return new Restore(() => s_frameSize = before);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>Encodes <paramref name="record"/> into a new manifest at <paramref name="path"/>,
    /// frame by frame, and fsyncs it.</summary>
    public static void Write<T>(string path, T record) where T : IWireRecord<T>, new()
    {
        using var frames = new FrameWriter(path, s_frameSize);
        var w = new WireWriter(s_frameSize, frames.Append);
        T.Schema.Write(w, record);
        w.Flush();
        frames.Finish();
    }

    /// <summary>Writes a manifest whose body is <paramref name="body"/> (tests of the framing).</summary>
    public static void Write(string path, ReadOnlySpan<byte> body)
    {
        using var frames = new FrameWriter(path, s_frameSize);
        frames.Append(body);
        frames.Finish();
    }

    /// <summary>Writes frames: payload bytes gather in one frame's buffer, which is written when
    /// full. The header's place is left empty until <see cref="Finish"/>.</summary>
    private sealed class FrameWriter : IDisposable
    {
        private readonly SafeFd _fd;
        private readonly string _path;
        private readonly byte[] _frame;
        private readonly Checksum.Stream _body = new();
        private int _filled;
        private uint _number;
        private long _offset = ImageFormat.HeaderSize;

        public FrameWriter(string path, int frameSize)
        {
            _path = path;
            _frame = new byte[FrameHeaderSize + frameSize];
            _fd = SafeFd.Open(path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_TRUNC, ImageFormat.FileMode, path);
        }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                int take = Math.Min(bytes.Length, _frame.Length - FrameHeaderSize - _filled);
                bytes[..take].CopyTo(_frame.AsSpan(FrameHeaderSize + _filled));
                _filled += take;
                bytes = bytes[take..];
                if (FrameHeaderSize + _filled == _frame.Length) Emit();
            }
        }

        private unsafe void Emit()
        {
            if (_filled == 0) return;
            var payload = _frame.AsSpan(FrameHeaderSize, _filled);
            BinaryPrimitives.WriteUInt32LittleEndian(_frame, (uint)_filled);
            fixed (byte* p = payload)
                BinaryPrimitives.WriteUInt64LittleEndian(_frame.AsSpan(4), Checksum.Compute(p, (nuint)payload.Length, _number));
            var whole = _frame.AsSpan(0, FrameHeaderSize + _filled);
            _body.Append(whole);
            WriteAt(whole, _offset);
            _offset += whole.Length;
            _number++;
            _filled = 0;
        }

        public void Finish()
        {
            Emit();
            Span<byte> header = stackalloc byte[ImageFormat.HeaderSize];
            ImageFormat.Magic.CopyTo(header);
            BinaryPrimitives.WriteUInt32LittleEndian(header[8..], ImageFormat.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(header[12..], ImageFormat.HeaderSize);
            BinaryPrimitives.WriteUInt64LittleEndian(header[16..], (ulong)(_offset - ImageFormat.HeaderSize));
            BinaryPrimitives.WriteUInt64LittleEndian(header[24..], _body.Value);
            WriteAt(header, 0);
            if (Libc.FSync(_fd.Fd) < 0) throw Libc.Error($"fsync {_path}");
        }

        private unsafe void WriteAt(ReadOnlySpan<byte> bytes, long offset)
        {
            fixed (byte* p = bytes)
            {
                int done = 0;
                while (done < bytes.Length)
                {
                    nint n = Libc.PWrite(_fd.Fd, p + done, (nuint)(bytes.Length - done), offset + done);
                    if (n < 0) throw Libc.Error($"write {_path}");
                    done += (int)n;
                }
            }
        }

        public void Dispose()
        {
            _fd.Dispose();
            _body.Dispose();
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

    /// <summary>The format version a manifest's header names (for reports: <see cref="Read{T}"/>
    /// is what validates it).</summary>
    public static uint ReadVersion(string path)
    {
        using var f = File.OpenRead(path);
        Span<byte> header = stackalloc byte[12];
        f.ReadExactly(header);
        return BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
    }

    /// <summary>Reads, validates and decodes the manifest's root record, a frame at a time.</summary>
    public static T Read<T>(string path) where T : IWireRecord<T>, new()
    {
        var decoder = new Decoder<T>();
        ReadBody(path, decoder.Append);
        return decoder.Finish();
    }

    /// <summary>Reads and validates the manifest; returns its body (tests of the framing).</summary>
    public static byte[] Read(string path)
    {
        var body = new MemoryStream();
        ReadBody(path, bytes => body.Write(bytes));
        return body.ToArray();
    }

    /// <summary>Checks the header, then passes the body to <paramref name="payload"/> a frame at a
    /// time, each once its checksum is verified; checks the whole body's checksum at the end.</summary>
    private static void ReadBody(string path, Action<ReadOnlySpan<byte>> payload)
    {
        FileStream file;
        try { file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0); }
        catch (FileNotFoundException) { throw new ImageException($"{Path.GetDirectoryName(path)} is not a Fermata image (no {ImageFormat.ManifestFile})"); }
        catch (DirectoryNotFoundException) { throw new ImageException($"{Path.GetDirectoryName(path)} does not exist"); }
        catch (UnauthorizedAccessException) { throw new PermissionException($"permission denied reading {path}"); }
        catch (IOException e) { throw new ImageException($"cannot read {path}: {e.Message}"); }
        using (file)
        {
            try { ReadBody(path, file, payload); }
            catch (IOException e) { throw new ImageException($"cannot read {path}: {e.Message}"); }
        }
    }

    private static void ReadBody(string path, FileStream file, Action<ReadOnlySpan<byte>> payload)
    {
        long length = file.Length;
        var header = new byte[ImageFormat.HeaderSize];
        int got = file.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (got < 8 || !header.AsSpan(0, 8).SequenceEqual(ImageFormat.Magic))
            throw new ImageException($"{path} is not a Fermata image manifest");
        if (got < ImageFormat.HeaderSize)
            throw new ImageException($"image manifest {path} is truncated ({got} bytes)");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (version < ImageFormat.OldestReadable || version > ImageFormat.Version)
            throw new ImageException($"image format version {version} is not supported: this Fermata reads versions {ImageFormat.OldestReadable} to {ImageFormat.Version}");
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        ulong bodyLength = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(16));
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(24));
        if (headerSize != ImageFormat.HeaderSize)
            throw new ImageException($"image manifest {path} is damaged: header size {headerSize}");
        ulong actual = (ulong)(length - ImageFormat.HeaderSize);
        if (bodyLength != actual)
            throw new ImageException(actual < bodyLength
                ? $"image manifest {path} is truncated: {actual} of {bodyLength} bytes"
                : $"image manifest {path} is damaged: {actual - bodyLength} bytes of trailing data");

        using var body = new Checksum.Stream();
        if (version < ImageFormat.FramedSince)
        {
            // One body, checked whole before it is decoded.
            if (actual > int.MaxValue) throw new ImageException($"image manifest {path} is damaged: a version {version} body of {actual} bytes");
            var bytes = new byte[actual];
            file.ReadExactly(bytes);
            if (Checksum.Compute(bytes) != checksum)
                throw new ImageException($"image manifest {path} is damaged: checksum mismatch");
            payload(bytes);
            return;
        }

        byte[] frame = [];
        long offset = ImageFormat.HeaderSize;
        var frameHeader = new byte[FrameHeaderSize];
        for (uint number = 0; offset < length; number++)
        {
            if (length - offset < FrameHeaderSize)
                throw new ImageException($"image manifest {path} is damaged: frame {number} at byte {offset} is cut short");
            file.ReadExactly(frameHeader);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(frameHeader);
            ulong frameChecksum = BinaryPrimitives.ReadUInt64LittleEndian(frameHeader.AsSpan(4));
            if (size == 0 || size > MaxFrameSize || size > length - offset - FrameHeaderSize)
                throw new ImageException($"image manifest {path} is damaged: frame {number} at byte {offset} claims {size} bytes");
            if (frame.Length < size) frame = new byte[Math.Max(size, Math.Min(2 * frame.Length, MaxFrameSize))];
            var data = frame.AsSpan(0, (int)size);
            file.ReadExactly(data);
            if (FrameChecksum(data, number) != frameChecksum)
                throw new ImageException($"image manifest {path} is damaged: checksum mismatch in frame {number} (bytes {offset}-{offset + FrameHeaderSize + size})");
            body.Append(frameHeader);
            body.Append(data);
            payload(data);
            offset += FrameHeaderSize + size;
        }
        if (body.Value != checksum)
            throw new ImageException($"image manifest {path} is damaged: checksum mismatch");
    }

    private static unsafe ulong FrameChecksum(ReadOnlySpan<byte> data, uint number)
    {
        fixed (byte* p = data) return Checksum.Compute(p, (nuint)data.Length, number);
    }

    /// <summary>
    /// Decodes a root record from its encoding handed over in pieces of any size: the fields
    /// whole so far are decoded at once, the start of a field whose bytes have not all arrived is
    /// kept until they have. Memory: the decoded records, and at most one top-level record's bytes.
    /// </summary>
    private sealed class Decoder<T> where T : IWireRecord<T>, new()
    {
        private readonly T _record = new();
        private readonly bool[] _seen = new bool[T.Schema.FieldSlots];
        private byte[] _pending = [];
        private int _count;
        /// <summary>Bytes decoded so far: where the pending bytes start in the body.</summary>
        private long _consumed;

        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (_count == 0)
            {
                int used = Decode(bytes);
                Keep(bytes[used..]);
                return;
            }
            Keep(bytes);
            int done = Decode(_pending.AsSpan(0, _count));
            _pending.AsSpan(done, _count - done).CopyTo(_pending);
            _count -= done;
        }

        private int Decode(ReadOnlySpan<byte> bytes)
        {
            int whole = WireReader.WholeFields(bytes, T.Schema.What, _consumed, MaxRecordSize);
            var r = new WireReader(bytes[..whole], T.Schema.What, _consumed);
            T.Schema.ReadFields(ref r, _record, _seen);
            _consumed += whole;
            return whole;
        }

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            if (bytes.IsEmpty) return;
            if (_pending.Length - _count < bytes.Length)
            {
                long wanted = Math.Max((long)_count + bytes.Length, 2L * _pending.Length);
                Array.Resize(ref _pending, (int)Math.Min(wanted, Array.MaxLength));
            }
            bytes.CopyTo(_pending.AsSpan(_count));
            _count += bytes.Length;
        }

        public T Finish()
        {
            if (_count > 0)
                throw new ImageException($"image manifest is damaged: {T.Schema.What} at byte {_consumed}: the body ends inside a field ({_count} bytes of it)");
            T.Schema.Finish(_record, _seen);
            return _record;
        }
    }
}
