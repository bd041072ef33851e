#!/usr/bin/env python3
"""Single-thread speed and ratio of the block codecs Fermata can use, measured straight on the
system's libzstd.so.1 and liblz4.so.1 (ctypes; one call per 4 MiB block, so the call cost does
not show). Used to choose the levels in src/Fermata/Image/Codecs/BlockCompressor.cs.

    python3 bench/codecs.py            # table of MB/s and ratio per codec and level
"""
import ctypes, os, random, struct, math, time

BLOCK = 4 << 20
SAMPLE_PAGES, PAGE = 16, 4096
PROBE = SAMPLE_PAGES * PAGE

zstd = ctypes.CDLL("libzstd.so.1")
lz4 = ctypes.CDLL("liblz4.so.1")
for f in ("ZSTD_compressBound", "ZSTD_compressCCtx", "ZSTD_decompressDCtx", "ZSTD_isError"):
    getattr(zstd, f).restype = ctypes.c_size_t
zstd.ZSTD_createCCtx.restype = ctypes.c_void_p
zstd.ZSTD_createDCtx.restype = ctypes.c_void_p
zstd.ZSTD_compressCCtx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
zstd.ZSTD_decompressDCtx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
zstd.ZSTD_isError.argtypes = [ctypes.c_size_t]
cctx, dctx = zstd.ZSTD_createCCtx(), zstd.ZSTD_createDCtx()
lz4.LZ4_compress_fast.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
lz4.LZ4_decompress_safe.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]

CAP = BLOCK * 2
dst = ctypes.create_string_buffer(CAP)
back = ctypes.create_string_buffer(BLOCK)


def zstd_c(level):
    def c(src, n):
        r = zstd.ZSTD_compressCCtx(cctx, dst, CAP, src, n, level)
        assert not zstd.ZSTD_isError(r)
        return r
    return c


def zstd_d(stored):
    r = zstd.ZSTD_decompressDCtx(dctx, back, BLOCK, dst, stored)
    assert not zstd.ZSTD_isError(r)


def lz4_c(accel):
    return lambda src, n: lz4.LZ4_compress_fast(src, dst, n, CAP, accel)


def lz4_d(stored):
    assert lz4.LZ4_decompress_safe(dst, back, stored, BLOCK) == BLOCK


def random_block():
    return os.urandom(BLOCK)


def simulation_block():
    """What a numeric program's heap tends to hold: arrays of small integers, text records,
    a smooth float field, zeroed padding."""
    rnd = random.Random(1)
    parts = [struct.pack("<%di" % (128 << 10), *[i // 3 for i in range(128 << 10)])]
    lines = "".join("step %06d particle %5d x=%.4f y=%.4f state=%s\n" % (i, rnd.randrange(20000), rnd.random(), rnd.random(), rnd.choice(["ok", "hot", "cold"])) for i in range(40000))
    parts.append(lines.encode()[: 768 << 10])
    parts.append(struct.pack("<%dd" % (64 << 10), *[math.sin(i / 500.0) for i in range(64 << 10)]))
    parts.append(bytes(BLOCK // 2 - sum(map(len, parts))))
    return b"".join(parts)[: BLOCK // 2]


def random_doubles_block():
    """A float64 array of noise: the sign/exponent bytes repeat, the mantissas do not."""
    rnd = random.Random(2)
    return struct.pack("<%dd" % (BLOCK // 8), *[rnd.random() for _ in range(BLOCK // 8)])


def sample(data):
    """What BlockCompressor probes: 16 pages spread evenly over the block, side by side."""
    step = len(data) // SAMPLE_PAGES
    return b"".join(data[i * step: i * step + PAGE] for i in range(SAMPLE_PAGES))


def half_block():
    return os.urandom(BLOCK // 2) + simulation_block()


def best(f, reps):
    t = min(_timed(f) for _ in range(reps))
    return t


def _timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def measure(name, comp, decomp, data, reps=7):
    src = ctypes.create_string_buffer(data, len(data))
    # What the probe costs when it says "incompressible": one PROBE-sized compress.
    probe = ctypes.create_string_buffer(sample(data), PROBE)
    pt = best(lambda: comp(probe, PROBE), reps * 5)
    probe_raw = comp(probe, PROBE) > PROBE - PROBE // 32
    ct = best(lambda: comp(src, len(data)), reps)
    stored = comp(src, len(data))
    dt = best(lambda: decomp(stored), reps)
    mb = len(data) / 1e6
    verdict = "raw" if probe_raw else "compress"
    return f"{name:10} {mb / ct:9.0f} {mb / dt:9.0f} {len(data) / stored:6.2f} {PROBE / 1e6 / pt:10.0f}  {verdict}"


def main():
    print(f"single thread, 4 MiB blocks, best of 7; probe = compress {SAMPLE_PAGES} pages sampled evenly", flush=True)
    codecs = [(f"zstd {l}", zstd_c(l), zstd_d) for l in (-5, -3, -1, 1, 2, 3)]
    codecs += [(f"lz4 {a}", lz4_c(a), lz4_d) for a in (1, 2, 4, 8)]
    for label, data in (("random", random_block()), ("random float64", random_doubles_block()), ("half random, half arrays/text", half_block()), ("arrays/text only", simulation_block() * 2)):
        print(f"\n{label}\n{'codec':10} {'comp MB/s':>9} {'dec MB/s':>9} {'ratio':>6} {'probe MB/s':>10}  probe says")
        for name, c, d in codecs:
            print(measure(name, c, d, data))
    memcpy = ctypes.memmove
    src = ctypes.create_string_buffer(random_block(), BLOCK)
    print(f"\nmemcpy of 4 MiB: {BLOCK / 1e6 / best(lambda: memcpy(back, src, BLOCK), 7):.0f} MB/s")


if __name__ == "__main__":
    main()
