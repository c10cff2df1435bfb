using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MemRL.Api;
using MemRL.Bench.Cluster;
using MemRL.Bench.Http;
using MemRL.Client;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The HTTP tax (issue 7): recall, reward and write through the HTTP API against the same calls through the .NET
// client, on the same silo and data. One process hosts the silo, the API on loopback and both load generators, so the
// HTTP client's own work (JSON, sockets) is billed to HTTP, as it would be to a real agent on the same machine.
// --text: text recall end to end over HTTP with the silo's default embedder instead (issue 15; TextRecall.cs).
foreach (string flag in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
{
    if (flag is not ("--keys" or "--shards" or "--seconds" or "--open-seconds" or "--text" or "--memories"))
    {
        throw new ArgumentException($"flag is '{flag}'; expected one of --keys N --shards N --seconds N --open-seconds N, or --text [--memories N] [--seconds N].");
    }
}

bool text = args.Contains("--text");
int memories = Arg("--memories", 3_000);
int keys = Arg("--keys", 10_000), shards = Arg("--shards", 2), seconds = Arg("--seconds", 3), openSeconds = Arg("--open-seconds", 10);
const int Dimension = 384, Queries = 500;
const string Key = "memrl_bench-http-key-00000000000000000000000000000";
string database = Path.Combine(Path.GetTempPath(), $"memrl-bench-http-{Guid.NewGuid():N}.db");

var builder = WebApplication.CreateBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["MemRL:Api:Urls"] = "http://127.0.0.1:0",
    ["MemRL:Api:Keys:0:Tenant"] = "bench",
    ["MemRL:Api:Keys:0:Sha256"] = ApiKeyRing.Hash(Key),
    // The rate limit is a policy, not a cost: out of the way here.
    ["MemRL:Api:RatePerSecond"] = "1000000",
    ["MemRL:Api:RateBurst"] = "1000000",
    ["MemRL:Storage:SqlitePath"] = database,
});
builder.UseOrleans(silo => silo.UseLocalhostClustering().AddMemRL(o => o.MaxPendingPerShard = 100_000));
builder.AddMemRLApi();
await using var app = builder.Build();
app.MapMemRLApi();
await app.StartAsync();
var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
if (text)
{
    using var textHttp = NewHttpClient();
    await TextRecall.RunAsync(textHttp, app.Services.GetRequiredService<TextEmbedders>(), memories, seconds,
        Path.Combine(AppContext.BaseDirectory, "data", "paraphrases.tsv"));
    await StopAsync();
    return;
}

var data = Dataset.Clustered(keys + Queries, Dimension, seed: 42);
var queries = data[keys..];
var memory = app.Services.GetRequiredService<MemoryClient>();
string bankName = "tax";
await memory.CreateBankAsync($"bench.{bankName}", new BankSpec(Dimension, "bench", new BankOptions { Delta = -1, MergeThreshold = 2 }, shards));
var bank = memory.Bank($"bench.{bankName}");
await Parallel.ForAsync(0, keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
    await bank.WriteAsync(data[i], $"key {i}", $"experience {i}", success: true, operationId: $"load-{i}"));

using var http = NewHttpClient();
string bankPath = $"/v1/banks/{bankName}";

async Task<string> HttpRecallAsync(int q)
{
    using var response = await http.PostAsJsonAsync($"{bankPath}/recall", new { query = queries[q % Queries] });
    response.EnsureSuccessStatusCode();
    using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    return body.RootElement.GetProperty("token").GetString()!;
}

async Task<string> HttpPostAsync(string path, object payload, string idempotencyKey)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(payload) };
    request.Headers.Add("Idempotency-Key", idempotencyKey);
    using var response = await http.SendAsync(request);
    response.EnsureSuccessStatusCode();
    return await response.Content.ReadAsStringAsync();
}

