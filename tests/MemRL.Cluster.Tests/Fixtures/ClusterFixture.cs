using MemRL.Client;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>A two-silo cluster shared by the tests of one collection; each test uses fresh bank names.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    // Every silo of a cluster must share the token key; a fixed one keeps test runs reproducible.
    internal const string TokenKey = "bWVtcmwtdGVzdC1rZXktbWVtcmwtdGVzdC1rZXktMDEyMzQ1Njc4OQ==";

    public TestCluster Cluster { get; } = new TestClusterBuilder(initialSilosCount: 2)
        .AddSiloBuilderConfigurator<SiloConfigurator>()
        .Build();

    public MemoryClient Memory => new(Cluster.Client);

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        TestDatabase.Delete(DatabasePath);
    }

    // Both in-process silos share one SQLite file, as the shards of a bank would share one database.
    internal static readonly string DatabasePath = TestDatabase.NewPath("cluster");

    private static int s_bankCounter;

    /// <summary>A bank name no other test uses.</summary>
    public static string NewBankName(string prefix) => $"{prefix}-{Interlocked.Increment(ref s_bankCounter)}-{Guid.NewGuid():N}";

    internal sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder) => builder.AddMemRL(o => o.RecallTokenKey = TokenKey)
            .Configure<StorageOptions>(o => o.SqlitePath = DatabasePath);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = nameof(ClusterCollection);
}
