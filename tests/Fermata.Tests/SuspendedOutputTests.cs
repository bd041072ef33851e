using Fermata.Engine;
using Fermata.Errors;
using Fermata.Image;
using Fermata.Linux;
using Fermata.Resources;
using Fermata.Resources.Files;
using Fermata.Resources.Terminals;
using Fermata.Resources.Threads;

namespace Fermata.Tests;

/// <summary>
/// A pseudo-terminal whose output was suspended: what an image may say of it (echoes wait only for
/// suspended output; the stop character suspends only under IXON), the settings its queues are
/// written back under (IXON kept, since clearing it resumes output ^S suspended), and which line
/// end of typed input shows in the slave's count while the input is written back unechoed.
/// </summary>
public sealed class SuspendedOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fermata-suspended-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Termios Settings(uint inputFlags, uint localFlags)
    {
        var bytes = new byte[Termios.Size];
        BitConverter.GetBytes(inputFlags).CopyTo(bytes, 0);
        BitConverter.GetBytes(localFlags).CopyTo(bytes, 12);
        bytes[17 + Termios.VEOF] = 4;
        bytes[17 + Termios.VSTART] = 0x11;
        bytes[17 + Termios.VSTOP] = 0x13;
        return new Termios(bytes);
    }

    /// <summary>One process holding the master of a pair described by <paramref name="pair"/>.</summary>
    private string Image(TerminalRecord pair)
    {
        var m = new CheckpointManifest { Info = new ImageInfo { Id = "0123456789abcdef0123456789abcdef" } };
        var process = new ProcessRecord { Pid = 1 };
        process.Threads.Add(new ThreadRecord { Tid = 1, Registers = new byte[216], ExtendedState = new byte[576] });
        pair.Id = 1;
        pair.Kind = TerminalKind.Pty;
        pair.Path = "/dev/pts/7";
        pair.Rows = 24;
        pair.Columns = 80;
        m.Terminals.Add(pair);
        m.Descriptions.Add(new DescriptionRecord { Id = 1, Kind = DescriptionKind.PtyMaster, ObjectId = 1 });
        process.Descriptors.Add(new DescriptorRecord { Fd = 3, DescriptionId = 1 });
        m.Processes.Add(process);
        ManifestFile.Write(Path.Combine(_dir, ImageFormat.ManifestFile), m.Encode());
        File.WriteAllBytes(Path.Combine(_dir, ImageFormat.PagesFile), []);
        return _dir;
    }

    [Fact]
    public void SuspensionAndWaitingEchoesComeBackFromTheImage()
    {
        var settings = Settings(Termios.IXON, Termios.ICANON | Termios.ECHO);
        var pair = new TerminalRecord { Settings = settings.ToBytes(), Input = "abc"u8.ToArray(), OutputSuspended = OutputSuspension.StopCharacter, PendingEcho = "abc"u8.ToArray() };
        using var image = CheckpointImage.Open(Image(pair), verifyPages: false);
        var queues = image.Terminal(1).Queues(settings);
        Assert.Equal(OutputSuspension.StopCharacter, queues.Suspension);
        Assert.Equal("abc"u8.ToArray(), queues.Echoes);
    }

    [Fact]
    public void EchoesWaitingForOutputThatIsNotSuspendedAreRefused()
    {
        var pair = new TerminalRecord { Settings = Settings(Termios.IXON, Termios.ECHO).ToBytes(), PendingEcho = "x"u8.ToArray() };
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(Image(pair), verifyPages: false));
        Assert.Contains("echoes waiting for output that is not suspended", e.Message);
    }

    [Fact]
    public void OutputSuspendedByTheStopCharacterWithoutIxonIsRefused()
    {
        var pair = new TerminalRecord { Settings = Settings(0, Termios.ECHO).ToBytes(), OutputSuspended = OutputSuspension.StopCharacter };
        var e = Assert.Throws<ImageException>(() => CheckpointImage.Open(Image(pair), verifyPages: false));
        Assert.Contains("stop character without IXON", e.Message);
        pair.OutputSuspended = OutputSuspension.Tcflow;
        using var accepted = CheckpointImage.Open(Image(pair), verifyPages: false);
    }

    [Fact]
    public void InputIsWrittenBackWithIxonKeptAndTheFlowCharactersDisabled()
    {
        var settings = Settings(Termios.IXON | Termios.IXANY | Termios.ICRNL, Termios.ICANON | Termios.ECHO | Termios.ISIG);
        var echoed = PtyQueues.ForInput(settings, packetMode: false, endOfFileMarks: false, echo: true);
        Assert.Equal(Termios.IXON, echoed.InputFlags);
        Assert.Equal(Termios.Disabled, echoed[Termios.VSTART]);
        Assert.Equal(Termios.Disabled, echoed[Termios.VSTOP]);
        Assert.Equal(Termios.Disabled, echoed[Termios.VEOF]);
        Assert.Equal(Termios.ICANON | Termios.ECHO, echoed.LocalFlags);
        var unechoed = PtyQueues.ForInput(settings, packetMode: false, endOfFileMarks: true, echo: false);
        Assert.Equal(Termios.ICANON, unechoed.LocalFlags);
        Assert.Equal(4, unechoed[Termios.VEOF]);
        // In packet mode the flow settings stay as they are: changing them queues a status.
        var packet = PtyQueues.ForInput(settings, packetMode: true, endOfFileMarks: false, echo: true);
        Assert.Equal(Termios.IXON | Termios.IXANY, packet.InputFlags);
        Assert.Equal(0x11, packet[Termios.VSTART]);
    }

    [Theory]
    [InlineData("abc", false, -1)]        // a line being typed: nothing shows
    [InlineData("one\ntwo", false, 3)]    // the last complete line's end
    [InlineData("one\ntwo\n", false, 7)]
    [InlineData("x\u0004pa", true, 1)]     // a line ended by end of file shows its bytes
    [InlineData("a\n\u0004pa", true, 1)]   // an empty one adds nothing: the line before shows
    [InlineData("\u0004\u0004pa", true, -1)]
    [InlineData("a\u0004b", false, -1)]    // a literal VEOF ends nothing
    public void TheLineEndTheCountShowsIsTheLastThatAddsToIt(string input, bool endOfFileMarks, int expected)
    {
        var quiet = PtyQueues.ForInput(Settings(Termios.IXON, Termios.ICANON | Termios.ECHO), packetMode: false, endOfFileMarks, echo: false);
        Assert.Equal(expected, PtyUnechoedInput.LastShownLineEnd(System.Text.Encoding.ASCII.GetBytes(input), quiet, endOfFileMarks));
    }
}
