using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>One silo whose store is a <see cref="FaultyStore"/> over a SQLite file.</summary>
public sealed class FaultFixture : IAsyncLifetime
{
    private static readonly string s_path = TestDatabase.NewPath("faults");

    // In-process silos: the configurator and the test share this instance.
    internal static readonly FaultyStore Store = new(new SqliteMemoryStore(s_path));

    public TestCluster Cluster { get; } = new TestClusterBuilder(initialSilosCount: 1)
        .AddSiloBuilderConfigurator<SiloConfigurator>()
        .Build();

    public MemoryClient Memory => new(Cluster.Client);

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        TestDatabase.Delete(s_path);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder)
        {
            builder.AddMemRL(o => o.RecallTokenKey = ClusterFixture.TokenKey);
            builder.Services.AddSingleton<IMemoryStore>(Store);
        }
    }
}
