using System.Diagnostics;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using MemRL.LocalCluster;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Chaos on the three-silo local cluster (deploy/local/cluster.sh: the manifests' configuration on loopback, PostgreSQL
/// and Redis from .ci/run): under agent load, SIGKILL a random silo and restart it, then roll all three one at a time
/// with a graceful stop. Afterwards acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight, each write once, and the
/// recall error rate of each disruption is reported (test output). MEMRL_CHAOS_KILLS sets the kills (CI: the default).
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class LocalClusterChaosTests(ITestOutputHelper output)
{
    private const int Silos = 3;
    private static readonly TimeSpan Ready = TimeSpan.FromSeconds(90);

    [ProcessClusterFact]
    public async Task KillsAndARollingRestart_LoseNothingAcknowledged_AndRecallRecovers()
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_CHAOS_KILLS"), out int k) ? k : 3;
        string clusterId = $"chaos-{Guid.NewGuid():N}";
        string state = Directory.CreateTempSubdirectory("memrl-chaos-").FullName;
        string root = LocalSilo.FindRoot(AppContext.BaseDirectory);
        string postgres = PostgreSqlFactAttribute.ConnectionString!;
        // The ledger check replays each shard's whole log: no snapshot may truncate it.
        var env = LocalSilo.Environment(root, state, clusterId, postgres, Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS")!, Silos,
            new Dictionary<string, string> { ["MemRL__Storage__SnapshotEveryEvents"] = int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            portBase: 1357); // away from TestCluster silos in other collections and from a user's deploy/local cluster
        var silos = new LocalSilo?[Silos];
        try
        {
            for (int i = 0; i < Silos; i++)
            {
                silos[i] = await LocalSilo.StartAsync(root, env[i], Ready);
            }

            using var host = await LocalClusterClient.ConnectAsync(clusterId, env[0]["MemRL__Cluster__Redis"]);
            var memory = new MemoryClient(host.Services.GetRequiredService<IClusterClient>());
            string name = ClusterFixture.NewBankName("chaos");
            const int shards = 6;
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
            var bank = memory.Bank(name);

            long recalls = 0, recallErrors = 0, fullCoverage = 0;
            using var stop = new CancellationTokenSource();
            var load = new AgentLoad();
            var agents = load.Start(bank, agents: 6, seed: 900, _ => true, async (v, _, _) =>
            {
                Interlocked.Increment(ref recalls);
                try
                {
                    var recall = await bank.RecallAsync(v.Gaussian());
                    if (recall.Coverage.IsFull)
                    {
                        Interlocked.Increment(ref fullCoverage);
                    }
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref recallErrors);
                }
            }, stop.Token);

            // One disruption: the action, then until every silo is ready and a recall sees every shard again.
            async Task DisruptAsync(string what, Func<Task> action)
            {
                long r0 = Interlocked.Read(ref recalls), e0 = Interlocked.Read(ref recallErrors);
                var clock = Stopwatch.StartNew();
                await action();
                await Wait.UntilAsync(async () =>
                {
                    try
                    {
                        return (await bank.RecallAsync(new Vectors(1, BankHelpers.Dimension).Gaussian(), new RecallSettings(RequireFullCoverage: true))).Coverage.IsFull;
                    }
                    catch (Exception)
                    {
                        return false;
                    }
                }, $"full coverage after {what}", seconds: 120);
                long r = Interlocked.Read(ref recalls) - r0, e = Interlocked.Read(ref recallErrors) - e0;
                output.WriteLine($"{what}: full coverage again after {clock.Elapsed.TotalSeconds:F1} s; recalls {r}, failed {e} ({(r == 0 ? 0 : 100.0 * e / r):F1} %)");
            }

            var random = new Random(31);
            for (int kill = 0; kill < kills; kill++)
            {
                int victim = random.Next(Silos);
                await DisruptAsync($"SIGKILL silo {victim}", async () =>
                {
                    silos[victim]!.Kill();
                    silos[victim] = await LocalSilo.StartAsync(root, env[victim], Ready);
                });
            }

            for (int i = 0; i < Silos; i++)
            {
                int rolled = i;
                await DisruptAsync($"rolling restart of silo {rolled}", async () =>
                {
                    await silos[rolled]!.StopGracefullyAsync(TimeSpan.FromSeconds(60));
                    silos[rolled] = await LocalSilo.StartAsync(root, env[rolled], Ready);
                });
            }

            stop.Cancel();
            await Task.WhenAll(agents);
            output.WriteLine($"in all: {recalls} recalls, {recallErrors} failed, {fullCoverage} with full coverage; {load.Acked.Count} writes acknowledged, {load.InFlight.Count} in flight at a failure");
            await using var store = new PostgreSqlMemoryStore(postgres);
            await CrashTests.SettleWritesAsync(bank, load.Acked, load.InFlight.Values, store, name, shards);
            foreach (string id in load.Acked.Values)
            {
                Assert.NotNull(await bank.GetAsync(id));
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
