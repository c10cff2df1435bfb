using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.Core;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Orleans.Runtime;
using Orleans.TestingHost;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Silos killed at random points under concurrent load, with a client-side ledger of every acknowledged and every
/// in-flight operation. After the kills: acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight, every operation applied
/// once, and every Q equal to a replay of the recovered log. Kills per run: MEMRL_CRASH_KILLS (default 6, kept small
/// for the 2-core suite; set 20 or more for the full run).
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class CrashTests
{
    private const double Alpha = 0.3;

    [Fact]
    public async Task KilledSilos_LoseNothingAcknowledged_AndApplyEachOperationOnce_Sqlite()
    {
        string path = TestDatabase.NewPath("crash");
        try
        {
            // No snapshots: the whole log stays, so every Q can be checked against a replay of it.
            await RunAsync(StorageClusters.Sqlite(path, snapshotEvery: int.MaxValue), () => new SqliteMemoryStore(path));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            TestDatabase.Delete(path);
        }
    }

    [PostgreSqlFact]
    public Task KilledSilos_LoseNothingAcknowledged_AndApplyEachOperationOnce_PostgreSql() =>
        RunAsync(StorageClusters.PostgreSql(PostgreSqlFactAttribute.ConnectionString!, snapshotEvery: int.MaxValue),
            () => new PostgreSqlMemoryStore(PostgreSqlFactAttribute.ConnectionString!));

    [AzuriteFact]
    public Task KilledSilos_LoseNothingAcknowledged_AndApplyEachOperationOnce_Azure() =>
        RunAsync(StorageClusters.Azure(AzuriteFactAttribute.ConnectionString!, snapshotEvery: int.MaxValue),
            () => AzuriteFactAttribute.OpenStore(AzuriteFactAttribute.ConnectionString!));

    /// <summary>A write an agent sent: its operation id, intent and experience text (all "intent" / success true).</summary>
    internal sealed record WriteOp(string OperationId, float[] Intent, string Text);

    private static async Task RunAsync(StorageOptions storage, Func<IMemoryStore> openStore)
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_CRASH_KILLS"), out int k) ? k : 6;
        const int shards = 4;
        string name = ClusterFixture.NewBankName("crash");
        var ackedRewards = new ConcurrentDictionary<string, byte>();
        var inFlightRewards = new ConcurrentDictionary<string, byte>();
        var cluster = await StorageClusters.StartAsync(storage, silos: 3);
        try
        {
            var memory = new MemoryClient(cluster.Client);
            // MergeThreshold > 1: every write makes its own key, so a write's shard follows from its operation id alone and a
            // retry lands on the same shard whatever happened in between.
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Alpha = Alpha, Delta = -1, MergeThreshold = 2 }, shards));
            var bank = memory.Bank(name);
            using var stop = new CancellationTokenSource();
            var load = new AgentLoad();
            var agents = load.Start(bank, agents: 6, seed: 1000, IsClearError, async (v, agent, step) =>
            {
                string rewardId = $"r-{agent}-{step}";
                try
                {
                    var recall = await bank.RecallAsync(v.Gaussian());
                    if (recall.Memories.Count > 0)
                    {
                        inFlightRewards[rewardId] = 0;
                        await bank.RewardAsync(recall.Token, step % 3 == 0 ? 0.0 : 1.0, operationId: rewardId);
                        inFlightRewards.TryRemove(rewardId, out _);
                        ackedRewards[rewardId] = 0;
                    }
                }
                catch (Exception e) when (IsClearError(e))
                {
                }
            }, stop.Token);

            var random = new Random(17);
            for (int kill = 0; kill < kills; kill++)
            {
                // Any silo may die: the in-process cluster keeps membership outside the silos.
                var victims = cluster.GetActiveSilos().ToList();
                var victim = victims[random.Next(victims.Count)];
                int before = load.Steps;
                await cluster.KillSiloAsync(victim);
                await cluster.StartAdditionalSiloAsync();
                await Wait.UntilAsync(() => load.Steps > before + 10, $"agents to make progress after kill {kill + 1}");
            }

            stop.Cancel();
            await Task.WhenAll(agents);

            var log = await SettleWritesAsync(bank, load.Acked, load.InFlight.Values, openStore(), name, shards);
            Assert.True(ackedRewards.Count > 0, "no reward was acknowledged; the reward ledger checks nothing.");
            // A reward touching several shards is logged once per shard; within one shard each id appears once.
            Assert.All(log.RewardsPerShard, ids => Assert.Equal(ids.Count, ids.Distinct().Count()));
            var loggedRewards = log.RewardsPerShard.SelectMany(ids => ids).ToHashSet();
            // acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight; the leftovers are listed on failure.
            Assert.Empty(ackedRewards.Keys.Except(loggedRewards));
            Assert.Empty(loggedRewards.Except(ackedRewards.Keys.Concat(inFlightRewards.Keys)));

            foreach (var (op, id) in load.Acked)
            {
                var m = await bank.GetAsync(id);
                MemoryId.TryParse(id, out var parsed);
                Assert.StartsWith("experience ", m.Experience, StringComparison.Ordinal);
                Assert.Equal(log.ReplayedQ[parsed.Sequence], m.Q);
                Assert.Equal(log.Visits[parsed.Sequence], m.Visits);
            }
        }
        finally
        {
            await cluster.DisposeAsync();
        }
    }

    /// <summary>
    /// The write ledger's check after a run with failures: retrying each in-flight write with its operation id applies it
    /// at most once more, so afterwards every write id has exactly one memory, the bank holds exactly those, and the
    /// shards' logs hold each write operation once (acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight). Returns the
    /// logs for the caller's own checks.
    /// </summary>
    internal static async Task<LogView> SettleWritesAsync(
        BankClient bank, ConcurrentDictionary<string, string> acked, IEnumerable<WriteOp> inFlight, IMemoryStore store, string name, int shards)
    {
        Assert.True(acked.Count > 0, "no write was acknowledged; the ledger checks nothing.");
        foreach (var op in inFlight)
        {
            acked[op.OperationId] = (await bank.WriteAsync(op.Intent, "intent", op.Text, true, operationId: op.OperationId)).MemoryId;
        }

        Assert.Equal(acked.Count, (await bank.GetStatsAsync()).Memories);
        Assert.Equal(acked.Count, acked.Values.Distinct().Count());
        var log = await ReadLogAsync(store, name, shards);
        var loggedWrites = log.Operations.Where(o => o.StartsWith("w-", StringComparison.Ordinal)).ToList();
        Assert.Equal(loggedWrites.Count, loggedWrites.Distinct().Count());
        Assert.Equal(acked.Keys.Order(), loggedWrites.Order());
        return log;
    }

    internal sealed record LogView(List<string> Operations, List<List<string>> RewardsPerShard, Dictionary<long, double> ReplayedQ, Dictionary<long, int> Visits);

    // Reads every shard's whole log and replays each memory's Q with the Q rule, checking each logged value on the way.
    internal static async Task<LogView> ReadLogAsync(IMemoryStore store, string bank, int shards)
    {
        var operations = new List<string>();
        var rewards = new List<List<string>>();
        var q = new Dictionary<long, double>();
        var visits = new Dictionary<long, int>();
        for (int shard = 0; shard < shards; shard++)
        {
            var image = await store.LoadShardAsync(BankNames.ShardKey(bank, shard));
            Assert.Equal(0, image.SnapshotPosition);
            var shardRewards = new List<string>();
            foreach (var record in image.Tail)
            {
                Assert.True(EventCodec.TryDecode(record.Record, out var events), $"shard {shard} record {record.Position} is corrupt.");
                foreach (var e in events)
                {
                    switch (e)
                    {
                        case MemoryAdded added:
                            q[added.Memory] = added.Q;
                            visits[added.Memory] = 0;
                            break;
                        case QUpdated update:
                            double expected = QRule.Update(q[update.Memory], update.Reward, Alpha, null);
                            Assert.Equal(expected, update.Q);
                            Assert.Equal(visits[update.Memory] + 1, update.Visits);
                            q[update.Memory] = update.Q;
                            visits[update.Memory] = update.Visits;
                            break;
                        case OperationApplied applied when applied.OperationId.StartsWith("r-", StringComparison.Ordinal):
                            shardRewards.Add(applied.OperationId);
                            break;
                        case OperationApplied applied:
                            operations.Add(applied.OperationId);
                            break;
                    }
                }
            }

            rewards.Add(shardRewards);
        }

        return new LogView(operations, rewards, q, visits);
    }

    private static bool IsClearError(Exception e) =>
        e is MemRLException or SiloUnavailableException or OrleansMessageRejectionException or TimeoutException or ClientNotAvailableException
            or OrleansException;
}
