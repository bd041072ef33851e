using System.Diagnostics;
using System.Globalization;

namespace Fermata.Cli;

/// <summary>
/// Shows a checkpoint's or a restore's progress on standard error once it has lasted a second:
/// on a terminal, one line redrawn in place (phase, bytes, rate, time left); otherwise a plain
/// line every few seconds, so logs show it went on. Standard output stays free for the command's
/// result. Reports arrive on the engine's worker threads, hence the lock.
/// </summary>
internal sealed class ProgressLine : IProgress<OperationProgress>, IDisposable
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PlainEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RedrawEvery = TimeSpan.FromMilliseconds(100);

    private readonly bool _inPlace;
    private readonly TextWriter _out;
    private readonly Func<TimeSpan> _elapsed;
    private readonly Lock _lock = new();
    private OperationPhase? _phase;
    private TimeSpan _phaseStart, _lastDrawn;
    private bool _drawn;
    private int _width;

    /// <param name="output">Where the line goes (standard error).</param>
    /// <param name="inPlace">Redraw one line (default: when stdout and stderr are terminals).</param>
    /// <param name="elapsed">Time since the operation began (tests pass their own clock).</param>
    public ProgressLine(TextWriter? output = null, bool? inPlace = null, Func<TimeSpan>? elapsed = null)
    {
        _out = output ?? Console.Error;
        if (elapsed == null)
        {
            var clock = Stopwatch.StartNew();
            elapsed = () => clock.Elapsed;
        }
        _elapsed = elapsed;
        _inPlace = inPlace ?? (!Console.IsOutputRedirected && !Console.IsErrorRedirected);
    }

    public void Report(OperationProgress value)
    {
        lock (_lock)
        {
            var now = _elapsed();
            if (value.Phase != _phase)
            {
                _phase = value.Phase;
                _phaseStart = now;
            }
            if (now < Quiet || (_drawn && now - _lastDrawn < (_inPlace ? RedrawEvery : PlainEvery))) return;
            _drawn = true;
            _lastDrawn = now;
            string text = Describe(value, now - _phaseStart);
            if (_inPlace)
            {
                if (value.BytesTotal > 0) text = Bar(value.Fraction) + " " + text;
                _out.Write("\r" + text.PadRight(_width));
                _width = text.Length;
            }
            else _out.WriteLine(text);
            _out.Flush();
        }
    }

    /// <summary>A bar of <see cref="BarWidth"/> cells, as full as the phase is done.</summary>
    internal static string Bar(double fraction)
    {
        int full = (int)Math.Round(Math.Clamp(fraction, 0, 1) * BarWidth);
        return "[" + new string('#', full) + new string('.', BarWidth - full) + "]";
    }

    private const int BarWidth = 24;

    /// <summary>"fermata: memory 1.2 GiB of 3.0 GiB (40%), 450.0 MiB/s, 4 s left".</summary>
    internal static string Describe(OperationProgress p, TimeSpan inPhase)
    {
        string phase = p.Phase.ToString().ToLowerInvariant();
        if (p.BytesTotal <= 0) return $"fermata: {phase}...";
        string text = string.Create(CultureInfo.InvariantCulture,
            $"fermata: {phase} {Format.Bytes((ulong)p.BytesDone)} of {Format.Bytes((ulong)p.BytesTotal)} ({p.Fraction * 100:0}%)");
        double seconds = inPhase.TotalSeconds;
        if (seconds < 0.2 || p.BytesDone <= 0) return text;
        double rate = p.BytesDone / seconds;
        double left = (p.BytesTotal - p.BytesDone) / rate;
        return string.Create(CultureInfo.InvariantCulture, $"{text}, {Format.Bytes((ulong)rate)}/s, {left:0} s left");
    }

    /// <summary>Clears the line drawn in place, so the command's own output starts clean.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_inPlace && _width > 0)
            {
                _out.Write("\r" + new string(' ', _width) + "\r");
                _out.Flush();
                _width = 0;
            }
        }
    }
}
