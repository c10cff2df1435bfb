using MemRL.Cluster.Tests.Fixtures;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>One silo whose store is a <see cref="FaultyStore"/> over the fixture's SQLite file.</summary>
public sealed class FaultFixture : SqliteClusterFixture
{
    public FaultFixture()
        : base(silos: 1, "faults") => Store = new FaultyStore(new SqliteMemoryStore(DatabasePath));

    /// <summary>The silo's store: in-process silos, so the tests arm faults on the very instance the shards use.</summary>
    internal FaultyStore Store { get; }

    protected override void Configure(ISiloBuilder silo) => silo.Services.AddSingleton<IMemoryStore>(Store);
}
