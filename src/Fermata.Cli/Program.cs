using System.CommandLine;
using Fermata.Cli.Commands;
using Fermata.Errors;

namespace Fermata.Cli;

/// <summary>
/// The fermata command line. Every failure Fermata anticipates is a <see cref="FermataException"/>
/// and is printed as one line on standard error with a non-zero exit; anything else is a bug and
/// is reported as such (with the stack trace when FERMATA_DEBUG is set).
/// </summary>
public static class Program
{
    public const int ExitError = 1;
    public const int ExitUsage = 2;
    public const int ExitInternal = 70;

    public static int Main(string[] args)
    {
        ProcessSetup.Prepare();
        // A plain command named like the entry script, so help and errors say "fermata".
        var root = new Command("fermata", "Fermata: transparent checkpoint and restore of Linux processes")
        {
            new System.CommandLine.Help.HelpOption(),
            new VersionOption(),
            CheckpointCommand.Create(),
            RestoreCommand.Create(),
            LaunchCommand.Create(),
            RestartCommand.Create(),
            JobsCommand.Create(),
            InspectCommand.Create(),
            VerifyCommand.Create(),
            GcCommand.Create(),
            RunCommand.Create(),
            DemoCommand.Create(),
            SchemaCommand.Create(),
            CheckpointAgentCommand.Create(),
        };
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke();
            return ExitUsage;
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line: the most telling problem (an unknown word before a missing one), and where to look.
            var error = parse.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parse.Errors[0];
            Console.Error.WriteLine($"fermata: {error.Message.TrimEnd('.')} (see 'fermata --help')");
            return ExitUsage;
        }
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (FermataException e)
        {
            return Fail(e.Message);
        }
        catch (Exception e)
        {
            if (Environment.GetEnvironmentVariable("FERMATA_DEBUG") is { Length: > 0 })
                Console.Error.WriteLine(e);
            else
                Console.Error.WriteLine($"fermata: internal error: {e.GetType().Name}: {e.Message} (set FERMATA_DEBUG=1 for details)");
            return ExitInternal;
        }
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"fermata: {message}");
        return ExitError;
    }
}
