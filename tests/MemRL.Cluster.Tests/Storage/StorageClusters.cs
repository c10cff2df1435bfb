using MemRL.Cluster.Tests.Fixtures;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Clusters whose silos use a named, configured store (not a shared instance), so that a cluster started again on the
/// same file or database sees only what storage kept. TestCluster configurators are types, so the settings are static.
/// </summary>
public static class StorageClusters
{

    internal static StorageOptions Options { get; set; } = new();

    public static StorageOptions Sqlite(string path, int snapshotEvery) =>
        new() { Provider = StorageProvider.Sqlite, SqlitePath = path, SnapshotEveryEvents = snapshotEvery };

    public static StorageOptions PostgreSql(string connectionString, int snapshotEvery) =>
        new() { Provider = StorageProvider.PostgreSql, PostgreSqlConnectionString = connectionString, SnapshotEveryEvents = snapshotEvery };

    public static async Task<TestCluster> StartAsync(StorageOptions options, int silos)
    {
        Options = options;
        var cluster = new TestClusterBuilder((short)silos).AddSiloBuilderConfigurator<SiloConfigurator>().Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Starts a cluster on <paramref name="options"/>, runs <paramref name="body"/> against it and stops it: one
    /// life of a cluster, so a test can start another on the same storage and see only what storage kept.</summary>
    public static async Task RunAsync(StorageOptions options, Func<MemRL.Client.MemoryClient, TestCluster, Task> body, int silos = 1)
    {
        var cluster = await StartAsync(options, silos);
        try
        {
            await body(new MemRL.Client.MemoryClient(cluster.Client), cluster);
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder)
        {
            var chosen = Options;
            builder.AddMemRL(o => o.RecallTokenKey = ClusterFixture.TokenKey).Configure<StorageOptions>(o =>
            {
                o.Provider = chosen.Provider;
                o.SqlitePath = chosen.SqlitePath;
                o.PostgreSqlConnectionString = chosen.PostgreSqlConnectionString;
                o.SnapshotEveryEvents = chosen.SnapshotEveryEvents;
            });
        }
    }
}

/// <summary>Restart and crash tests start and stop whole clusters: run them one at a time, apart from the other tests' clusters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StorageClusterCollection
{
    public const string Name = nameof(StorageClusterCollection);
}
