using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

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
    private static readonly string Root = FindRoot();

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
        int http = FreePort();
        var silo = new ProcessStartInfo("dotnet", [Path.Combine(Root, "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll")])
        {
            WorkingDirectory = work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        silo.Environment["MemRL__Api__Urls"] = $"http://127.0.0.1:{http}";
        silo.Environment["MemRL__Api__LocalKeyPath"] = keyFile;
        silo.Environment["MemRL__Cluster__SiloPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        silo.Environment["MemRL__Cluster__GatewayPort"] = FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        silo.Environment["MemRL__Storage__SqlitePath"] = Path.Combine(work, "memrl.db");
        using var process = Process.Start(silo)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            string url = $"http://127.0.0.1:{http}";
            using var client = new HttpClient();
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
            // The log is written by the process's reader threads: read it under the same lock, and only to fail.
            string Log()
            {
                lock (log)
                {
                    return log.ToString();
                }
            }

            while (!(File.Exists(keyFile) && await ReadyAsync(client, url)))
            {
                if (process.HasExited)
                {
                    Assert.Fail($"the silo exited: {Log()}");
                }

                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail($"the silo did not answer within a minute: {Log()}");
                }

                await Task.Delay(200);
            }

            string key = (await File.ReadAllTextAsync(keyFile)).Trim();
            var (code, output) = await RunAsync(Python()!,
                [Path.Combine(Root, "examples", "python", "agent_loop.py"), "--url", url, "--key", key, "--episodes", "120", "--seed", "7"],
                work, TimeSpan.FromMinutes(3));
            Assert.True(code == 0, output);
            Assert.Contains("agent loop OK", output, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Directory.Delete(work, recursive: true);
        }
    }

    internal static string? Python() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "python3")).FirstOrDefault(File.Exists);

    private static async Task<bool> ReadyAsync(HttpClient client, string url)
    {
        try
        {
            return (await client.GetAsync($"{url}/openapi/v1.json")).StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MemRL.Cluster.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new DirectoryNotFoundException("MemRL.Cluster.sln not found above the test binaries.");
    }
}