var calls = new (string Name, Func<int, Task<string>> Client, Func<int, Task<string>> Http)[]
{
    ("recall",
        async q => (await bank.RecallAsync(queries[q % Queries])).Token,
        HttpRecallAsync),
    ("recall + reward",
        async q => (await bank.RewardAsync((await bank.RecallAsync(queries[q % Queries])).Token, (q & 1) == 0 ? 1 : -1, operationId: $"c-reward-{q}")).Updated.Count.ToString(CultureInfo.InvariantCulture),
        async q => await HttpPostAsync($"{bankPath}/reward", new { token = await HttpRecallAsync(q), reward = (q & 1) == 0 ? 1.0 : -1.0 }, $"h-reward-{q}")),
    ("write (new key)",
        async q => (await bank.WriteAsync(queries[q % Queries], "w", "experience", (q & 1) == 0, operationId: $"c-write-{q}")).MemoryId,
        q => HttpPostAsync($"{bankPath}/memories", new { intent = queries[q % Queries], intentText = "w", experience = "experience", success = (q & 1) == 0 }, $"h-write-{q}")),
};

Console.WriteLine($"HTTP tax: {keys} keys × {Dimension} in {shards} shards, SQLite (fsync on), one process; closed loop {seconds} s per point, open loop {openSeconds} s");
Console.WriteLine();
Console.WriteLine("| call | agents | .NET client /s | HTTP /s | HTTP ÷ client | client p50 / p99 ms | HTTP p50 / p99 ms | failed |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
var best = new Dictionary<string, (double Client, double Http)>();
foreach (var (name, client, viaHttp) in calls)
{
    foreach (int agents in name == "recall" ? new[] { 1, 16, 64 } : [64])
    {
        var c = await Measure.ClosedLoopAsync(agents, TimeSpan.FromSeconds(seconds), client);
        var h = await Measure.ClosedLoopAsync(agents, TimeSpan.FromSeconds(seconds), viaHttp);
        var (bc, bh) = best.GetValueOrDefault(name);
        best[name] = (Math.Max(bc, c.Throughput), Math.Max(bh, h.Throughput));
        Console.WriteLine($"| {name} | {agents} | {c.Throughput:F0} | {h.Throughput:F0} | {h.Throughput / c.Throughput:F2} | {c.Percentile(0.5):F2} / {c.Percentile(0.99):F2} | {h.Percentile(0.5):F2} / {h.Percentile(0.99):F2} | {c.Failed + h.Failed} |");
    }
}

// Open loop for recall at half the HTTP maximum (a rate both paths sustain), then HTTP at half its own maximum.
Console.WriteLine();
Console.WriteLine("| recall, open loop | rate /s | p50 ms | p99 ms | p99.9 ms | generator lag p99 ms | CPU cores | failed |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
double rate = best["recall"].Http / 2;
foreach (var (label, call) in new (string, Func<int, Task<string>>)[] { (".NET client", calls[0].Client), ("HTTP", calls[0].Http) })
{
    var run = await Measure.OpenLoopAsync(rate, TimeSpan.FromSeconds(openSeconds), call);
    Console.WriteLine($"| {label} | {rate:F0} | {run.Percentile(0.5):F2} | {run.Percentile(0.99):F2} | {run.Percentile(0.999):F2} | {RunResult.Percentile(run.DispatchLagMs ?? [], 0.99):F2} | {run.CpuCores:F2} | {run.Failed} |");
}

await StopAsync();

HttpClient NewHttpClient()
{
    var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
    {
        BaseAddress = address,
    };
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    return client;
}

async Task StopAsync()
{
    await app.StopAsync();
    Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    foreach (string suffix in new[] { "", "-wal", "-shm" })
    {
        File.Delete(database + suffix);
    }
}

int Arg(string flag, int fallback)
{
    int at = Array.IndexOf(args, flag);
    if (at < 0)
    {
        return fallback;
    }

    return at + 1 < args.Length && int.TryParse(args[at + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0
        ? v
        : throw new ArgumentException($"{flag} is '{(at + 1 < args.Length ? args[at + 1] : "")}'; expected a positive integer. Flags: --keys N --shards N --seconds N --open-seconds N, or --text [--memories N]");
}
