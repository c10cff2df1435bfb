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

    /// <summary>Every memory its own key (merge threshold above 1), recall returning up to 8 of 12: memories spread over the shards.</summary>
    public static readonly BankOptions SpreadOptions = new() { K1 = 12, K2 = 8, Delta = -1, MergeThreshold = 2, Lambda = 0.5 };

    /// <summary>A bank of 8 shards holding 40 memories, each its own key, spread over the shards; returns their ids.</summary>
    public static async Task<(BankClient Bank, List<string> Ids)> SpreadBankAsync(ClusterFixture fixture, string prefix, int seedFactor = 31)
    {
        var bank = await NewBankAsync(fixture, prefix, SpreadOptions, shards: 8);
        var vectors = new Vectors(prefix.Length * seedFactor, Dimension);
        var ids = new List<string>();
        for (int i = 0; i < 40; i++)
        {
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"intent {i}", $"experience {i}", success: i % 2 == 0)).MemoryId);
        }

        return (bank, ids);
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
