using MemRL.Cluster.Tests.Fixtures;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Clusters whose silos use a named, configured store (not a shared instance), so that a cluster started again on the
/// same file or database sees only what storage kept.
/// </summary>
public static class StorageClusters
{
    public static StorageOptions Sqlite(string path, int snapshotEvery) =>
        new() { Provider = StorageProvider.Sqlite, SqlitePath = path, SnapshotEveryEvents = snapshotEvery };

    public static StorageOptions PostgreSql(string connectionString, int snapshotEvery) =>
        new() { Provider = StorageProvider.PostgreSql, PostgreSqlConnectionString = connectionString, SnapshotEveryEvents = snapshotEvery };

    public static StorageOptions Azure(string connectionString, int snapshotEvery) =>
        new() { Provider = StorageProvider.Azure, AzureConnectionString = connectionString, SnapshotEveryEvents = snapshotEvery };

    public static async Task<InProcessTestCluster> StartAsync(StorageOptions options, int silos)
    {
        var cluster = TestClusters.Build(silos, silo => silo.Configure<StorageOptions>(o =>
        {
            o.Provider = options.Provider;
            o.SqlitePath = options.SqlitePath;
            o.PostgreSqlConnectionString = options.PostgreSqlConnectionString;
            o.AzureConnectionString = options.AzureConnectionString;
            o.SnapshotEveryEvents = options.SnapshotEveryEvents;
        }));
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Starts a cluster on <paramref name="options"/>, runs <paramref name="body"/> against it and stops it: one
    /// life of a cluster, so a test can start another on the same storage and see only what storage kept.</summary>
    public static async Task RunAsync(StorageOptions options, Func<MemRL.Client.MemoryClient, InProcessTestCluster, Task> body, int silos = 1)
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
}

/// <summary>Restart and crash tests start and stop whole clusters: run them one at a time, apart from the other tests' clusters.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class StorageClusterCollection
{
    public const string Name = nameof(StorageClusterCollection);
}
