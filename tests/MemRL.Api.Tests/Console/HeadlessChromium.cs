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
    public static string? Path { get; } = ExternalProcess.OnPath("chromium") ?? ExternalProcess.OnPath("chromium-browser");

    /// <summary>
    /// The DOM of <paramref name="url"/> after its script ran. Virtual time runs ahead only while no request is in flight,
    /// so the budget covers the page's own timers, not the server's answers.
    /// </summary>
    public static async Task<string> DumpDomAsync(string url, TimeSpan timeout)
    {
        string profile = Directory.CreateTempSubdirectory("memrl-chromium-").FullName;
        try
        {
            // No session bus in CI: without DBUS_SESSION_BUS_ADDRESS=disabled: chromium waits on D-Bus calls that cannot succeed.
            var (code, output, errors) = await ExternalProcess.RunSeparatelyAsync(Path!,
                ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                 $"--user-data-dir={profile}", "--virtual-time-budget=4000", "--dump-dom", url],
                profile, timeout, new() { ["DBUS_SESSION_BUS_ADDRESS"] = "disabled:" });
            Assert.True(code == 0, $"chromium exited with {code}:\n{errors}");
            return output;
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
