using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using MemRL.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>A fact that needs PostgreSQL and Redis (.ci/run sets both) and the built silo.</summary>
public sealed class ProcessClusterFactAttribute : FactAttribute
{
    public ProcessClusterFactAttribute()
    {
        if (string.IsNullOrWhiteSpace(PostgreSqlFactAttribute.ConnectionString) || string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS")))
        {
            Skip = "MEMRL_TEST_POSTGRES and MEMRL_TEST_REDIS are not both set; set them (as .ci/run does) to kill real silo processes.";
        }
    }
}

/// <summary>
/// Real silo processes (Redis membership, PostgreSQL data) killed with SIGKILL under load, with the client-side ledger of
/// <see cref="CrashTests"/>: acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight, each operation once, every Q a replay.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class ProcessCrashTests
{
    [ProcessClusterFact]
    public async Task SigkilledSiloProcesses_LoseNothingAcknowledged_AndApplyEachOperationOnce()
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_CRASH_KILLS"), out int k) ? k : 6;
        string clusterId = $"crash-{Guid.NewGuid():N}";
        string redis = Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS")!;
        string postgres = PostgreSqlFactAttribute.ConnectionString!;
        string root = LocalSilo.FindRoot(AppContext.BaseDirectory);
        string state = Directory.CreateTempSubdirectory("memrl-crash-").FullName;
        // Silos as deploy/local starts them; the ledger check replays each shard's whole log, so no snapshot may truncate it.
        var env = LocalSilo.Environment(root, state, clusterId, postgres, redis, 2,
            new Dictionary<string, string> { ["MemRL__Storage__SnapshotEveryEvents"] = int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            portBase: 2468); // clear of the chaos test's silos and of TestCluster silos in other collections
        var silos = new LocalSilo?[2];
        try
        {
            for (int i = 0; i < silos.Length; i++)
            {
                silos[i] = await LocalSilo.StartAsync(root, env[i], TimeSpan.FromSeconds(60));
            }

            using var host = await LocalClusterClient.ConnectAsync(clusterId, redis);
            var memory = new MemoryClient(host.Services.GetRequiredService<IClusterClient>());
            string name = ClusterFixture.NewBankName("sigkill");
            const int shards = 4;
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
            var bank = memory.Bank(name);

            using var stop = new CancellationTokenSource();
            var load = new AgentLoad();
            var agents = load.Start(bank, agents: 4, seed: 500, _ => true, async (v, agent, step) =>
            {
                try
                {
                    var recall = await bank.RecallAsync(v.Gaussian());
                    if (recall.Memories.Count > 0)
                    {
                        await bank.RewardAsync(recall.Token, 1.0, operationId: $"r-{agent}-{step}");
                    }
                }
                catch (Exception)
                {
                    // Any failure while silos die is fine; only the ledger's invariants matter.
                }
            }, stop.Token);

            var random = new Random(23);
            for (int kill = 0; kill < kills; kill++)
            {
                int victim = random.Next(silos.Length);
                int before = load.Steps;
                silos[victim]!.Kill();
                silos[victim] = await LocalSilo.StartAsync(root, env[victim], TimeSpan.FromSeconds(60));
                await Wait.UntilAsync(() => load.Steps > before + 5, $"agents to make progress after SIGKILL {kill + 1}", seconds: 120);
            }

            stop.Cancel();
            await Task.WhenAll(agents);
            await using var store = new PostgreSqlMemoryStore(postgres);
            var log = await CrashTests.SettleWritesAsync(bank, load.Acked, load.InFlight.Values, store, name, shards);
            foreach (string id in load.Acked.Values)
            {
                var m = await bank.GetAsync(id);
                MemoryId.TryParse(id, out var parsed);
                Assert.Equal(log.ReplayedQ[parsed.Sequence], m.Q);
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
