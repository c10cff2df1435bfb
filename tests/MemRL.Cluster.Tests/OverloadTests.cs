using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests;

/// <summary>One silo whose coordinator lets at most two calls wait on a shard.</summary>
public sealed class TightQueueFixture : IAsyncLifetime
{
    public TestCluster Cluster { get; } = new TestClusterBuilder(initialSilosCount: 1)
        .AddSiloBuilderConfigurator<Configurator>()
        .Build();

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder builder) => builder.AddMemRL(o =>
        {
            o.RecallTokenKey = ClusterFixture.TokenKey;
            o.MaxPendingPerShard = 2;
        });
    }
}

public sealed class OverloadTests(TightQueueFixture fixture) : IClassFixture<TightQueueFixture>
{
    [Fact]
    public async Task Recall_IsRefusedAsOverloaded_NotAnsweredEmpty_WhenTheOnlyShardQueueIsFull()
    {
        var memory = new MemoryClient(fixture.Cluster.Client);
        string name = ClusterFixture.NewBankName("overload");
        await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1 }, ShardCount: 1));
        var bank = memory.Bank(name);
        var vectors = new Vectors(8, BankHelpers.Dimension);
        for (int i = 0; i < 300; i++)
        {
            await bank.WriteAsync(vectors.Gaussian(), $"i{i}", $"e{i}", true);
        }

        var outcomes = new ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            try
            {
                await bank.RecallAsync(new Vectors(i, BankHelpers.Dimension).Gaussian());
                outcomes.Add("ok");
            }
            catch (OverloadedException)
            {
                outcomes.Add("overloaded");
            }
        }));

        Assert.Contains("overloaded", outcomes);
        Assert.Contains("ok", outcomes);
        Assert.Equal(200, outcomes.Count);
    }

    [Fact]
    public async Task Write_IsRefusedAsOverloaded_AndChangesNothing_WhenTheQueueIsFull()
    {
        var memory = new MemoryClient(fixture.Cluster.Client);
        string name = ClusterFixture.NewBankName("overload-w");
        await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { MergeThreshold = 2 }, ShardCount: 1));
        var bank = memory.Bank(name);
        var acknowledged = new ConcurrentBag<string>();
        int refused = 0;
        await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            try
            {
                acknowledged.Add((await bank.WriteAsync(new Vectors(i, BankHelpers.Dimension).Gaussian(), "t", "e", true)).MemoryId);
            }
            catch (OverloadedException)
            {
                Interlocked.Increment(ref refused);
            }
        }));

        Assert.True(refused > 0, "no write was refused; the bound did not bite.");
        Assert.Equal(acknowledged.Count, (await bank.GetStatsAsync()).Memories);
    }
}
