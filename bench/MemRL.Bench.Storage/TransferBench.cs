using System.Diagnostics;
using System.Globalization;
using MemRL.Client;
using MemRL.Client.Export;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

/// <summary>
/// Export and import throughput (issue 17): a bank of <c>--keys</c> new-key memories (384-d by default, 2 shards, HNSW)
/// on the embedded SQLite store, a few thousand rewards so Q values differ, then: the export to a file (memories/s,
/// bytes, the managed heap sampled while it runs: the export holds one page, not the bank); an import of that file into
/// a new bank on the same SQLite store; with <c>--postgres CONN</c> an import into PostgreSQL by a second silo. Each
/// import is checked against the source: same memory count, same sum of Q, and the same memories (by experience text and
/// Q) in the top 10 of 200 recalls. An import re-inserts every key into its shard's graph, so its rate is bounded by the
/// index build, which the load's rate shows too (both print it).
/// Usage: MemRL.Bench.Storage transfer [--keys N] [--dim D] [--shards S] [--postgres CONN]
/// </summary>
internal static class TransferBench
{
    public static async Task RunAsync(string[] args)
    {
        int keys = Arg(args, "--keys", 100_000);
        int dimension = Arg(args, "--dim", 384);
        int shards = Arg(args, "--shards", 2);
        int at = Array.IndexOf(args, "--postgres");
        string? postgres = at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
        string sqlitePath = Path.Combine(Path.GetTempPath(), $"memrl-transfer-{Guid.NewGuid():N}.db");
        string exportPath = Path.Combine(Path.GetTempPath(), $"memrl-transfer-{Guid.NewGuid():N}.memrl");
        string source = $"transfer-{Guid.NewGuid():N}"[..20], copy = source + "-copy";
        var intents = MemRL.Bench.Cluster.Dataset.Clustered(keys + 200, dimension, seed: 42);
        var queries = intents[keys..];
        Console.WriteLine($"transfer: {keys} memories, dimension {dimension}, {shards} shards, HNSW, {Environment.ProcessorCount} cores, load {LoadAverage()}");

        Snapshot expected;
        try
        {
            await using (var silo = await Silo.StartAsync(o => { o.Provider = StorageProvider.Sqlite; o.SqlitePath = sqlitePath; }))
            {
                await silo.Memory.CreateBankAsync(source, new BankSpec(dimension, "bench", new BankOptions { Delta = -1, MergeThreshold = 2, K1 = 10, K2 = 10 }, shards));
                var bank = silo.Memory.Bank(source);
                var watch = Stopwatch.StartNew();
                await Parallel.ForAsync(0, keys, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
                    await bank.WriteAsync(intents[i], $"intent {i}", $"experience {i}", true, operationId: $"load-{i}"));
                Console.WriteLine($"load: {keys} new-key writes in {watch.Elapsed.TotalSeconds:F1} s = {keys / watch.Elapsed.TotalSeconds:F0}/s (64 writers)");

                var random = new Random(7);
                for (int i = 0; i < 2000; i++)
                {
                    var recalled = await bank.RecallAsync(queries[i % queries.Length]);
                    await bank.RewardAsync(recalled.Token, random.Next(2) == 0 ? 1.0 : -1.0, operationId: $"reward-{i}");
                }

                expected = await SnapshotAsync(silo.Memory.Bank(source), queries);
                using (var heap = new HeapSampler())
                {
                    watch.Restart();
                    ExportCounts counts;
                    await using (var file = File.Create(exportPath))
                    {
                        counts = await silo.Memory.ExportBankAsync(source, file);
                    }

                    double seconds = watch.Elapsed.TotalSeconds;
                    long bytes = new FileInfo(exportPath).Length;
                    Console.WriteLine($"export: {counts.Memories} memories ({counts.Keys} keys) in {seconds:F2} s = {counts.Memories / seconds:F0} memories/s, " +
                        $"{bytes / 1048576.0:F1} MiB ({(double)bytes / counts.Memories:F0} bytes per memory); managed heap {heap.Report()}");
                }

                await ImportAsync(silo, copy, exportPath, expected, queries, "SQLite");
            }

            if (postgres is not null)
            {
                await using var silo = await Silo.StartAsync(o => { o.Provider = StorageProvider.PostgreSql; o.PostgreSqlConnectionString = postgres; });
                await ImportAsync(silo, copy, exportPath, expected, queries, "PostgreSQL");
                await silo.Memory.DeleteBankAsync(copy);
            }
        }
        finally
        {
            foreach (string file in new[] { exportPath, sqlitePath, sqlitePath + "-wal", sqlitePath + "-shm" })
            {
                File.Delete(file);
            }
        }
    }

    private static async Task ImportAsync(Silo silo, string bank, string path, Snapshot expected, float[][] queries, string store)
    {
        var watch = Stopwatch.StartNew();
        ImportResult result;
        await using (var file = File.OpenRead(path))
        {
            result = await silo.Memory.ImportBankAsync(bank, file);
        }

        double seconds = watch.Elapsed.TotalSeconds;
        var actual = await SnapshotAsync(silo.Memory.Bank(bank), queries);
        Console.WriteLine($"import into {store}: {result.Counts.Memories} memories in {seconds:F2} s = {result.Counts.Memories / seconds:F0} memories/s; " +
            $"check: memories {actual.Memories} (source {expected.Memories}), sum of Q {(actual.QSum == expected.QSum ? "equal" : $"{actual.QSum} vs {expected.QSum}")}, " +
            $"identical top-10 recalls {Same(expected, actual)} of {queries.Length}");
    }

    // What the checks compare: the memory count, the sum of Q (in id order, so the sum is computed in the same order on
    // both sides), and each recall's memories as (experience, Q).
    private sealed record Snapshot(long Memories, double QSum, List<string[]> Recalls);

    private static async Task<Snapshot> SnapshotAsync(BankClient bank, float[][] queries)
    {
        long memories = 0;
        var qs = new List<(long Sequence, double Q)>();
        string? cursor = null;
        do
        {
            var page = await bank.ListAsync(limit: 1000, cursor: cursor);
            foreach (var m in page.Memories)
            {
                qs.Add((MemoryId.Parse(m.Id, "id").Sequence, m.Q));
            }

            memories += page.Memories.Count;
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        var recalls = new List<string[]>();
        foreach (var query in queries)
        {
            recalls.Add((await bank.RecallAsync(query)).Memories.Select(m => $"{m.Experience}|{m.Q:R}").ToArray());
        }

        return new Snapshot(memories, qs.OrderBy(x => x.Sequence).Sum(x => x.Q), recalls);
    }

    private static int Same(Snapshot a, Snapshot b) => a.Recalls.Zip(b.Recalls).Count(p => p.First.SequenceEqual(p.Second));

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

    private static int Arg(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    // The managed heap every 50 ms while it runs: its value when it started and the largest seen.
    private sealed class HeapSampler : IDisposable
    {
        private readonly long _start = GC.GetTotalMemory(forceFullCollection: true);
        private readonly Timer _timer;
        private long _max;

        public HeapSampler()
        {
            _max = _start;
            _timer = new Timer(_ => InterlockedMax(GC.GetTotalMemory(false)), null, 0, 50);
        }

        public string Report() => $"{_start / 1048576.0:F0} MiB before, at most {Interlocked.Read(ref _max) / 1048576.0:F0} MiB during";

        public void Dispose() => _timer.Dispose();

        private void InterlockedMax(long value)
        {
            long seen;
            while (value > (seen = Interlocked.Read(ref _max)) && Interlocked.CompareExchange(ref _max, value, seen) != seen)
            {
            }
        }
    }
}
