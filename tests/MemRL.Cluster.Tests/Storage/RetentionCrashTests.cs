using MemRL.Client;
using MemRL.Cluster.Tests.Fixtures;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// Retention runs with silo processes SIGKILLed among them (Redis membership, PostgreSQL data): each run is retried with
/// its operation id until it answers. A run cut short between shards leaves some shards' parts applied; its retry
/// answers those parts as recorded and applies the rest from a new plan. Afterwards every memory was archived at most
/// once (its revision and its history say so), the answers of all runs add up to exactly the archived memories, and the
/// bank reaches its cap.
/// </summary>
[Collection(StorageClusterCollection.Name)]
public sealed class RetentionCrashTests
{
    private const int Total = 200, Cap = 50;

    [ProcessClusterFact]
    public async Task SigkillDuringRetentionRuns_ArchivesEachMemoryOnce_AndTheAnswersCountWhatWasApplied()
    {
        // The silos' own schedule is off: every run here is in the ledger. Ports clear of the other process tests.
        var overrides = new Dictionary<string, string> { ["MemRL__RetentionInterval"] = "00:00:00" };
        await using var cluster = await ProcessCluster.StartAsync("retention", 2, portBase: 4680, overrides);
        var memory = cluster.Memory;
        string name = ClusterFixture.NewBankName("retention-kill");
        var policy = new RetentionSettings { MaxActive = Cap, MaxPerRun = 3 };
        await memory.CreateBankAsync(name, new BankSpec(BankHelpers.Dimension, "test-embedder", new BankOptions { Delta = -1, MergeThreshold = 2, Retention = policy }, 4));
        var bank = memory.Bank(name);
        var vectors = new Vectors(131, BankHelpers.Dimension);
        var ids = new List<string>();
        for (int i = 0; i < Total; i++)
        {
            ids.Add((await bank.WriteAsync(vectors.Gaussian(), $"t{i}", $"e{i}", true, operationId: $"w-{i}")).MemoryId);
        }

        // Q spread, so the cap orders by utility rather than by time alone.
        for (int i = 0; i < 30; i++)
        {
            var recall = await bank.RecallAsync(vectors.Gaussian());
            await bank.RewardAsync(recall.Token, i % 2 == 0 ? 1 : -1, operationId: $"r-{i}");
        }

        // Kills while the runs go on: each lands in a run, between runs, or in a retry.
        var random = new Random(17);
        var killer = Task.Run(async () =>
        {
            for (int kill = 0; kill < 3; kill++)
            {
                await Task.Delay(random.Next(100, 600));
                await cluster.KillAndRestartAsync(kill % 2);
            }
        });

        var answers = new Dictionary<string, RetentionRunResult>();
        int run = 0, retried = 0;
        while (!killer.IsCompleted || (await UntilAnsweredAsync(bank.GetStatsAsync, "stats")).Memories > Cap)
        {
            Assert.True(run < 1000, "the bank did not reach its cap in 1000 runs");
            string op = $"run-{run++}";
            int attempts = 0;
            answers[op] = await UntilAnsweredAsync(() => { attempts++; return bank.RunRetentionAsync(op); }, op);
            retried += attempts > 1 ? 1 : 0;
        }

        await killer;
        // A kill that fell between runs only would test nothing: at least one run failed and was retried.
        Assert.True(retried > 0, $"no run of {run} needed a retry");
        // Retried once more, every run answers as it did: nothing is applied twice.
        foreach (var (op, answer) in answers.Take(5))
        {
            Assert.Equal(answer, await bank.RunRetentionAsync(op));
        }

        var stats = await bank.GetStatsAsync();
        Assert.Equal((Cap, Total - Cap), (stats.Memories, stats.ArchivedMemories));
        Assert.Equal(Total - Cap, answers.Values.Sum(a => a.Archived));
        Assert.Equal(0, answers.Values.Sum(a => a.Purged));
        int archived = 0;
        foreach (string id in ids)
        {
            var m = await bank.GetAsync(id);
            var entries = (await bank.GetHistoryAsync(id, limit: 256)).Entries.Where(e => e.Kind == MemoryHistoryEntry.ArchiveKind).ToList();
            // Archived once or never: one archive entry, revision 1, at the memory's archive time.
            Assert.Equal(m.ArchivedAt is null ? 0 : 1, m.Revision);
            Assert.Equal(m.Revision, entries.Count);
            if (m.ArchivedAt is { } at)
            {
                Assert.Equal(at, entries[0].At);
                archived++;
            }
        }

        Assert.Equal(Total - Cap, archived);
    }

    // A call retried while silos die and come back (each attempt may fail on the dead silo or time out).
    private static async Task<T> UntilAnsweredAsync<T>(Func<Task<T>> call, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (e is not ArgumentException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
            catch (Exception e) when (e is not ArgumentException)
            {
                throw new TimeoutException($"{what} did not answer within 3 minutes", e);
            }
        }
    }
}
