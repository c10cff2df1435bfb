using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests;

/// <summary>A cluster of its own: these tests add and stop silos.</summary>
public sealed class TopologyFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; } = new TestClusterBuilder(initialSilosCount: 2)
        .AddSiloBuilderConfigurator<ClusterFixture.SiloConfigurator>()
        .Build();

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class TopologyTests(TopologyFixture fixture) : IClassFixture<TopologyFixture>
{
    /// <summary>
    /// Agents keep running while a silo joins and one that hosts shards (but not the bank) stops. Until durable storage
    /// lands, the promise is: every call succeeds or fails with a clear error; shards that were on the stopped silo say
    /// loudly that they lost their memories; the others keep serving, and recall reports partial coverage.
    /// </summary>
    [Fact]
    public async Task AgentsKeepWorking_WhileSiloJoinsAndAnotherStops()
    {
        var memory = new MemoryClient(fixture.Cluster.Client);
        const int shards = 12;
        string name = await CreateBankOnPrimaryAsync(memory, shards);
        var bank = memory.Bank(name);
        var vectors = new Vectors(3, BankHelpers.Dimension);
        for (int i = 0; i < 60; i++)
        {
            await bank.WriteAsync(vectors.Gaussian(), $"i{i}", $"e{i}", true);
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
        var victim = await PickSiloHostingShardsButNotTheBankAsync(name);
        await fixture.Cluster.StopSiloAsync(victim);
        int beforeSettle = Volatile.Read(ref succeeded);
        await WaitUntilAsync(() => Volatile.Read(ref succeeded) > beforeSettle + 20, "agents to make progress after the stop");
        stop.Cancel();
        await Task.WhenAll(agents);

        Assert.Empty(unexpected);
        var afterStop = await bank.RecallAsync(vectors.Gaussian());
        Assert.True(afterStop.Coverage.ShardsAnswered < shards, "a shard of the stopped silo still answered, with memories it cannot have.");
        Assert.True(afterStop.Coverage.ShardsAnswered > 0);
        await Assert.ThrowsAsync<IncompleteCoverageException>(() => bank.RecallAsync(vectors.Gaussian(), new RecallSettings(RequireFullCoverage: true)));

        int lost = 0;
        for (int s = 0; s < shards; s++)
        {
            var info = await memory.GetBankAsync(name);
            try
            {
                await fixture.Cluster.Client.GetGrain<IMemoryShardGrain>($"{name}/{s}").GetStatsAsync(info!.Version);
            }
            catch (ShardUnavailableException e)
            {
                Assert.Contains("losing its memories", e.Message);
                lost++;
            }
        }

        Assert.Equal(shards - afterStop.Coverage.ShardsAnswered, lost);
        await fixture.Cluster.StopSiloAsync(added);
    }

    // Grain placement is random. Losing the bank grain loses the whole bank until durable storage lands; this test is
    // about losing shards, so it uses a bank whose grain lives on the primary silo, which it never stops.
    private async Task<string> CreateBankOnPrimaryAsync(MemoryClient memory, int shards)
    {
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        for (int attempt = 0; attempt < 40; attempt++)
        {
            string name = ClusterFixture.NewBankName("topo");
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
            var stats = await management.GetDetailedGrainStatistics();
            if (stats.Any(s => s.GrainId.Key.ToString() == name && s.SiloAddress == fixture.Cluster.Primary!.SiloAddress))
            {
                return name;
            }
        }

        throw new InvalidOperationException("No bank grain was placed on the primary silo in 40 attempts.");
    }

    private static bool IsClearError(Exception e) =>
        e is MemRLException or SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
            or ClientNotAvailableException;

    private async Task<SiloHandle> PickSiloHostingShardsButNotTheBankAsync(string bank)
    {
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var mine = stats.Where(s => s.GrainId.Key.ToString()!.StartsWith(bank, StringComparison.Ordinal)).ToList();
        var bankSilo = mine.Single(s => s.GrainId.Key.ToString() == bank).SiloAddress;
        var shardSilos = mine.Where(s => s.GrainId.Key.ToString()!.Contains('/')).Select(s => s.SiloAddress).ToHashSet();
        return fixture.Cluster.GetActiveSilos().First(s => s != fixture.Cluster.Primary && s.SiloAddress != bankSilo && shardSilos.Contains(s.SiloAddress));
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after 60 s waiting for {what}.");
            }

            await Task.Delay(50);
        }
    }
}
