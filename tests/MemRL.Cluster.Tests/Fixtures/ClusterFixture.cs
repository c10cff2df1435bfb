namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>A two-silo cluster shared by the tests of one collection; each test uses fresh bank names.</summary>
public sealed class ClusterFixture() : SqliteClusterFixture(silos: 2, "cluster")
{
    /// <summary>A bank name no other test uses.</summary>
    public static string NewBankName(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = nameof(ClusterCollection);
}
