using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
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
        // Silos as deploy/local starts them; the ledger check replays each shard's whole log, so no snapshot may truncate it.
        // Ports clear of the chaos test's silos and of TestCluster silos in other collections.
        await using var cluster = await ProcessCluster.StartAsync("crash", 2, portBase: 2468, NoSnapshots);
        await using var store = new PostgreSqlMemoryStore(PostgreSqlFactAttribute.ConnectionString!);
        await KillUnderLoadAndCheckTheLedgerAsync(cluster, store, kills);
    }

    /// <summary>
    /// The same ledger on the Azure backend, as <c>MEMRL_LOCAL_STORAGE=azure</c> runs it: Orleans' Azure Table membership
    /// (the client finds the silos through it too), banks and shards in Azurite's tables and blobs. Two kills by default,
    /// not six: every restart here waits for Orleans to declare the killed silo dead in the membership table and for its
    /// shards to reload through Azurite, one Node process sharing CI's two cores with the silos, which costs several times
    /// a PostgreSQL reload; two kills (one per silo is likely, each a cold reload) keep the test inside its two-minute CI
    /// budget, and the PostgreSQL run above covers the count. MEMRL_CRASH_KILLS_AZURE raises it.
    /// </summary>
    [AzuriteFact]
    public async Task SigkilledSiloProcesses_OnAzureStorage_LoseNothingAcknowledged_AndApplyEachOperationOnce()
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_CRASH_KILLS_AZURE"), out int k) ? k : 2;
        string azure = AzuriteFactAttribute.ConnectionString!;
        // Tables and container of this run only, so the ledger reads nothing another test wrote.
        string prefix = $"crash{Guid.NewGuid():N}"[..15];
        var overrides = new Dictionary<string, string>(NoSnapshots) { ["MemRL__Storage__AzurePrefix"] = prefix };
        await using var cluster = await ProcessCluster.StartAsync("azcrash", 2, portBase: 2488, overrides, azure: azure);
        var store = AzureStorageClients.CreateStore(new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = azure, AzurePrefix = prefix });
        await KillUnderLoadAndCheckTheLedgerAsync(cluster, store, kills);
    }

    private static readonly Dictionary<string, string> NoSnapshots =
        new() { ["MemRL__Storage__SnapshotEveryEvents"] = int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static async Task KillUnderLoadAndCheckTheLedgerAsync(ProcessCluster cluster, IMemoryStore store, int kills)
    {
        var memory = cluster.Memory;
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
            int victim = random.Next(cluster.Count);
            int before = load.Steps;
            await cluster.KillAndRestartAsync(victim);
            await Wait.UntilAsync(() => load.Steps > before + 5, $"agents to make progress after SIGKILL {kill + 1}", seconds: 120);
        }

        stop.Cancel();
        await Task.WhenAll(agents);
        var log = await CrashTests.SettleWritesAsync(bank, load.Acked, load.InFlight.Values, store, name, shards);
        foreach (string id in load.Acked.Values)
        {
            var m = await bank.GetAsync(id);
            MemoryId.TryParse(id, out var parsed);
            Assert.Equal(log.ReplayedQ[parsed.Sequence], m.Q);
        }

    }
}
