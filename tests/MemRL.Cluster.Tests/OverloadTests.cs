using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests;

/// <summary>One silo whose coordinator lets at most two calls wait on a shard, and a gate that can hold shard calls.</summary>
public sealed class TightQueueFixture() : SqliteClusterFixture(silos: 1, "tight-queue")
{
    public ShardGate Gate { get; } = new();

    protected override void Configure(ISiloBuilder silo) => silo.AddMemRL(o => o.MaxPendingPerShard = 2).AddIncomingGrainCallFilter(Gate);
}

/// <summary>Holds every shard call while closed, so a queue builds up deterministically (no timing involved).</summary>
public sealed class ShardGate : IIncomingGrainCallFilter
{
    private volatile TaskCompletionSource _open = Opened();

    public void Close() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Open() => _open.TrySetResult();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.DeclaringType == typeof(IMemoryShardGrain))
        {
            await _open.Task;
        }

        await context.Invoke();
    }

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource();
        open.SetResult();
        return open;
    }
}

public sealed class OverloadTests(TightQueueFixture fixture) : IClassFixture<TightQueueFixture>
{
    [Fact]
    public async Task Calls_AreRefusedAsOverloaded_PastTheBound_AndAdmittedOnesComplete()
    {
        var memory = new MemoryClient(fixture.Cluster.Client);
        string name = ClusterFixture.NewBankName("overload");
        await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, ShardCount: 1));
        var bank = memory.Bank(name);
        var seeded = await bank.WriteAsync(new Vectors(1, BankHelpers.Dimension).Gaussian(), "seed", "seed", true);

        fixture.Gate.Close();
        Task<RecallResponse>[] recalls;
        Task<WriteResponse>[] writes;
        try
        {
            recalls = Enumerable.Range(0, 4).Select(i => bank.RecallAsync(new Vectors(10 + i, BankHelpers.Dimension).Gaussian())).ToArray();
            writes = Enumerable.Range(0, 4).Select(i => bank.WriteAsync(new Vectors(20 + i, BankHelpers.Dimension).Gaussian(), "t", "e", true)).ToArray();
            var all = recalls.Cast<Task>().Concat(writes).ToArray();
            await Wait.UntilAsync(() => all.Count(t => t.IsFaulted) >= all.Length - 2, "all but two calls to be refused");
        }
        finally
        {
            fixture.Gate.Open();
        }

        var outcomes = new List<string>();
        foreach (var call in recalls.Cast<Task>().Concat(writes))
        {
            try
            {
                await call;
                outcomes.Add("ok");
            }
            catch (OverloadedException e)
            {
                Assert.Contains("calls waiting; retry later", e.Message);
                outcomes.Add("overloaded");
            }
        }

        Assert.Equal(2, outcomes.Count(o => o == "ok"));
        Assert.Equal(6, outcomes.Count(o => o == "overloaded"));
        int writesAcknowledged = writes.Count(w => w.IsCompletedSuccessfully);
        Assert.Equal(1 + writesAcknowledged, (await bank.GetStatsAsync()).Memories);
        Assert.Equal(seeded.MemoryId, (await bank.GetAsync(seeded.MemoryId)).Id);
    }
}
