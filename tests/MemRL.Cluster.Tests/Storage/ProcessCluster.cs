using MemRL.Client;
using MemRL.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Real silo processes as deploy/local starts them (Redis membership, PostgreSQL data; the test's PostgreSQL and Redis
/// from MEMRL_TEST_POSTGRES / MEMRL_TEST_REDIS, see <see cref="ProcessClusterFactAttribute"/>), with a client connected.
/// Disposing kills whatever still runs and removes the silos' state folder.
/// </summary>
internal sealed class ProcessCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly string _state;
    private readonly Dictionary<string, string>[] _env;
    private readonly LocalSilo?[] _silos;
    private readonly TimeSpan _ready;
    private IHost? _host;

    private ProcessCluster(string root, string state, Dictionary<string, string>[] env, TimeSpan ready)
    {
        _root = root;
        _state = state;
        _env = env;
        _ready = ready;
        _silos = new LocalSilo?[env.Length];
    }

    /// <summary>The client over the cluster.</summary>
    public MemoryClient Memory { get; private set; } = null!;

    /// <summary>How many silos the cluster has.</summary>
    public int Count => _silos.Length;

    /// <summary>
    /// Starts <paramref name="silos"/> silos on ports from <paramref name="portBase"/> (each test its own range, clear of
    /// the others and of TestCluster silos) and connects a client.
    /// </summary>
    /// <param name="azure">An Azure Storage connection string (Azurite's in the tests): the silos keep membership,
    /// reminders, banks and shards there instead of Redis and PostgreSQL, and the client finds them through it.</param>
    public static async Task<ProcessCluster> StartAsync(
        string purpose, int silos, int portBase, IReadOnlyDictionary<string, string>? overrides = null, TimeSpan? ready = null, string? azure = null)
    {
        string clusterId = $"{purpose}-{Guid.NewGuid():N}";
        string root = LocalSilo.FindRoot(AppContext.BaseDirectory);
        string state = Directory.CreateTempSubdirectory($"memrl-{purpose}-").FullName;
        string redis = Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS") ?? "";
        var env = LocalSilo.Environment(root, state, clusterId, PostgreSqlFactAttribute.ConnectionString ?? "", redis, silos, overrides, portBase, azure);
        var cluster = new ProcessCluster(root, state, env, ready ?? TimeSpan.FromSeconds(60));
        try
        {
            for (int i = 0; i < silos; i++)
            {
                await cluster.StartSiloAsync(i);
            }

            cluster._host = azure is null ? await LocalClusterClient.ConnectAsync(clusterId, redis) : await LocalClusterClient.ConnectAzureAsync(clusterId, azure);
            cluster.Memory = new MemoryClient(cluster._host.Services.GetRequiredService<IClusterClient>());
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILLs silo <paramref name="index"/> and starts it again on the same ports and state.</summary>
    public async Task KillAndRestartAsync(int index)
    {
        _silos[index]!.Kill();
        await StartSiloAsync(index);
    }

    /// <summary>Stops silo <paramref name="index"/> as a rolling update does (SIGTERM, then wait) and starts it again.</summary>
    public async Task RollAsync(int index, TimeSpan stopTimeout)
    {
        await _silos[index]!.StopGracefullyAsync(stopTimeout);
        await StartSiloAsync(index);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _host.StopAsync(stopping.Token);
            _host.Dispose();
        }

        foreach (var silo in _silos)
        {
            silo?.Kill();
        }

        Directory.Delete(_state, recursive: true);
    }

    private async Task StartSiloAsync(int index) => _silos[index] = await LocalSilo.StartAsync(_root, _env[index], _ready);
}
