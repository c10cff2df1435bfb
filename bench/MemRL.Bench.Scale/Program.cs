using System.Diagnostics;
using System.Globalization;
using MemRL.Bench.Cluster;
using MemRL.Client;
using MemRL.GrainInterfaces;
using MemRL.LocalCluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// Scaling on this machine (issue 8): 1, 2 and 3 silo processes of deploy/local (PostgreSQL data, Redis membership),
// driven by this process through the Orleans gateway; then how long recall takes to see every shard again after a
// silo is SIGKILLed, with and without restarting it. Needs PostgreSQL and Redis: --postgres CS --redis HOST:PORT.
var flags = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    if (args[i] is not ("--postgres" or "--redis" or "--keys" or "--seconds" or "--kills") || i + 1 >= args.Length)
    {
        throw new ArgumentException($"argument is '{args[i]}'; expected --postgres CS --redis HOST:PORT [--keys N] [--seconds N] [--kills N].");
    }

    flags[args[i]] = args[++i];
}

string postgres = flags.GetValueOrDefault("--postgres") ?? throw new ArgumentException("--postgres is missing; expected a PostgreSQL connection string.");
string redis = flags.GetValueOrDefault("--redis") ?? throw new ArgumentException("--redis is missing; expected HOST:PORT of a Redis server.");
int keys = Int("--keys", 10_000), seconds = Int("--seconds", 5), kills = Int("--kills", 5);
const int Dimension = 384, Shards = 6, Agents = 64;
// Run from the repository (the silo build and deploy/local are found from the working directory).
string root = LocalSilo.FindRoot(Directory.GetCurrentDirectory());
var data = Dataset.Clustered(keys + 500, Dimension, seed: 42);
var queries = data[keys..];

Console.WriteLine($"Scaling: {keys} keys × {Dimension} in {Shards} shards, {Agents} agents, {seconds} s per point; silo processes of deploy/local on this machine");
Console.WriteLine();
Console.WriteLine("| silos | recalls/s | p50 / p99 ms | writes/s (new keys) | p99 ms | machine CPU busy | failed |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
for (int silos = 1; silos <= 3; silos++)
{
    await using var cluster = await Cluster.StartAsync(root, postgres, redis, silos);
    var bank = await cluster.LoadBankAsync(data[..keys]);
    var cpu = MachineCpu.Read();
    var recall = await Measure.ClosedLoopAsync(Agents, TimeSpan.FromSeconds(seconds), q => bank.RecallAsync(queries[q % queries.Length]));
    var write = await Measure.ClosedLoopAsync(Agents, TimeSpan.FromSeconds(seconds), q =>
        bank.WriteAsync(queries[q % queries.Length], "w", "experience", true, operationId: $"scale-{silos}-{q}"));
    double busy = MachineCpu.Read().BusySince(cpu);
    Console.WriteLine($"| {silos} | {recall.Throughput:F0} | {recall.Percentile(0.5):F1} / {recall.Percentile(0.99):F1} | {write.Throughput:F0} | {write.Percentile(0.99):F1} | {busy:P0} | {recall.Failed + write.Failed} |");
}

Console.WriteLine();
Console.WriteLine("| after SIGKILL of a silo (3 silos) | runs | seconds to full recall coverage: each run | median |");
Console.WriteLine("|---|---:|---|---:|");
await using (var cluster = await Cluster.StartAsync(root, postgres, redis, 3))
{
    var bank = await cluster.LoadBankAsync(data[..keys]);
    var random = new Random(5);
    foreach (bool restart in new[] { false, true })
    {
        var times = new List<double>();
        for (int kill = 0; kill < kills; kill++)
        {
            int victim = random.Next(3);
            var clock = Stopwatch.StartNew();
            cluster.Kill(victim);
            var restarting = restart ? cluster.RestartAsync(victim) : Task.CompletedTask;
            while (!await FullCoverageAsync(bank, queries[kill]))
            {
                await Task.Delay(20);
            }

            times.Add(clock.Elapsed.TotalSeconds);
            await restarting;
            if (!restart)
            {
                await cluster.RestartAsync(victim);
            }
        }

        string label = restart ? "restarted at once (as a Deployment does)" : "not restarted (survivors take its shards)";
        Console.WriteLine($"| {label} | {kills} | {string.Join(", ", times.Select(t => t.ToString("F1", CultureInfo.InvariantCulture)))} | {times.Order().ElementAt(times.Count / 2):F1} |");
    }
}

static async Task<bool> FullCoverageAsync(BankClient bank, float[] query)
{
    try
    {
        return (await bank.RecallAsync(query, new RecallSettings(RequireFullCoverage: true))).Coverage.IsFull;
    }
    catch (Exception)
    {
        return false;
    }
}

int Int(string flag, int fallback) =>
    !flags.TryGetValue(flag, out string? text) ? fallback
    : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
    : throw new ArgumentException($"{flag} is '{text}'; expected a positive integer.");

/// <summary>N silo processes and a gateway client, with their own cluster id and state directory.</summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly Dictionary<string, string>[] _env;
    private readonly LocalSilo?[] _silos;
    private readonly IHost _client;
    private readonly string _state;

    private Cluster(string root, Dictionary<string, string>[] env, LocalSilo?[] silos, IHost client, string state)
    {
        (_root, _env, _silos, _client, _state) = (root, env, silos, client, state);
    }

    public static async Task<Cluster> StartAsync(string root, string postgres, string redis, int count)
    {
        string clusterId = $"scale-{count}-{Guid.NewGuid():N}";
        string state = Directory.CreateTempSubdirectory("memrl-scale-").FullName;
        var env = LocalSilo.Environment(root, state, clusterId, postgres, redis, count);
        var silos = new LocalSilo?[count];
        for (int i = 0; i < count; i++)
        {
            silos[i] = await LocalSilo.StartAsync(root, env[i], TimeSpan.FromSeconds(90));
        }

        return new Cluster(root, env, silos, await LocalClusterClient.ConnectAsync(clusterId, redis), state);
    }

    public async Task<BankClient> LoadBankAsync(float[][] keys)
    {
        var memory = new MemoryClient(_client.Services.GetRequiredService<IClusterClient>());
        string name = $"scale-{Guid.NewGuid():N}";
        await memory.CreateBankAsync(name, new BankSpec(keys[0].Length, "bench", new BankOptions { Delta = -1, MergeThreshold = 2 }, 6));
        var bank = memory.Bank(name);
        await Parallel.ForAsync(0, keys.Length, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
            await bank.WriteAsync(keys[i], $"key {i}", $"experience {i}", true, operationId: $"load-{i}"));
        return bank;
    }

    public void Kill(int silo)
    {
        _silos[silo]?.Kill();
        _silos[silo] = null;
    }

    public async Task RestartAsync(int silo) => _silos[silo] = await LocalSilo.StartAsync(_root, _env[silo], TimeSpan.FromSeconds(90));

    public async ValueTask DisposeAsync()
    {
        await _client.StopAsync();
        _client.Dispose();
        foreach (var silo in _silos)
        {
            silo?.Kill();
        }

        Directory.Delete(_state, recursive: true);
    }
}

/// <summary>Whole-machine CPU from /proc/stat: every process on it (silos, PostgreSQL, Redis, this load generator).</summary>
internal readonly record struct MachineCpu(long Busy, long Total)
{
    public static MachineCpu Read()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        long idle = fields[3] + fields[4];
        return new MachineCpu(fields.Sum() - idle, fields.Sum());
    }

    public double BusySince(MachineCpu start) => (double)(Busy - start.Busy) / Math.Max(1, Total - start.Total);
}
