using System.Diagnostics;
using System.Globalization;
using MemRL.Bench.Cluster;
using MemRL.Client;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using MemRL.Index;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// Cluster load benchmark (issue 4): one silo in this process with a co-hosted client (the load generator runs in the
// same process, so its CPU is counted with the silo's), against the ceiling of MemRL.Index in-process with the same
// shards and ef, one searcher per shard, fanned out with Task.WhenAll.
var settings = BenchSettings.Parse(args);
Console.Error.WriteLine($"settings: {settings}");
if (settings.MachineProbe is { } probeDuration)
{
    MachineProbe.Run(Console.Out, probeDuration);
    return;
}

var data = Dataset.Clustered(settings.Keys + settings.Queries, settings.Dimension, settings.Seed);
var keys = data[..settings.Keys];
var queries = data[settings.Keys..];
var truth = Dataset.ExactTopK(keys, queries, settings.K1);

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering();
    silo.AddMemRL(o =>
    {
        o.ShardTimeout = TimeSpan.FromSeconds(30);
        o.MaxPendingPerShard = 100_000;
    });
});
using var host = builder.Build();
await host.StartAsync();
var memory = new MemoryClient(host.Services.GetRequiredService<IGrainFactory>());
var report = new Report(settings);

foreach (int shards in settings.ShardCounts)
{
    string bankName = $"bench-{shards}-{Guid.NewGuid():N}";
    var options = new BankOptions { K1 = settings.K1, K2 = settings.K2, Delta = -1, MergeThreshold = 2 };
    await memory.CreateBankAsync(bankName, new BankSpec(settings.Dimension, "bench", options, shards, new IndexSettings(EfSearch: settings.Ef)));
    var bank = memory.Bank(bankName);

    // Load: every key its own memory (mergeThreshold > 1), written by several writers at once.
    var load = Stopwatch.StartNew();
    var ids = new string[keys.Length];
    await Parallel.ForAsync(0, keys.Length, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        ids[i] = (await bank.WriteAsync(keys[i], $"key {i}", $"experience {i}", success: true, operationId: $"load-{i}")).MemoryId);
    load.Stop();
    var idToKey = new Dictionary<string, int>(ids.Length);
    for (int i = 0; i < ids.Length; i++)
    {
        idToKey[ids[i]] = i;
    }

    double recall = await Measure.ClusterRecallAsync(bank, queries, truth, idToKey, settings.K1);
    var ceiling = Ceiling.Build(keys, shards, settings);
    double ceilingRecall = ceiling.Recall(queries, truth, settings.K1);
    report.Load(shards, keys.Length / load.Elapsed.TotalSeconds, recall, ceilingRecall);

    foreach (int c in settings.OpenRates is null ? settings.Concurrency : [])
    {
        var clusterRun = await Measure.ClosedLoopAsync(c, settings.Duration, q => bank.RecallAsync(queries[q % queries.Length], new RecallSettings(K2: settings.K2)));
        var ceilingRun = await Measure.ClosedLoopAsync(c, settings.Duration, q => ceiling.SearchAsync(queries[q % queries.Length]));
        report.Closed(shards, c, clusterRun, ceilingRun);
    }

    // Open loops: at half the best closed-loop rate (or the rates asked for), the cluster and then the ceiling on the
    // same schedule; and the ceiling at half its own best. The ceiling's tail is what this machine gives any system,
    // however little it does per request (see MachineProbe).
    double[] rates = settings.OpenRates?.Select(r => (double)r).ToArray() ?? [report.BestClusterThroughput(shards) / 2];
    foreach (double rate in rates)
    {
        report.Open(shards, "cluster", rate, await Measure.OpenLoopAsync(rate, settings.OpenDuration,
            q => bank.RecallAsync(queries[q % queries.Length], new RecallSettings(K2: settings.K2)),
            settings.TimelinePath is null ? null : $"{settings.TimelinePath}.{shards}.{rate:F0}.csv"));
        report.Open(shards, "ceiling", rate, await Measure.OpenLoopAsync(rate, settings.OpenDuration, q => ceiling.SearchAsync(queries[q % queries.Length])));
    }

    if (settings.OpenRates is not null)
    {
        continue;
    }

    double ceilingRate = report.BestCeilingThroughput(shards) / 2;
    report.Open(shards, "ceiling", ceilingRate, await Measure.OpenLoopAsync(ceilingRate, settings.OpenDuration, q => ceiling.SearchAsync(queries[q % queries.Length])));

    var recalls = await Measure.ClosedLoopAsync(1, TimeSpan.FromSeconds(1), q => bank.RecallAsync(queries[q % queries.Length]));
    var rewardRun = await Measure.ClosedLoopAsync(64, settings.Duration, async q =>
    {
        var r = await bank.RecallAsync(queries[q % queries.Length]);
        return await bank.RewardAsync(r.Token, (q & 1) == 0 ? 1 : -1, operationId: $"bench-reward-{shards}-{q}");
    });
    var writeRun = await Measure.ClosedLoopAsync(64, settings.Duration, q =>
        bank.WriteAsync(queries[q % queries.Length], "w", "experience", (q & 1) == 0, operationId: $"bench-write-{shards}-{q}"));
    report.Mutations(shards, rewardRun, writeRun);
}

await host.StopAsync();
report.Print(Console.Out);
