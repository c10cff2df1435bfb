using System.Diagnostics;
using System.Globalization;
using MemRL.Client;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Durable-storage benchmark (issue 5): one silo in this process with a co-hosted client, against SQLite
// (synchronous=FULL) or PostgreSQL (synchronous_commit=on). Closed loops at several agent counts: Q updates/s and new-key
// writes/s and joining writes/s with p99 acknowledgement latency; then shard activation from the log alone vs from a snapshot; then bytes
// stored per memory and per Q update (SQLite file size deltas).
// Usage: MemRL.Bench.Storage sqlite|postgres|azure [connection string] [--keys N] [--seconds S] [--dim D] [--shards S] [--hnsw]
// --hnsw: the shard searches with its HNSW graph (the default: exact search, as the first runs did); either way the
// shard keeps a graph, so a replay rebuilds it and a snapshot loads it.
// `transfer`: export and import throughput (TransferBench.cs).
// `recall-table`: the memory one remembered (recall, memory) reward takes on a shard (the exactly-once table), then exits.
if (args is ["recall-table", ..])
{
    MeasureRecallTable(1_000_000);
    return;
}

if (args is ["transfer", ..])
{
    await TransferBench.RunAsync(args[1..]);
    return;
}

string backend = args.Length > 0 ? args[0] : "sqlite";
string? connection = args.Length > 1 && !args[1].StartsWith("--", StringComparison.Ordinal) ? args[1] : null;
CpuClock.ServerProcess = backend == "azure" ? "node" : "postgres";
int keys = Arg("--keys", 10_000);
int seconds = Arg("--seconds", 5);
int[] agentCounts = [1, 16, 64];
int Dimension = Arg("--dim", 64);
int shards = Arg("--shards", 1);
bool hnsw = args.Contains("--hnsw");
string sqlitePath = Path.Combine(Path.GetTempPath(), $"memrl-bench-{Guid.NewGuid():N}.db");

var random = new Random(42);
// Clustered unit vectors (the cluster benchmark's generator, like the ANN harness's default profile): real intent
// embeddings cluster, and uniform random vectors in 384 dimensions are a worst case no embedding model produces.
var intents = MemRL.Bench.Cluster.Dataset.Clustered(keys + 4096, Dimension, seed: 42);
string bankName = $"bench-{Guid.NewGuid():N}";
using var pool = new PoolSampler();
long retries = 0;
Console.WriteLine($"backend {backend}, keys {keys}, {seconds} s per point, dimension {Dimension}, {shards} shard(s), {(hnsw ? "HNSW" : "exact")} search, {Environment.ProcessorCount} cores");

