using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests;

/// <summary>A cluster of its own, on a database file of its own: these tests add and stop silos.</summary>
public sealed class TopologyFixture() : SqliteClusterFixture(silos: 2, "topology");

public sealed class TopologyTests(TopologyFixture fixture) : IClassFixture<TopologyFixture>
{
    /// <summary>
    /// Agents keep running while a silo joins and one that hosts shards stops. Every call succeeds or fails with a clear
    /// error; the stopped silo's shards reactivate elsewhere from storage, so full coverage returns and every memory
    /// written before the stop is still there.
    /// </summary>
    [Fact]
    public async Task AgentsKeepWorking_AndNothingIsLost_WhileSiloJoinsAndAnotherStops()
    {
        var memory = new MemoryClient(fixture.Cluster.Client);
        const int shards = 12;
        string name = ClusterFixture.NewBankName("topo");
        await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
        var bank = memory.Bank(name);
        var vectors = new Vectors(3, BankHelpers.Dimension);
        var written = new List<string>();
        for (int i = 0; i < 60; i++)
        {
            written.Add((await bank.WriteAsync(vectors.Gaussian(), $"i{i}", $"e{i}", true)).MemoryId);
        }

        var unexpected = new ConcurrentQueue<Exception>();
        int succeeded = 0;
        using var stop = new CancellationTokenSource();
        var agents = Enumerable.Range(0, 8).Select(agent => Task.Run(async () =>
        {
            var v = new Vectors(100 + agent, BankHelpers.Dimension);
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var recall = await bank.RecallAsync(v.Gaussian());
                    if (recall.Memories.Count > 0)
                    {
                        await bank.RewardAsync(recall.Token, 1.0);
                    }

                    Interlocked.Increment(ref succeeded);
                }
                catch (Exception e) when (IsClearError(e))
                {
                }
                catch (Exception e)
                {
                    unexpected.Enqueue(e);
                }
            }
        })).ToArray();

        var added = await fixture.Cluster.StartAdditionalSiloAsync();
        await fixture.Cluster.WaitForLivenessToStabilizeAsync();
        var victim = await PickSiloHostingShardsAsync(name, other: added);
        await fixture.Cluster.StopSiloAsync(victim);
        int beforeSettle = Volatile.Read(ref succeeded);
        await Wait.UntilAsync(() => Volatile.Read(ref succeeded) > beforeSettle + 20, "agents to make progress after the stop");
        stop.Cancel();
        await Task.WhenAll(agents);

        Assert.Empty(unexpected);
        var full = await bank.RecallAsync(vectors.Gaussian(), new RecallSettings(RequireFullCoverage: true));
        Assert.Equal(shards, full.Coverage.ShardsAnswered);
        var stats = await bank.GetStatsAsync();
        Assert.Equal(written.Count, stats.Memories);
        foreach (string id in written)
        {
            var m = await bank.GetAsync(id);
            Assert.StartsWith("e", m.Experience, StringComparison.Ordinal);
        }

        await fixture.Cluster.StopSiloAsync(added);
    }

    private static bool IsClearError(Exception e) =>
        e is MemRLException or SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
            or ClientNotAvailableException;

    private async Task<InProcessSiloHandle> PickSiloHostingShardsAsync(string bank, InProcessSiloHandle other)
    {
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var shardSilos = stats.Where(s => s.GrainId.Key.ToString()!.StartsWith(bank + "/", StringComparison.Ordinal)).Select(s => s.SiloAddress).ToHashSet();
        return fixture.Cluster.GetActiveSilos().FirstOrDefault(s => s != other && shardSilos.Contains(s.SiloAddress))
            ?? throw new InvalidOperationException($"No silo but {other.SiloAddress} hosts a shard of '{bank}'; shard silos: {string.Join(", ", shardSilos)}.");
    }
}
