using System.CommandLine;

namespace Fermata.Cli;

/// <summary>Arguments shared by several commands, with errors a user understands.</summary>
internal static class Arguments
{
    public static Argument<int> Pid(string description) => new("PID")
    {
        Description = description,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, out int pid) && pid > 0) return pid;
            result.AddError($"'{text}' is not a process ID");
            return 0;
        },
    };
}