await using (var silo = await StartAsync(snapshotEvery: int.MaxValue))
{
    var bank = silo.Memory.Bank(bankName);
    await silo.Memory.CreateBankAsync(bankName, new BankSpec(Dimension, "bench", new BankOptions { Delta = -1, MergeThreshold = 2, K1 = 5, K2 = 3 }, shards, new IndexSettings(Exact: !hnsw)));
    pool.Begin();
    var load = Stopwatch.StartNew();
    await Parallel.ForAsync(0, keys, new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (i, _) =>
        await RetryingAsync(() => bank.WriteAsync(intents[i], $"intent {i}", $"experience {i}", true, operationId: $"load-{i}")));
    Console.WriteLine($"load: {keys} new-key writes in {load.Elapsed.TotalSeconds:F1} s with 64 writers = {keys / load.Elapsed.TotalSeconds:F0}/s");
    Console.WriteLine($"  {pool.Report()}");
    long sizeAfterLoad = DatabaseBytes();

    // Each memory takes one reward per recall, so every reward needs a recall of its own; a recall per step would
    // measure recall too. The benchmark recalls a pool of memory sets once, then signs a fresh token (a new recall id)
    // for one of them per reward, as the coordinator would after recalling it again.
    var info = await silo.Memory.GetBankAsync(bankName) ?? throw new InvalidOperationException("bank missing");
    var signer = silo.Signer;
    var recalled = new List<MemoryId[]>();
    for (int i = 0; i < 256; i++)
    {
        recalled.Add((await bank.RecallAsync(intents[random.Next(keys)])).Memories.Select(m => MemoryId.Parse(m.Id, "id")).ToArray());
    }

    long rewards = 0;
    foreach (int agents in agentCounts)
    {
        var cpu = CpuClock.Start();
        pool.Begin();
        var (ops, p50, p99) = await ClosedLoopAsync(agents, seconds, async n =>
        {
            // One token per reward, reused by its retry: a resend is the same reward, as an agent's would be.
            string signed = signer.Sign(bankName, info.Incarnation, new Coverage(shards, shards), recalled[n % recalled.Count], []);
            await RetryingAsync(() => bank.RewardAsync(signed, (n & 1) == 0 ? 1.0 : 0.0, operationId: $"r-{agents}-{n}"));
        });
        rewards += ops;
        Console.WriteLine($"reward  agents {agents,2}: {ops / (double)seconds,8:F0} rewards/s = {3 * ops / (double)seconds,8:F0} Q updates/s, p50 {p50:F2} ms, p99 {p99:F2} ms, {cpu.Report()}");
        Console.WriteLine($"  {pool.Report()}");
    }

    long sizeAfterRewards = DatabaseBytes();
    int written = 0;
    foreach (int agents in agentCounts)
    {
        int offset = keys + written;
        var cpu = CpuClock.Start();
        pool.Begin();
        var (ops, p50, p99) = await ClosedLoopAsync(agents, seconds, async n =>
            await RetryingAsync(() => bank.WriteAsync(intents[(offset + n) % intents.Length], "w", $"experience w{agents}-{n}", true, operationId: $"w-{agents}-{n}")));
        written += (int)ops;
        Console.WriteLine($"write   agents {agents,2}: {ops / (double)seconds,8:F0} new-key writes/s, p50 {p50:F2} ms, p99 {p99:F2} ms, {cpu.Report()}");
        Console.WriteLine($"  {pool.Report()}");
    }

    // Joins: the same bank with a merge threshold, writing intents equal to stored keys, so each write adds a memory to
    // an existing key (no graph insert). Without a recall token the coordinator asks every shard for the nearest key.
    var described = await silo.Memory.GetBankAsync(bankName);
    await silo.Memory.UpdateOptionsAsync(bankName, described!.Options with { MergeThreshold = 0.9 });
    foreach (int agents in agentCounts)
    {
        long joined = 0;
        var cpu = CpuClock.Start();
        pool.Begin();
        var (ops, p50, p99) = await ClosedLoopAsync(agents, seconds, async n =>
        {
            var r = await RetryingAsync(() => bank.WriteAsync(intents[n % keys], "j", $"experience j{agents}-{n}", true, operationId: $"j-{agents}-{n}"));
            if (!r.CreatedKey)
            {
                Interlocked.Increment(ref joined);
            }
        });
        Console.WriteLine($"join    agents {agents,2}: {ops / (double)seconds,8:F0} joining writes/s ({100.0 * joined / ops:F0} % joined), p50 {p50:F2} ms, p99 {p99:F2} ms, {cpu.Report()}");
        Console.WriteLine($"  {pool.Report()}");
    }

    if (backend == "sqlite")
    {
        Console.WriteLine($"bytes: {(double)sizeAfterLoad / keys:F0} per memory after load (file incl. WAL), {(double)(sizeAfterRewards - sizeAfterLoad) / (3 * rewards):F0} per Q update");
    }
}

// Activation: the same shard loaded from its whole log (twice when small: the first also warms the process; a large
// replay runs long enough that warm-up does not matter); then one run that takes a snapshot; then loaded from it (twice).
if (keys < 50_000)
{
    await ActivationAsync(int.MaxValue);
}

double fromLog = await ActivationAsync(int.MaxValue);
await ActivationAsync(1);
await ActivationAsync(int.MaxValue);
double fromSnapshot = await ActivationAsync(int.MaxValue);
Console.WriteLine($"retries after an unavailable shard: {retries}");
Console.WriteLine($"activation: from log replay {fromLog:F0} ms, from snapshot {fromSnapshot:F0} ms = {fromLog / fromSnapshot:F1}x (includes the bank grain and the first call)");
if (backend == "sqlite")
{
    File.Delete(sqlitePath);
}

async Task<double> ActivationAsync(int snapshotEvery)
{
    await using var silo = await StartAsync(snapshotEvery);
    var info = await silo.Memory.GetBankAsync(bankName);
    var shard = silo.Factory.GetGrain<IMemoryShardGrain>(BankNames.ShardKey(bankName, 0));
    pool.Begin();
    var watch = Stopwatch.StartNew();
    var stats = await shard.GetStatsAsync(info!.Version);
    watch.Stop();
    Console.WriteLine($"  activation {(snapshotEvery == 1 ? "(takes a snapshot) " : "")}{watch.Elapsed.TotalMilliseconds:F0} ms; {pool.Report()}");
    if (snapshotEvery == 1)
    {
        // A commit makes the activation take its snapshot (in the background): write until one lands on shard 0 (writes
        // route by slot), then wait until storage has the snapshot.
        var store = silo.Store;
        for (int i = 0; (await store.LoadShardAsync(BankNames.ShardKey(bankName, 0))).SnapshotPosition == 0; i++)
        {
            await silo.Memory.Bank(bankName).WriteAsync(intents[i % intents.Length], "s", "snapshot trigger", true, operationId: $"snap-{Guid.NewGuid():N}");
            await Task.Delay(50);
        }
    }

    Console.Error.WriteLine($"  activation saw {stats.Memories} memories");
    return watch.Elapsed.TotalMilliseconds;
}

