using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ConcurrencyTests(ClusterFixture fixture)
{
    private const double Alpha = 0.3;

    /// <summary>
    /// 64 agents run recall → reward → write loops at once. Every memory always receives its own constant reward R_m, so
    /// after n acknowledged rewards its Q must be exactly R_m + (Q0 − R_m)(1 − alpha)^n: a lost or doubled update, or a
    /// torn read-modify-write, shows up as a wrong Q.
    /// </summary>
    [Fact]
    public async Task SixtyFourAgents_LeaveEveryQExactlyAsTheLedgerPredicts()
    {
        var options = new BankOptions { Alpha = Alpha, K1 = 6, K2 = 3, Delta = -1, MergeThreshold = 0.97, QInitSuccess = 0, QInitFailure = 0 };
        var bank = await BankHelpers.NewBankAsync(fixture, "conc", options, shards: 4);
        var seedVectors = new Vectors(99, BankHelpers.Dimension);
        var centres = Enumerable.Range(0, 8).Select(_ => seedVectors.Gaussian()).ToArray();
        var written = new ConcurrentDictionary<string, bool>();
        var rewardsApplied = new ConcurrentDictionary<string, int>();
        foreach (var centre in centres)
        {
            var w = await bank.WriteAsync(seedVectors.Near(centre, 0.3), "seed", "seed experience", success: true);
            Assert.True(written.TryAdd(w.MemoryId, true));
        }

        var errors = new ConcurrentQueue<Exception>();
        var agents = Enumerable.Range(0, 64).Select(agent => Task.Run(async () =>
        {
            var vectors = new Vectors(1000 + agent, BankHelpers.Dimension);
            for (int step = 0; step < 12; step++)
            {
                try
                {
                    var query = vectors.Near(centres[vectors.Next(centres.Length)], 0.3);
                    var recall = await bank.RecallAsync(query);
                    foreach (var group in recall.Memories.GroupBy(m => RewardOf(m.Id)))
                    {
                        var ids = group.Select(m => m.Id).ToList();
                        await bank.RewardAsync(recall.Token, group.Key, $"a{agent}-s{step}-r{group.Key}", ids);
                        foreach (var id in ids)
                        {
                            rewardsApplied.AddOrUpdate(id, 1, (_, n) => n + 1);
                        }
                    }

                    var w = await bank.WriteAsync(query, $"agent {agent} step {step}", "experience", success: step % 2 == 0, recallToken: recall.Token);
                    if (!written.TryAdd(w.MemoryId, true))
                    {
                        throw new InvalidOperationException($"write returned id {w.MemoryId} twice");
                    }
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            }
        })).ToArray();
        await Task.WhenAll(agents);

        Assert.Empty(errors);
        Assert.True(rewardsApplied.Values.Sum() > 500, $"only {rewardsApplied.Values.Sum()} rewards were applied; the test is not exercising contention.");
        var stats = await bank.GetStatsAsync();
        Assert.Equal(written.Count, stats.Memories);
        foreach (var id in written.Keys)
        {
            var memory = await bank.GetAsync(id);
            int n = rewardsApplied.GetValueOrDefault(id);
            double r = RewardOf(id);
            double expected = r + ((0 - r) * Math.Pow(1 - Alpha, n));
            Assert.True(Math.Abs(expected - memory.Q) < 1e-9, $"memory {id}: Q {memory.Q} after {n} rewards of {r}; expected {expected}.");
            Assert.Equal(n, memory.Visits);
        }
    }

    // Each memory's constant reward, from its id alone.
    private static double RewardOf(string memoryId) => Convert.ToInt32(memoryId[^1].ToString(), 16) % 2 == 0 ? 1.0 : -1.0;
}
