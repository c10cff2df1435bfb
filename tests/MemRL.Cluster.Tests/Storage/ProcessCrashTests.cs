using System.Collections.Concurrent;
using System.Diagnostics;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
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
    private const string TokenKey = ClusterFixture.TokenKey;

    [ProcessClusterFact]
    public async Task SigkilledSiloProcesses_LoseNothingAcknowledged_AndApplyEachOperationOnce()
    {
        int kills = int.TryParse(Environment.GetEnvironmentVariable("MEMRL_CRASH_KILLS"), out int k) ? k : 6;
        string clusterId = $"crash-{Guid.NewGuid():N}";
        string redis = Environment.GetEnvironmentVariable("MEMRL_TEST_REDIS")!;
        string postgres = PostgreSqlFactAttribute.ConnectionString!;
        var silos = new SiloProcess?[2];
        try
        {
            for (int i = 0; i < silos.Length; i++)
            {
                silos[i] = await SiloProcess.StartAsync(i, clusterId, redis, postgres);
            }

            var builder = Host.CreateApplicationBuilder();
            builder.UseOrleansClient(client =>
            {
                client.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = clusterId; });
                client.UseRedisClustering(redis);
                // Calls to a killed silo fail after this rather than the default 30 s.
                client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            });
            using var host = builder.Build();
            await host.StartAsync();
            var memory = new MemoryClient(host.Services.GetRequiredService<IClusterClient>());
            string name = ClusterFixture.NewBankName("sigkill");
            const int shards = 4;
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
            var bank = memory.Bank(name);

            var acked = new ConcurrentDictionary<string, string>();
            var inFlight = new ConcurrentDictionary<string, (float[] Intent, string Text)>();
            int progress = 0;
            using var stop = new CancellationTokenSource();
            var agents = Enumerable.Range(0, 4).Select(agent => Task.Run(async () =>
            {
                var v = new Vectors(500 + agent, BankHelpers.Dimension);
                for (int step = 0; !stop.IsCancellationRequested; step++)
                {
                    string op = $"w-{agent}-{step}";
                    var intent = v.Gaussian();
                    string text = $"experience {agent}/{step}";
                    try
                    {
                        acked[op] = (await bank.WriteAsync(intent, "intent", text, true, operationId: op)).MemoryId;
                        var recall = await bank.RecallAsync(v.Gaussian());
                        if (recall.Memories.Count > 0)
                        {
                            await bank.RewardAsync(recall.Token, 1.0, operationId: $"r-{agent}-{step}");
                        }
                    }
                    catch (Exception)
                    {
                        // Any failure while silos die is fine; only the ledger's invariants matter.
                        if (!acked.ContainsKey(op))
                        {
                            inFlight[op] = (intent, text);
                        }
                    }

                    Interlocked.Increment(ref progress);
                }
            })).ToArray();

            var random = new Random(23);
            for (int kill = 0; kill < kills; kill++)
            {
                int victim = random.Next(silos.Length);
                int before = Volatile.Read(ref progress);
                silos[victim]!.Kill();
                silos[victim] = await SiloProcess.StartAsync(victim, clusterId, redis, postgres);
                await Wait.UntilAsync(() => Volatile.Read(ref progress) > before + 5, $"agents to make progress after SIGKILL {kill + 1}", seconds: 120);
            }

            stop.Cancel();
            await Task.WhenAll(agents);
            Assert.True(acked.Count > 0, "no write was acknowledged; the ledger checks nothing.");
            foreach (var (op, (intent, text)) in inFlight)
            {
                acked[op] = (await bank.WriteAsync(intent, "intent", text, true, operationId: op)).MemoryId;
            }

            Assert.Equal(acked.Count, (await bank.GetStatsAsync()).Memories);
            await using var store = new PostgreSqlMemoryStore(postgres);
            var log = await CrashTests.ReadLogAsync(store, name, shards);
            var loggedWrites = log.Operations.Where(o => o.StartsWith("w-", StringComparison.Ordinal)).ToList();
            Assert.Equal(acked.Keys.Order(), loggedWrites.Order());
            foreach (string id in acked.Values)
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
        }
    }

    private sealed class SiloProcess
    {
        private readonly Process _process;

        private SiloProcess(Process process) => _process = process;

        public static async Task<SiloProcess> StartAsync(int index, string clusterId, string redis, string postgres)
        {
            var start = new ProcessStartInfo("dotnet", [SiloDll()])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment["MemRL__Cluster__Redis"] = redis;
            start.Environment["MemRL__Cluster__ClusterId"] = clusterId;
            start.Environment["MemRL__Cluster__ServiceId"] = clusterId;
            start.Environment["MemRL__Cluster__SiloPort"] = (11400 + index).ToString(System.Globalization.CultureInfo.InvariantCulture);
            start.Environment["MemRL__Cluster__GatewayPort"] = (30400 + index).ToString(System.Globalization.CultureInfo.InvariantCulture);
            // The HTTP API is not under test here: any free loopback port, and its local key kept out of the way.
            start.Environment["MemRL__Api__Urls"] = "http://127.0.0.1:0";
            start.Environment["MemRL__Api__LocalKeyPath"] = Path.Combine(Path.GetTempPath(), $"memrl-crash-{clusterId}-{index}.key");
            start.Environment["MemRL__Storage__Provider"] = "PostgreSql";
            start.Environment["MemRL__Storage__PostgreSqlConnectionString"] = postgres;
            start.Environment["MemRL__RecallTokenKey"] = TokenKey;
            // The ledger check replays each shard's whole log: no snapshot may truncate it, however long the run takes.
            start.Environment["MemRL__Storage__SnapshotEveryEvents"] = int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = start };
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.Contains("Application started", StringComparison.Ordinal) == true)
                {
                    started.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
            return new SiloProcess(process);
        }

        // SIGKILL: no shutdown hooks, no graceful deactivation.
        public void Kill()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
        }

        private static string SiloDll()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MemRL.Cluster.sln")))
            {
                dir = dir.Parent;
            }

            string path = Path.Combine(dir?.FullName ?? ".", "silo", "bin", "Release", "net10.0", "MemRL.Silo.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"Silo build not found at '{path}'; expected `dotnet build MemRL.Cluster.sln -c Release` first.", path);
        }
    }
}
