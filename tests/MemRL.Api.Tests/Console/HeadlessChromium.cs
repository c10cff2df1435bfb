using System.Diagnostics;

namespace MemRL.Api.Tests.Console;

/// <summary>Runs only where Debian's chromium is installed (.ci/run installs it): the console's browser test needs a real browser.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Path is null)
        {
            Skip = "chromium is not on the PATH; install Debian's chromium (apt-get install chromium; .ci/run does) to run the console's browser test.";
        }
        else if (!File.Exists(System.IO.Path.Combine(LocalClusterRoot.Root, "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll")))
        {
            Skip = "the silo is not built in Release (dotnet build silo -c Release; tests/run-tests.sh builds the solution).";
        }
    }
}

/// <summary>The repository root, found from the test's output folder.</summary>
internal static class LocalClusterRoot
{
    public static readonly string Root = MemRL.LocalCluster.LocalSilo.FindRoot(AppContext.BaseDirectory);
}

/// <summary>Headless chromium as a process: loads a page, lets its script run, and prints the DOM it built.</summary>
internal static class HeadlessChromium
{
    public static string? Path { get; } = SdkProcess.OnPath("chromium") ?? SdkProcess.OnPath("chromium-browser");

    /// <summary>
    /// The DOM of <paramref name="url"/> after its script ran. Virtual time runs ahead only while no request is in flight,
    /// so the budget covers the page's own timers, not the server's answers.
    /// </summary>
    public static async Task<string> DumpDomAsync(string url, TimeSpan timeout)
    {
        string profile = Directory.CreateTempSubdirectory("memrl-chromium-").FullName;
        try
        {
            var (code, output, errors) = await RunAsync(
                ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                 $"--user-data-dir={profile}", "--virtual-time-budget=4000", "--dump-dom", url], timeout);
            Assert.True(code == 0, $"chromium exited with {code}:\n{errors}");
            return output;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(string[] args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(Path!, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        // No session bus in CI: without this chromium waits on D-Bus calls that cannot succeed.
        start.Environment["DBUS_SESSION_BUS_ADDRESS"] = "disabled:";
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
            return (-1, await stdout, $"timed out after {timeout}: {await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
