using k8s;
using k8s.Models;

namespace MemRL.Deploy.Tests;

/// <summary>
/// The Kubernetes manifests, validated offline: every file parses strictly as typed Kubernetes objects (an unknown
/// field or a wrong type fails), and what matters is asserted: probes, env, ports, rolling update, PDB, RBAC, and that
/// silos advertise their pod IP, never a Service VIP.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string Root = FindRoot();
    private static readonly string K8s = Path.Combine(Root, "deploy", "k8s");

    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string>();
        foreach (string file in ManifestFiles())
        {
            data.Add(Path.GetRelativePath(K8s, file));
        }

        return data;
    }

    private static IEnumerable<string> ManifestFiles() =>
        Directory.EnumerateFiles(K8s, "*.yaml", SearchOption.AllDirectories).Where(f => Path.GetFileName(f) != "kustomization.yaml").Order();

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Manifest_ParsesStrictly(string file)
    {
        var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(K8s, file)), strict: true);
        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.IsAssignableFrom<IKubernetesObject>(o));
    }

    [Fact]
    public void StrictParsing_RefusesAMisspeltField_AndAWrongType()
    {
        // The check above is only worth something if the parser is strict: prove it on two broken copies.
        string deployment = File.ReadAllText(Path.Combine(K8s, "base", "deployment.yaml"));
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(deployment.Replace("replicas: 3", "replicaz: 3", StringComparison.Ordinal), strict: true));
        Assert.ThrowsAny<Exception>(() => KubernetesYaml.LoadAllFromString(deployment.Replace("containerPort: 8080", "containerPort: eighty", StringComparison.Ordinal), strict: true));
    }

    [Fact]
    public void Kustomizations_ListExistingFiles_AndEveryManifestIsListed()
    {
        var listed = new HashSet<string>();
        foreach (string kustomization in Directory.EnumerateFiles(K8s, "kustomization.yaml", SearchOption.AllDirectories))
        {
            string dir = Path.GetDirectoryName(kustomization)!;
            foreach (string entry in Resources(kustomization))
            {
                string path = Path.GetFullPath(Path.Combine(dir, entry));
                Assert.True(File.Exists(path) || File.Exists(Path.Combine(path, "kustomization.yaml")), $"{kustomization} lists {entry}, which does not exist");
                listed.Add(path);
            }
        }

        foreach (string manifest in ManifestFiles())
        {
            Assert.Contains(manifest, listed);
        }
    }

    [Fact]
    public void Deployment_RollsOneAtATime_ProbesTheHealthEndpoints_AndNamesItsPorts()
    {
        var deployment = Single<V1Deployment>("base/deployment.yaml");
        Assert.Equal("RollingUpdate", deployment.Spec.Strategy.Type);
        Assert.Equal("0", deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value);
        var pod = deployment.Spec.Template.Spec;
        var silo = Assert.Single(pod.Containers);
        Assert.Equal("/health/startup", silo.StartupProbe.HttpGet.Path);
        Assert.Equal("/health/ready", silo.ReadinessProbe.HttpGet.Path);
        Assert.Equal("/health/live", silo.LivenessProbe.HttpGet.Path);
        Assert.All(new[] { silo.StartupProbe, silo.ReadinessProbe, silo.LivenessProbe }, p => Assert.Equal("http", p.HttpGet.Port.Value));
        var ports = silo.Ports.ToDictionary(p => p.Name, p => p.ContainerPort);
        Assert.Equal(new Dictionary<string, int> { ["http"] = 8080, ["silo"] = 11111, ["gateway"] = 30000 }, ports);
        Assert.NotNull(silo.Resources.Requests["memory"]);
        Assert.NotNull(silo.Resources.Limits["memory"]);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.False(silo.SecurityContext.AllowPrivilegeEscalation);
    }

    [Fact]
    public void Deployment_GivesOrleansThePodsIdentity_AndAdvertisesThePodIp()
    {
        var deployment = Single<V1Deployment>("base/deployment.yaml");
        var env = deployment.Spec.Template.Spec.Containers[0].Env.ToDictionary(e => e.Name, e => e.ValueFrom?.FieldRef?.FieldPath);
        Assert.Equal("metadata.name", env["POD_NAME"]);
        Assert.Equal("metadata.namespace", env["POD_NAMESPACE"]);
        Assert.Equal("status.podIP", env["POD_IP"]);
        // The silo's address is its own pod IP: a Service VIP would send silo-to-silo traffic to a random pod.
        Assert.Equal("status.podIP", env["MemRL__Cluster__AdvertisedAddress"]);
        var labels = deployment.Spec.Template.Metadata.Labels;
        Assert.Equal("metadata.labels['orleans/serviceId']", env["ORLEANS_SERVICE_ID"]);
        Assert.Equal("metadata.labels['orleans/clusterId']", env["ORLEANS_CLUSTER_ID"]);
        Assert.True(labels.ContainsKey("orleans/serviceId") && labels.ContainsKey("orleans/clusterId"));
        var config = Single<V1ConfigMap>("base/config.yaml");
        Assert.Equal(labels["orleans/clusterId"], config.Data["MemRL__Cluster__ClusterId"]);
        Assert.Equal(labels["orleans/serviceId"], config.Data["MemRL__Cluster__ServiceId"]);
    }

    [Fact]
    public void Deployment_OutlastsTheSilosGracefulStop_AndReadsTheConfigItShips()
    {
        var deployment = Single<V1Deployment>("base/deployment.yaml");
        var config = Single<V1ConfigMap>("base/config.yaml");
        var secret = Single<V1Secret>("base/config.yaml");
        var shutdown = TimeSpan.Parse(config.Data["MemRL__Cluster__ShutdownTimeout"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(deployment.Spec.Template.Spec.TerminationGracePeriodSeconds > shutdown.TotalSeconds,
            "the pod must not be killed before the silo's own shutdown timeout");
        var sources = deployment.Spec.Template.Spec.Containers[0].EnvFrom;
        Assert.Contains(sources, s => s.ConfigMapRef?.Name == config.Metadata.Name);
        Assert.Contains(sources, s => s.SecretRef?.Name == secret.Metadata.Name);
        // A multi-silo cluster refuses SQLite (one writer per file): the manifests must choose PostgreSQL and Redis.
        Assert.Equal("PostgreSql", config.Data["MemRL__Storage__Provider"]);
        Assert.Contains("MemRL__Storage__PostgreSqlConnectionString", secret.StringData.Keys);
        Assert.Contains("MemRL__Cluster__Redis", secret.StringData.Keys);
        Assert.Contains("MemRL__RecallTokenKey", secret.StringData.Keys);
        foreach (string key in config.Data.Keys.Concat(secret.StringData.Keys))
        {
            Assert.Matches(@"^MemRL__(Storage|Cluster|Api)__\w+|^MemRL__RecallTokenKey$", key);
        }
    }

    [Fact]
    public void ServicesAndBudget_SelectTheSilos_AndTargetNamedPorts()
    {
        var deployment = Single<V1Deployment>("base/deployment.yaml");
        var labels = deployment.Spec.Template.Metadata.Labels;
        var portNames = deployment.Spec.Template.Spec.Containers[0].Ports.Select(p => p.Name).ToHashSet();
        var services = Load("base/services.yaml").OfType<V1Service>().ToList();
        Assert.Equal(["memrl-gateway", "memrl-http"], services.Select(s => s.Metadata.Name).Order());
        foreach (var service in services)
        {
            Assert.All(service.Spec.Selector, kv => Assert.Equal(kv.Value, labels[kv.Key]));
            Assert.All(service.Spec.Ports, p => Assert.Contains(p.TargetPort.Value, portNames));
        }

        var pdb = Single<V1PodDisruptionBudget>("base/pdb.yaml");
        Assert.All(pdb.Spec.Selector.MatchLabels, kv => Assert.Equal(kv.Value, labels[kv.Key]));
        Assert.Equal("1", pdb.Spec.MaxUnavailable.Value);
    }

    [Fact]
    public void Rbac_LetsTheSiloWatchAndDeleteItsPods_AndNothingMore()
    {
        var objects = Load("base/rbac.yaml");
        var account = objects.OfType<V1ServiceAccount>().Single();
        var role = objects.OfType<V1Role>().Single();
        var binding = objects.OfType<V1RoleBinding>().Single();
        var rule = Assert.Single(role.Rules);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["delete", "get", "list", "patch", "watch"], rule.Verbs.Order());
        Assert.Equal(role.Metadata.Name, binding.RoleRef.Name);
        Assert.Equal(account.Metadata.Name, Assert.Single(binding.Subjects).Name);
        Assert.Equal(account.Metadata.Name, Single<V1Deployment>("base/deployment.yaml").Spec.Template.Spec.ServiceAccountName);
    }

    [Fact]
    public void Dockerfile_RunsAsNonRoot_AndExposesTheContainerPorts()
    {
        string[] lines = File.ReadAllLines(Path.Combine(Root, "deploy", "Dockerfile"));
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:", StringComparison.Ordinal));
        string user = Assert.Single(lines, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.DoesNotContain("root", user, StringComparison.Ordinal);
        var exposed = Assert.Single(lines, l => l.StartsWith("EXPOSE ", StringComparison.Ordinal))["EXPOSE ".Length..].Split(' ').Select(int.Parse).Order();
        var declared = Single<V1Deployment>("base/deployment.yaml").Spec.Template.Spec.Containers[0].Ports.Select(p => p.ContainerPort).Order();
        Assert.Equal(declared, exposed);
        Assert.Contains(lines, l => l.Contains("MemRL.Silo.dll", StringComparison.Ordinal) && l.StartsWith("ENTRYPOINT", StringComparison.Ordinal));
    }

    private static List<object> Load(string file) => KubernetesYaml.LoadAllFromString(File.ReadAllText(Path.Combine(K8s, file)), strict: true);

    private static T Single<T>(string file) => Load(file).OfType<T>().Single();

    private static IEnumerable<string> Resources(string kustomization)
    {
        bool inResources = false;
        foreach (string line in File.ReadAllLines(kustomization))
        {
            if (line.StartsWith("resources:", StringComparison.Ordinal))
            {
                inResources = true;
            }
            else if (inResources && line.TrimStart().StartsWith("- ", StringComparison.Ordinal))
            {
                yield return line.Trim()[2..].Trim();
            }
            else if (line.Length > 0 && !char.IsWhiteSpace(line[0]))
            {
                inResources = false;
            }
        }
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
