using System.Diagnostics;
using k8s;
using k8s.Models;

namespace MemRL.Deploy.Tests;

/// <summary>Runs only where bash and python3 are on the PATH (CI has both); elsewhere it says why it skipped.</summary>
public sealed class ScriptFactAttribute : FactAttribute
{
    public ScriptFactAttribute(bool needsKubectl = false)
    {
        if (LocalClusterScriptTests.OnPath("bash") is null || LocalClusterScriptTests.Python.Value is null)
        {
            Skip = "bash, or a python3 with PyYAML (Debian: python3-yaml), is missing; deploy/local-cluster needs both.";
        }
        else if (needsKubectl && LocalClusterScriptTests.OnPath("kubectl") is null)
        {
            Skip = "kubectl is not on the PATH (kustomize is not packaged by Debian); render.py cannot be compared with it here.";
        }
    }
}

/// <summary>
/// deploy/local-cluster offline: what CI can afford of the container run (the real run builds a debootstrap root and
/// three images, minutes to tens of minutes; docs/deploy.md records it). The dry run renders the overlay and plans
/// the pods podman plays; the pods must be valid Kubernetes Pods carrying what pods.py promises to change and nothing
/// of the placeholders or of the downward-API field podman refuses.
/// </summary>
public sealed class LocalClusterScriptTests : IDisposable, IClassFixture<LocalClusterScriptTests.DryRun>
{
    private static readonly string Root = FindRoot();
    private static readonly string Here = Path.Combine(Root, "deploy", "local-cluster");
    private readonly string _state = Directory.CreateTempSubdirectory("memrl-local-cluster-test-").FullName;
    private readonly DryRun _dryRun;

    public LocalClusterScriptTests(DryRun dryRun) => _dryRun = dryRun;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    /// <summary>One `run.sh --dry-run` shared by the tests that read its output (it takes seconds: kubectl, python).</summary>
    public sealed class DryRun : IDisposable
    {
        private readonly Lazy<(int Code, string Output)> _result;

        public DryRun() => _result = new(() => Run("bash", [Path.Combine(Here, "run.sh"), "--dry-run"], State));

        public string State { get; } = Directory.CreateTempSubdirectory("memrl-local-cluster-dry-run-").FullName;

        public (int Code, string Output) Result => _result.Value;

        public void Dispose() => Directory.Delete(State, recursive: true);
    }

    [ScriptFact]
    public void DryRun_PlansThreeSiloPodsAndTheStorage_AndReportsWhatDoesNotRun()
    {
        var (code, output) = _dryRun.Result;

        Assert.True(code == 0, output);
        Assert.Contains("ran      Deployment/memrl-silo: 3 pod(s) memrl-silo-0, memrl-silo-1, memrl-silo-2", output);
        Assert.Contains("ran      StatefulSet/memrl-postgres: 1 pod(s) memrl-postgres-0", output);
        Assert.Contains("emulated Service/memrl-postgres: DNS alias of pod memrl-postgres-0", output);
        Assert.Contains("not run  PodDisruptionBudget/memrl-silo", output);
        Assert.Contains("not run  Service/memrl-http", output);
        string[] pods = Directory.GetFiles(Path.Combine(_dryRun.State, "pods"), "*.yaml").Select(Path.GetFileNameWithoutExtension).Order().ToArray()!;
        Assert.Equal(["memrl-postgres-0", "memrl-redis-0", "memrl-silo-0", "memrl-silo-1", "memrl-silo-2"], pods);
    }

    [ScriptFact]
    public void DryRun_SiloPods_ParseStrictly_AdvertiseTheirOwnAddress_AndCarryNoPlaceholder()
    {
        var (code, output) = _dryRun.Result;
        Assert.True(code == 0, output);

        var addresses = File.ReadAllLines(Path.Combine(_dryRun.State, "pods", "pods.tsv"))
            .Select(line => line.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        Assert.Equal(addresses.Count, addresses.Values.Distinct().Count());
        for (int i = 0; i < 3; i++)
        {
            string name = $"memrl-silo-{i}";
            var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(_dryRun.State, "pods", name + ".yaml")), strict: true);
            var pod = Assert.Single(objects.OfType<V1Pod>());
            var container = Assert.Single(pod.Spec.Containers);
            var env = container.Env.ToDictionary(e => e.Name);

            Assert.Equal(name, pod.Metadata.Name);
            Assert.Equal(addresses[name], env["MemRL__Cluster__AdvertisedAddress"].Value);
            Assert.Equal(addresses[name], env["POD_IP"].Value);
            Assert.DoesNotContain(container.Env, e => e.ValueFrom?.FieldRef?.FieldPath == "status.podIP");
            Assert.DoesNotContain(container.Env, e => e.Value?.Contains("REPLACE", StringComparison.Ordinal) == true);
            Assert.Equal("local", env["MemRL__Api__Keys__0__Tenant"].Value);
            Assert.Equal(64, env["MemRL__Api__Keys__0__Sha256"].Value.Length);
            Assert.Equal(32, Convert.FromBase64String(env["MemRL__RecallTokenKey"].Value).Length);
            Assert.DoesNotContain(container.EnvFrom, e => e.SecretRef is not null);
            Assert.Contains(container.EnvFrom, e => e.ConfigMapRef?.Name == "memrl-silo");
            Assert.Equal(18080 + i, Assert.Single(container.Ports, p => p.Name == "http").HostPort);
            Assert.Equal("/health/startup", container.StartupProbe.HttpGet.Path);
            Assert.Contains(objects, o => o is V1ConfigMap);
        }
    }

    [ScriptFact]
    public void RenderPy_RefusesAKustomizationFieldItDoesNotSupport_NamingIt()
    {
        File.WriteAllText(Path.Combine(_state, "kustomization.yaml"), "resources: []\npatches:\n  - path: p.yaml\n");

        var (code, output) = Run(Python.Value!, [Path.Combine(Here, "render.py"), _state], _state);

        Assert.Equal(1, code);
        Assert.Contains("field 'patches' is not supported by render.py", output);
    }

    [ScriptFact(needsKubectl: true)]
    public void RenderPy_GivesTheObjectsKubectlKustomizeGives()
    {
        var (code, ours) = Run(Python.Value!, [Path.Combine(Here, "render.py"), Here], _state);
        Assert.True(code == 0, ours);
        var (kubectlCode, theirs) = Run("kubectl", ["kustomize", Here], _state);
        Assert.True(kubectlCode == 0, theirs);

        Assert.Equal(Canonical(theirs), Canonical(ours));
        Assert.Equal(14, Canonical(ours).Count);
    }

    private static List<string> Canonical(string yaml) =>
        KubernetesYaml.LoadAllFromString(yaml, strict: true).Select(o => KubernetesJson.Serialize(o)).ToList();

    private static (int Code, string Output) Run(string program, string[] args, string state)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Root };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["MEMRL_PODMAN_DIR"] = state;
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} ran over 3 minutes");
        }

        return (process.ExitCode, stdout + stderr.Result);
    }

    /// <summary>A python3 that can import yaml, as run.sh looks for one: the PATH's, else Debian's.</summary>
    internal static readonly Lazy<string?> Python = new(() =>
        new[] { OnPath("python3"), "/usr/bin/python3" }.FirstOrDefault(p => p is not null && File.Exists(p) && ImportsYaml(p)));

    private static bool ImportsYaml(string python)
    {
        using var process = Process.Start(new ProcessStartInfo(python, ["-c", "import yaml"]) { RedirectStandardError = true })!;
        process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0;
    }

    internal static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, program)).FirstOrDefault(File.Exists);

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
