using System.Security.Cryptography;
using System.Text;
using Fermata.Errors;
using Fermata.Linux;

namespace Fermata.Engine.Jobs.Programs;

/// <summary>
/// Where a job's programs find their launcher: /tmp/fermata-EUID/programs/ID.sock, named by the
/// job's id, so the same for the whole life of the job. A restored program keeps the environment
/// it was started with, across restarts and moves of the job's directory to another path or
/// host; the restarting launcher listens at the same path again. The directory is the user's own
/// and closed to everyone else (<see cref="PrivateDirectory"/>).
/// </summary>
internal static class ProgramSocket
{
    /// <summary>The environment variable that names the socket (docs/protocol.md).</summary>
    public const string Variable = "FERMATA_SOCKET";

    public static string PathFor(JobDirectory dir, JobSettings settings)
    {
        string folder = PrivateDirectory.Of("programs", out var problem)
            ?? throw new FermataException($"cannot place the socket the job's programs talk to: {problem}");
        // Jobs made before ids existed are named by their directory.
        string id = settings.Id.Length > 0 ? settings.Id
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(dir.Path)))[..16];
        return System.IO.Path.Combine(folder, id + ".sock");
    }
}
