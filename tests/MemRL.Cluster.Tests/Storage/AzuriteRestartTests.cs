using System.Diagnostics;
using System.Net.Sockets;
using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>A fact that starts Azurite itself (MEMRL_TEST_AZURITE_BIN: the azurite executable .ci/run installs).</summary>
public sealed class AzuriteProcessFactAttribute : FactAttribute
{
    public const string Variable = "MEMRL_TEST_AZURITE_BIN";

    public AzuriteProcessFactAttribute()
    {
        if (!File.Exists(Environment.GetEnvironmentVariable(Variable)))
        {
            Skip = $"{Variable} is not set to the azurite executable; set it (as .ci/run does, tools/azurite) to kill and restart the storage service.";
        }
    }
}

/// <summary>
/// The storage service itself goes away under load: Azurite is killed while agents write, then started again on the same
/// data folder; afterwards the ledger holds (acknowledged ⊆ recovered ⊆ acknowledged ∪ in-flight, each write once) and
/// the cluster serves again without a restart. The kill is SIGTERM: Azurite keeps its tables in LokiJS and saves them to
/// disk every 5 s (autosaveInterval in its LokiTableMetadataStore), so a SIGKILL of the emulator loses up to 5 s of
/// writes it had acknowledged — tried: 43 of 89 acknowledged writes gone. That is the emulator's durability, not Azure
/// Storage's (a real account acknowledges a transaction once it is on three replicas); docs/storage.md says so.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class AzuriteRestartTests
{
    // Clear of .ci/run's Azurite (10110-10112) and of a developer's on the defaults.
    private const int BlobPort = 10130;

    [AzuriteProcessFact]
    public async Task KilledAndRestartedAzurite_LosesNothingAcknowledged()
    {
        string data = Directory.CreateTempSubdirectory("memrl-azurite-").FullName;
        string connectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            + "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            + $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{BlobPort + 2}/devstoreaccount1;";
        var azurite = await StartAzuriteAsync(data);
        var cluster = await StorageClusters.StartAsync(StorageClusters.Azure(connectionString, snapshotEvery: int.MaxValue), silos: 1);
        try
        {
            var memory = new MemoryClient(cluster.Client);
            string name = ClusterFixture.NewBankName("azurite-kill");
            const int shards = 2;
            await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
            var bank = memory.Bank(name);
            using var stop = new CancellationTokenSource();
            var load = new AgentLoad();
            var agents = load.Start(bank, agents: 4, seed: 900, _ => true, (_, _, _) => Task.CompletedTask, stop.Token);

            await Wait.UntilAsync(() => load.Acked.Count > 20, "writes to be acknowledged before the kill");
            int before = load.Steps;
            using (var term = Process.Start("kill", ["-TERM", azurite.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            await azurite.WaitForExitAsync();
            azurite = await StartAzuriteAsync(data);
            await Wait.UntilAsync(() => load.Steps > before + 20, "agents to make progress after Azurite restarted", seconds: 120);

            stop.Cancel();
            await Task.WhenAll(agents);
            await CrashTests.SettleWritesAsync(bank, load.Acked, load.InFlight.Values, AzuriteFactAttribute.OpenStore(connectionString), name, shards);
            foreach (string id in load.Acked.Values.Take(50))
            {
                Assert.StartsWith("experience ", (await bank.GetAsync(id)).Experience, StringComparison.Ordinal);
            }
        }
        finally
        {
            await cluster.DisposeAsync();
            azurite.Kill(entireProcessTree: true);
            await azurite.WaitForExitAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    private static async Task<Process> StartAzuriteAsync(string data)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable(AzuriteProcessFactAttribute.Variable)!)
        {
            ArgumentList =
            {
                "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--location", data,
                "--blobHost", "127.0.0.1", "--blobPort", $"{BlobPort}", "--queueHost", "127.0.0.1", "--queuePort", $"{BlobPort + 1}",
                "--tableHost", "127.0.0.1", "--tablePort", $"{BlobPort + 2}",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        await Wait.UntilAsync(() => Listening(BlobPort) && Listening(BlobPort + 2), "Azurite to listen", seconds: 60);
        return process;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
