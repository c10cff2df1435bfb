using MemRL.Client;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>
/// Builds the in-process test clusters: every silo runs the MemRL grains with the shared token key, then what the caller
/// adds. Settings reach the silos through the builder's delegates, captured per cluster, never through statics, so two
/// clusters of one test run cannot see each other's settings.
/// </summary>
public static class TestClusters
{
    // Every silo of a cluster must share the token key; a fixed one keeps test runs reproducible.
    internal const string TokenKey = "bWVtcmwtdGVzdC1rZXktbWVtcmwtdGVzdC1rZXktMDEyMzQ1Njc4OQ==";

    /// <param name="configure">Runs for every silo, those added later included.</param>
    public static InProcessTestCluster Build(int silos, Action<ISiloBuilder> configure)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        // The retention schedule is off: tests run retention when they mean to (a test that wants it turns it on).
        builder.ConfigureSilo((_, silo) => configure(silo.AddMemRL(o =>
        {
            o.RecallTokenKey = TokenKey;
            o.RetentionInterval = TimeSpan.Zero;
        })));
        return builder.Build();
    }
}

/// <summary>
/// A cluster shared by the tests of one fixture, on a SQLite file of its own (every silo shares it, as the shards of a
/// bank share one database); each test uses fresh bank names.
/// </summary>
public abstract class SqliteClusterFixture : IAsyncLifetime
{
    protected SqliteClusterFixture(int silos, string name)
    {
        DatabasePath = TestDatabase.NewPath(name);
        Cluster = TestClusters.Build(silos, silo =>
        {
            silo.Configure<StorageOptions>(o => o.SqlitePath = DatabasePath);
            Configure(silo);
        });
    }

    public string DatabasePath { get; }

    public InProcessTestCluster Cluster { get; }

    public MemoryClient Memory => new(Cluster.Client);

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        TestDatabase.Delete(DatabasePath);
    }

    /// <summary>What this fixture's silos add (runs for every silo, when the cluster deploys or grows).</summary>
    protected virtual void Configure(ISiloBuilder silo)
    {
    }
}
