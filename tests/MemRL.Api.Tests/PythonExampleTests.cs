using System.Diagnostics;
using MemRL.LocalCluster;

namespace MemRL.Api.Tests;

/// <summary>
/// Runs only where a python3 with venv (and its bundled pip) is on the PATH (.ci/run installs python3 and
/// python3-venv); elsewhere it says why it skipped.
/// </summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (PythonSdk.Python is null)
        {
            Skip = "python3 is not on the PATH; install it (CI does) to run the Python SDK and example against a silo.";
        }
        else if (!PythonSdk.HasVenv.Value)
        {
            Skip = "python3 cannot make a venv with pip (python3 -m venv; on Debian install python3-venv, CI does).";
        }
    }
}

/// <summary>
/// The Python SDK (sdk/python) installed as a user installs it: <c>pip install --no-index</c> into a fresh venv, which
/// proves the package builds offline with its in-tree backend. Every test below runs that venv's python, so
/// <c>import memrl</c> is the installed package and never the source tree.
/// </summary>
public sealed class PythonSdk : IAsyncLifetime
{
    internal static readonly string Root = LocalSilo.FindRoot(AppContext.BaseDirectory);
    internal static readonly string SdkPath = Path.Combine(Root, "sdk", "python");

    internal static string? Python { get; } = ExternalProcess.OnPath("python3");

    internal static readonly Lazy<bool> HasVenv = new(() =>
        Python is not null && ExternalProcess.RunAsync(Python, ["-c", "import venv, ensurepip"], Root, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().Code == 0);

    private string? _work;

    /// <summary>The venv's python; null when python3 cannot make one (the tests skip).</summary>
    public string? VenvPython { get; private set; }

    /// <summary>What installing printed, for failure messages.</summary>
    public string InstallLog { get; private set; } = "";

    /// <summary>Whether the venv was made and the package installed in it.</summary>
    public bool Installed { get; private set; }

    public async Task InitializeAsync()
    {
        if (Python is null || !HasVenv.Value)
        {
            return;
        }

        _work = Directory.CreateTempSubdirectory("memrl-python-sdk-").FullName;
        string venv = Path.Combine(_work, "venv");
        var made = await ExternalProcess.RunAsync(Python, ["-m", "venv", venv], _work, TimeSpan.FromMinutes(2));
        VenvPython = Path.Combine(venv, "bin", "python");
        // --no-index: nothing may come from a package index; the build backend needs nothing but the standard library.
        var installed = made.Code == 0
            ? await ExternalProcess.RunAsync(VenvPython, ["-m", "pip", "install", "--no-index", "--disable-pip-version-check", SdkPath], _work, TimeSpan.FromMinutes(2))
            : made;
        InstallLog = made.Output + installed.Output;
        Installed = made.Code == 0 && installed.Code == 0;
    }

    public Task DisposeAsync()
    {
        if (_work is not null)
        {
            Directory.Delete(_work, recursive: true);
        }

        return Task.CompletedTask;
    }
}

/// <summary>
/// The Python SDK and the example agent loop built on it: the SDK's unit tests (fake servers in the process) and the
/// example's offline tests, then the SDK's integration tests and the agent loop against a real silo process started
/// as a user starts it.
/// </summary>
public sealed class PythonExampleTests(PythonSdk sdk) : IClassFixture<PythonSdk>
{
    private static readonly string Root = PythonSdk.Root;

    [PythonFact]
    public async Task Sdk_InstallsIntoAFreshVenv_AndOfflineTestsPass()
    {
        Assert.True(sdk.Installed, $"pip install --no-index sdk/python into a fresh venv failed:\n{sdk.InstallLog}");
        string venv = Path.GetDirectoryName(Path.GetDirectoryName(sdk.VenvPython))!;
        var (code, where) = await ExternalProcess.RunAsync(sdk.VenvPython!, ["-c", "import memrl; print(memrl.__file__)"], Path.GetTempPath(), TimeSpan.FromMinutes(1));
        Assert.True(code == 0, where);
        Assert.StartsWith(venv, where.Trim(), StringComparison.Ordinal);

        (code, string output) = await ExternalProcess.RunAsync(sdk.VenvPython!, ["-m", "unittest", "discover", "-s", Path.Combine(PythonSdk.SdkPath, "tests"), "-v"],
            Path.GetTempPath(), TimeSpan.FromMinutes(3));
        Assert.True(code == 0, output);
        Assert.Matches(@"Ran [1-9]\d* tests", output);

        (code, output) = await ExternalProcess.RunAsync(sdk.VenvPython!, ["-m", "unittest", "-q"], Path.Combine(Root, "examples", "python"), TimeSpan.FromMinutes(3));
        Assert.True(code == 0, output);
    }

    [PythonFact]
    public async Task SdkAndAgentLoop_AgainstARealSiloProcess()
    {
        Assert.True(sdk.Installed, $"pip install --no-index sdk/python into a fresh venv failed:\n{sdk.InstallLog}");
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
            var (code, output) = await ExternalProcess.RunAsync(sdk.VenvPython!,
                ["-m", "unittest", "discover", "-s", Path.Combine(PythonSdk.SdkPath, "tests"), "-p", "test_integration.py", "-v"],
                work, TimeSpan.FromMinutes(3), new() { ["MEMRL_URL"] = url, ["MEMRL_API_KEY"] = key });
            Assert.True(code == 0, $"{output}\nsilo output:\n{silo.Log}");
            Assert.DoesNotContain("skipped", output, StringComparison.Ordinal);
            Assert.Matches(@"Ran [1-9]\d* tests", output);

            (code, output) = await ExternalProcess.RunAsync(sdk.VenvPython!,
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
}
