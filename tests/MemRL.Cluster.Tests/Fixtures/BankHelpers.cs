using MemRL.Client;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>Small helpers shared by the cluster tests.</summary>
public static class BankHelpers
{
    public const int Dimension = 16;

    public static async Task<BankClient> NewBankAsync(ClusterFixture fixture, string prefix, BankOptions? options = null, int shards = 2, bool exact = true)
    {
        string name = ClusterFixture.NewBankName(prefix);
        await fixture.Memory.CreateBankAsync(name, new BankSpec(Dimension, "test-embedder", options ?? new BankOptions(), shards, new IndexSettings(Exact: exact)));
        return fixture.Memory.Bank(name);
    }

    /// <summary>Everything a rejected call must leave untouched: counts and every memory's Q and visits.</summary>
    public static async Task<string> SnapshotAsync(BankClient bank, IEnumerable<string> ids)
    {
        var stats = await bank.GetStatsAsync();
        var parts = new List<string> { $"keys={stats.Keys}", $"memories={stats.Memories}" };
        foreach (var id in ids.Order())
        {
            var m = await bank.GetAsync(id);
            parts.Add($"{id}:{m.Q:R}/{m.Visits}");
        }

        return string.Join(";", parts);
    }
}