Task<Silo> StartAsync(int snapshotEvery) => Silo.StartAsync(o =>
{
    o.Provider = backend switch { "sqlite" => StorageProvider.Sqlite, "azure" => StorageProvider.Azure, _ => StorageProvider.PostgreSql };
    o.SqlitePath = sqlitePath;
    o.PostgreSqlConnectionString = backend == "postgres" ? connection : null;
    o.AzureConnectionString = backend == "azure" ? connection : null;
    o.SnapshotEveryEvents = snapshotEvery;
});

static void MeasureRecallTable(int entries)
{
    long before = GC.GetTotalMemory(forceFullCollection: true);
    var table = new RecallRewardLog();
    for (int i = 0; i < entries; i++)
    {
        table.Record(Guid.NewGuid(), i, new RecallReward(1.0, 0.3, 1, DateTime.UtcNow.Ticks + TimeSpan.TicksPerHour));
    }

    long after = GC.GetTotalMemory(forceFullCollection: true);
    Console.WriteLine($"recall-reward table: {entries:N0} entries, {(after - before) / (double)entries:F1} bytes per entry (managed heap delta)");
    GC.KeepAlive(table);
}

long DatabaseBytes() => backend == "sqlite"
    ? new[] { sqlitePath, sqlitePath + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length)
    : 0;

// A shard that lost its storage fence (a starved SDK resent a commit the store had applied; docs/storage.md) or found its
// storage unavailable refuses the call unacknowledged; an agent retries with the same operation id, which applies it at
// most once. The benchmark does the same and counts the retries, which it prints at the end (the latency of a retried
// call includes its retries).
async Task<T> RetryingAsync<T>(Func<Task<T>> call)
{
    for (int attempt = 1; ; attempt++)
    {
        try
        {
            return await call();
        }
        catch (ShardUnavailableException e) when (attempt < 10)
        {
            Interlocked.Increment(ref retries);
            Console.Error.WriteLine($"  retry {attempt} after: {e.Message}");
            await Task.Delay(200 * attempt);
        }
    }
}

static async Task<(long Ops, double P50, double P99)> ClosedLoopAsync(int agents, int seconds, Func<int, Task> call)
{
    var deadline = Stopwatch.StartNew();
    int next = 0;
    var latencies = new List<double>[agents];
    await Task.WhenAll(Enumerable.Range(0, agents).Select(async a =>
    {
        var mine = latencies[a] = [];
        while (deadline.Elapsed.TotalSeconds < seconds)
        {
            int n = Interlocked.Increment(ref next);
            long start = Stopwatch.GetTimestamp();
            await call(n);
            mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }));
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return (all.Length, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
}

int Arg(string name, int fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

// CPU time used by this process (silo + client + load generator; with SQLite also the database) and by the PostgreSQL
// server's processes, over one measured point, as cores busy on average.
sealed class CpuClock
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly TimeSpan _self = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly double _postgres = PostgresSeconds();

    public static CpuClock Start() => new();

    public string Report()
    {
        double wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        double self = (Process.GetCurrentProcess().TotalProcessorTime - _self).TotalSeconds / wall;
        double postgres = (PostgresSeconds() - _postgres) / wall;
        return $"CPU cores: this process {self:F2}, {ServerProcess} {postgres:F2}";
    }

    // The storage server's processes: PostgreSQL's, or Azurite's (node) for the azure backend.
    public static string ServerProcess { get; set; } = "postgres";

    // utime + stime of every process named ServerProcess (/proc/<pid>/stat fields 14 and 15, in clock ticks of 1/100 s).
    private static double PostgresSeconds()
    {
        double ticks = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int open = stat.IndexOf('(', StringComparison.Ordinal);
                int close = stat.LastIndexOf(')');
                if (open < 0 || close < 0 || stat[(open + 1)..close] != ServerProcess)
                {
                    continue;
                }

                string[] fields = stat[(close + 2)..].Split(' ');
                ticks += double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The process ended between listing and reading.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return ticks / 100.0;
    }
}

sealed class Silo(IHost host) : IAsyncDisposable
{
    /// <summary>One silo in this process with a co-hosted client on the storage <paramref name="storage"/> sets up.</summary>
    public static async Task<Silo> StartAsync(Action<StorageOptions> storage)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering();
            // Replaying a 50k-key shard rebuilds its graph for longer than Orleans' default 30 s response timeout; the
            // activation measurement waits for it instead of timing out.
            silo.Configure<Orleans.Configuration.SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(10));
            silo.AddMemRL(o => o.MaxPendingPerShard = 100_000).Configure(storage);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new Silo(host);
    }

    public IGrainFactory Factory => host.Services.GetRequiredService<IGrainFactory>();

    public MemoryClient Memory => new(Factory);

    public IMemoryStore Store => host.Services.GetRequiredService<IMemoryStore>();

    internal RecallTokenSigner Signer => host.Services.GetRequiredService<RecallTokenSigner>();

    public async ValueTask DisposeAsync()
    {
        await host.StopAsync();
        host.Dispose();
    }
}
