using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>A one-silo cluster whose store is a <see cref="FaultyStore"/> the tests arm (in-process silos: the very instance the shards use).</summary>
public interface IFaultFixture
{
    FaultyStore Store { get; }

    InProcessTestCluster Cluster { get; }

    MemoryClient Memory { get; }
}

/// <summary>One silo whose store is a <see cref="FaultyStore"/> over the fixture's SQLite file.</summary>
public sealed class FaultFixture : SqliteClusterFixture, IFaultFixture
{
    public FaultFixture()
        : base(silos: 1, "faults") => Store = new FaultyStore(new SqliteMemoryStore(DatabasePath));

    public FaultyStore Store { get; }

    protected override void Configure(ISiloBuilder silo) => silo.Services.AddSingleton<IMemoryStore>(Store);
}

/// <summary>
/// One silo whose store is a <see cref="FaultyStore"/> over the Azure store on Azurite (<see cref="AzuriteFactAttribute"/>);
/// without Azurite nothing is started (its tests are skipped).
/// </summary>
public sealed class AzureFaultFixture : IFaultFixture, IAsyncLifetime
{
    private readonly InProcessTestCluster? _cluster;

    public AzureFaultFixture()
    {
        if (AzuriteFactAttribute.ConnectionString is not { Length: > 0 } connectionString)
        {
            Store = new FaultyStore(new SqliteMemoryStore(":memory:"));
            return;
        }

        Store = new FaultyStore(AzuriteFactAttribute.OpenStore(connectionString));
        _cluster = TestClusters.Build(1, silo => silo.Services.AddSingleton<IMemoryStore>(Store));
    }

    public FaultyStore Store { get; }

    public InProcessTestCluster Cluster => _cluster ?? throw new InvalidOperationException($"{AzuriteFactAttribute.Variable} is not set; no cluster was started.");

    public MemoryClient Memory => new(Cluster.Client);

    public Task InitializeAsync() => _cluster?.DeployAsync() ?? Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}
