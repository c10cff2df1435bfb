using System.Diagnostics;
using MemRL.LocalCluster;

namespace MemRL.Api.Tests;

/// <summary>Runs only where a python3 is on the PATH (.ci/run installs one); elsewhere it says why it skipped.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (PythonExampleTests.Python() is null)
        {
            Skip = "python3 is not on the PATH; install it (CI does) to run the Python example against a silo.";
        }
    }
}

/// <summary>
/// The Python example client (standard library only) against a real silo process started as a user starts it: its
/// own unit tests, then the agent loop over HTTP with the silo's generated local key.
/// </summary>
public sealed class PythonExampleTests
{
    private static readonly string Root = LocalSilo.FindRoot(AppContext.BaseDirectory);

    [PythonFact]
    public async Task ClientUnitTests_Pass()
    {
        var (code, output) = await RunAsync(Python()!, ["-m", "unittest", "-q"], Path.Combine(Root, "examples", "python"), TimeSpan.FromMinutes(2));
        Assert.True(code == 0, output);
    }

    [PythonFact]
    public async Task AgentLoop_LearnsAgainstARealSiloProcess()
    {
        string work = Directory.CreateTempSubdirectory("memrl-python-").FullName;
        string keyFile = Path.Combine(work, "api-key.local");
        string url = $"http://127.0.0.1:{ApiSilo.FreePort()}";
        // The embedded default as a user starts it (SQLite, a generated local key), on free ports.
        var env = new Dictionary<string, string>
        {
            ["MemRL__Api__Urls"] = url,
            ["MemRL__Api__LocalKeyPath"] = keyFile,
            ["MemRL__Cluster__SiloPort"] = ApiSilo.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MemRL__Cluster__GatewayPort"] = ApiSilo.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MemRL__Storage__SqlitePath"] = Path.Combine(work, "memrl.db"),
        };
        var silo = await LocalSilo.StartAsync(Root, env, TimeSpan.FromMinutes(1));
        try
        {
            string key = (await File.ReadAllTextAsync(keyFile)).Trim();
            var (code, output) = await RunAsync(Python()!,
                [Path.Combine(Root, "examples", "python", "agent_loop.py"), "--url", url, "--key", key, "--episodes", "120", "--seed", "7"],
                work, TimeSpan.FromMinutes(3));
            Assert.True(code == 0, $"{output}\nsilo output:\n{silo.Log}");
            Assert.Contains("agent loop OK", output, StringComparison.Ordinal);
        }
        finally
        {
            silo.Kill();
            Directory.Delete(work, recursive: true);
        }
    }

    internal static string? Python() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "python3")).FirstOrDefault(File.Exists);

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] args, string directory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file, args) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"timed out after {timeout}: {await stdout}{await stderr}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
