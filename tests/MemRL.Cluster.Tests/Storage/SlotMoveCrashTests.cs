using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// A slot move under load with a silo process SIGKILLed in the middle of it (Redis membership, PostgreSQL data): the
/// move is retried until it takes effect, and afterwards every acknowledged write is there exactly once, nothing is
/// there twice, and every acknowledged reward, retried, changes nothing.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class SlotMoveCrashTests
{
    [ProcessClusterFact]
    public async Task SigkillDuringASlotMove_UnderLoad_LosesAndDuplicatesNothing()
    {
        string clusterId = $"move-{Guid.NewGuid():N}";
        string redis = Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS")!;
        string postgres = PostgreSqlFactAttribute.ConnectionString!;
        string root = LocalSilo.FindRoot(AppContext.BaseDirectory);
        string state = Directory.CreateTempSubdirectory("memrl-move-").FullName;
        var env = LocalSilo.Environment(root, state, clusterId, postgres, redis, 2, portBase: 3579); // clear of the other process tests
        var silos = new LocalSilo?[2];
        try
        {
            for (int i = 0; i < silos.Length; i++)
            {
                silos[i] = await LocalSilo.StartAsync(root, env[i], TimeSpan.FromSeconds(60));
            }

            using var host = await LocalClusterClient.ConnectAsync(clusterId, redis);
            var memory = new MemoryClient(host.Services.GetRequiredService<IClusterClient>());
            string name = ClusterFixture.NewBankName("move-kill");
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, 2));
            var bank = memory.Bank(name);

            var rewards = new ConcurrentDictionary<string, (string Token, RewardResponse Response)>();
            using var stop = new CancellationTokenSource();
            var load = new AgentLoad();
            // Refusals while slots are frozen and failures while a silo dies are expected; the ledger decides.
            var agents = load.Start(bank, agents: 4, seed: 700, _ => true, async (v, agent, step) =>
            {
                try
                {
                    var recall = await bank.RecallAsync(v.Gaussian());
                    if (recall.Memories.Count > 0)
                    {
                        string op = $"r-{agent}-{step}";
                        rewards[op] = (recall.Token, await bank.RewardAsync(recall.Token, 1.0, operationId: op));
                    }
                }
                catch (Exception)
                {
                    // Unacknowledged rewards are not in the ledger.
                }
            }, stop.Token);

            // A bank large enough that the move takes several pages per source shard.
            await Wait.UntilAsync(() => load.Acked.Count >= 1500, "agents to write 1500 memories", seconds: 300);

            // The kill lands while the slots are frozen and being copied: the bank says so until the map switches.
            var move = memory.GrowShardsAsync(name, 4);
            bool frozen = false;
            while (!frozen && !move.IsCompleted)
            {
                frozen = (await memory.GetBankAsync(name))!.MovingSlots is { Count: > 0 };
            }

            bool killedMidMove = frozen && !move.IsCompleted;
            silos[1]!.Kill();
            silos[1] = await LocalSilo.StartAsync(root, env[1], TimeSpan.FromSeconds(60));
            // Cut short by the kill (the move is undone) or refused while the dead silo is still a member: run it again
            // (a failure of the retry itself, such as a call to the dead silo timing out, surfaces at the next await).
            async Task<BankInfo> GrowAgainAsync()
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                var current = await memory.GetBankAsync(name);
                return current!.ShardCount == 4 ? current : await memory.GrowShardsAsync(name, 4);
            }

            BankInfo? grown = null;
            for (int attempt = 0; grown is null; attempt++)
            {
                try
                {
                    grown = await move;
                }
                catch (Exception) when (attempt < 60)
                {
                    move = GrowAgainAsync();
                }
            }

            Assert.Equal(4, grown.ShardCount);
            int before = load.Steps;
            await Wait.UntilAsync(() => load.Steps > before + 20, "agents to make progress after the move", seconds: 120);
            stop.Cancel();
            await Task.WhenAll(agents);

            // Every in-flight write, retried with its id, applies at most once more; then each id has one memory.
            var acked = load.Acked;
            foreach (var op in load.InFlight.Values)
            {
                acked[op.OperationId] = (await bank.WriteAsync(op.Intent, "intent", op.Text, true, operationId: op.OperationId)).MemoryId;
            }

            Assert.True(killedMidMove, "the kill came after the move had finished; the test checked an ordinary restart only.");
            Assert.Equal(acked.Count, acked.Values.Distinct().Count());
            var listed = new List<MemoryInfo>();
            string? cursor = null;
            do
            {
                var page = await bank.ListAsync(cursor, 500);
                listed.AddRange(page.Memories);
                cursor = page.NextCursor;
            }
            while (cursor is not null);

            Assert.Equal(acked.Count, listed.Count);
            Assert.Equal(listed.Count, listed.Select(m => m.Experience).Distinct().Count());
            Assert.Equal(acked.Values.Order(), listed.Select(m => m.Id).Order());
            Assert.Equal(acked.Count, (await bank.GetStatsAsync()).Memories);

            // The exactly-once records moved with their slots: each acknowledged reward, retried, returns its result and
            // changes no Q.
            Assert.True(rewards.Count > 0, "no reward was acknowledged; the reward ledger checks nothing.");
            var qBefore = listed.ToDictionary(m => m.Id, m => (m.Q, m.Visits));
            foreach (var (op, (token, response)) in rewards)
            {
                var again = await bank.RewardAsync(token, 1.0, operationId: op);
                Assert.Equal(response.Updated.Select(u => (u.Id, u.Q)), again.Updated.Select(u => (u.Id, u.Q)));
            }

            foreach (var (id, (q, visits)) in qBefore)
            {
                var now = await bank.GetAsync(id);
                Assert.Equal((q, visits), (now.Q, now.Visits));
            }

            await host.StopAsync();
        }
        finally
        {
            foreach (var silo in silos)
            {
                silo?.Kill();
            }

            Directory.Delete(state, recursive: true);
        }
    }
}
