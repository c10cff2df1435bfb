using System.Diagnostics;
using System.Globalization;

namespace MemRL.LocalCluster;

/// <summary>
/// A silo process started with the environment deploy/local/cluster.sh gives silo N (the Kubernetes manifests'
/// configuration on loopback). Shared by the chaos test and the scaling benchmark, so both run what users run.
/// </summary>
public sealed class LocalSilo
{
    private const int LogLines = 200;
    private readonly Process _process;
    private readonly Queue<string> _log = new();

    private LocalSilo(Process process, string url)
    {
        _process = process;
        Url = url;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The silo's HTTP address.</summary>
    public string Url { get; }

    /// <summary>
    /// The environment of silos 0..<paramref name="count"/>-1 from the script, pointed at the given PostgreSQL and
    /// Redis, with a cluster id of its own (several clusters may share one Redis) and <paramref name="overrides"/>.
    /// </summary>
    /// <param name="portBase">Offset added to the script's default ports (silo 11111, gateway 30000, HTTP 8081), so a
    /// test cluster keeps clear of others on the machine; 0 for the defaults.</param>
    /// <param name="azure">An Azure Storage connection string: the silos run as <c>MEMRL_LOCAL_STORAGE=azure</c> starts
    /// them (Orleans' Azure Table membership and reminders, banks and shards on Azure), and PostgreSQL and Redis go unused.</param>
    public static Dictionary<string, string>[] Environment(string root, string state, string clusterId, string postgres, string redis, int count,
        IReadOnlyDictionary<string, string>? overrides = null, int portBase = 0, string? azure = null)
    {
        var result = new Dictionary<string, string>[count];
        for (int n = 0; n < count; n++)
        {
            var script = new ProcessStartInfo("bash", [Path.Combine(root, "deploy", "local", "cluster.sh"), "env", n.ToString(CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
            };
            script.Environment["MEMRL_LOCAL_DIR"] = state;
            script.Environment["MEMRL_LOCAL_POSTGRES"] = postgres;
            script.Environment["MEMRL_LOCAL_REDIS"] = redis;
            if (azure is not null)
            {
                script.Environment["MEMRL_LOCAL_STORAGE"] = "azure";
                script.Environment["MEMRL_LOCAL_AZURE"] = azure;
            }

            script.Environment["MEMRL_LOCAL_SILO_PORT"] = (11111 + portBase).ToString(CultureInfo.InvariantCulture);
            script.Environment["MEMRL_LOCAL_GATEWAY_PORT"] = (30000 + portBase).ToString(CultureInfo.InvariantCulture);
            script.Environment["MEMRL_LOCAL_HTTP_PORT"] = (8081 + portBase).ToString(CultureInfo.InvariantCulture);
            using var process = Process.Start(script)!;
            string text = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"deploy/local/cluster.sh env {n} exited with {process.ExitCode}.");
            }

            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = line.IndexOf('=', StringComparison.Ordinal);
                env[line[..eq]] = line[(eq + 1)..];
            }

            env["MemRL__Cluster__ClusterId"] = clusterId;
            env["MemRL__Cluster__ServiceId"] = clusterId;
            foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
            {
                env[key] = value;
            }

            result[n] = env;
        }

        return result;
    }

    /// <summary>Starts the silo and waits until its readiness probe answers 200.</summary>
    public static async Task<LocalSilo> StartAsync(string root, Dictionary<string, string> env, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet", [Path.Combine(root, "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (key, value) in env)
        {
            start.Environment[key] = value;
        }

        var silo = new LocalSilo(Process.Start(start)!, env["MemRL__Api__Urls"]);
        var deadline = DateTime.UtcNow + timeout;
        using var http = new HttpClient();
        while (!await silo.IsReadyAsync(http))
        {
            if (silo._process.HasExited || DateTime.UtcNow > deadline)
            {
                bool exited = silo._process.HasExited;
                silo.Kill();
                throw new TimeoutException($"the silo at {silo.Url} did not become ready within {timeout} (exited: {exited}). Its output:\n{silo.Log}");
            }

            await Task.Delay(50);
        }

        return silo;
    }

    /// <summary>The silo's last output lines (standard output and error), for failure messages.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }

    /// <summary>Whether /health/ready answers 200.</summary>
    public async Task<bool> IsReadyAsync(HttpClient http)
    {
        try
        {
            return (await http.GetAsync($"{Url}/health/ready")).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL: no shutdown hooks, no graceful deactivation.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    /// <summary>SIGTERM, as Kubernetes stops a pod: the silo finishes in-flight calls, flushes commits and leaves the cluster.</summary>
    public async Task StopGracefullyAsync(TimeSpan timeout)
    {
        using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await term.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(timeout);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        // The reader threads write while a failing caller may read: one lock for both.
        lock (_log)
        {
            _log.Enqueue(line);
            if (_log.Count > LogLines)
            {
                _log.Dequeue();
            }
        }
    }

    /// <summary>The repository root: the directory above <paramref name="from"/> that holds MemRL.Cluster.sln.</summary>
    public static string FindRoot(string from)
    {
        var dir = new DirectoryInfo(from);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MemRL.Cluster.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new DirectoryNotFoundException($"MemRL.Cluster.sln not found above {from}.");
    }
}
