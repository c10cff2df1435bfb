using MemRL.Api;
using MemRL.Client;
using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MemRL.Bench.Learning;

/// <summary>A recalled memory as the runner sees it.</summary>
public sealed record RecalledItem(string Id, string Experience, bool Success, double Q);

/// <summary>A recall's answer and what reward and write need from it (a token, or the reference bank's keys).</summary>
public sealed record BackendRecall(IReadOnlyList<RecalledItem> Memories, object? Handle);

/// <summary>A memory's Q at the end of a run.</summary>
public sealed record MemoryQ(string Id, double Q, bool Success, int Visits);

/// <summary>The memory a benchmark run talks to: the real cluster, or the in-process reference bank.</summary>
public interface IMemoryBackend : IAsyncDisposable
{
    string Name { get; }

    Task CreateBankAsync(string bank, int dimension, MemRLOptions options, CancellationToken ct);

    /// <summary>A bank capped at <paramref name="cap"/> active memories; only the reference backend enforces caps for now.</summary>
    Task CreateBankAsync(string bank, int dimension, MemRLOptions options, MemoryCap cap, CancellationToken ct) =>
        throw new NotSupportedException($"the {Name} backend does not cap banks yet; run the forgetting-cap experiment with --backend reference");

    Task<BackendRecall> RecallAsync(string bank, float[] intent, CancellationToken ct);

    Task RewardAsync(string bank, BackendRecall recall, double reward, CancellationToken ct);

    Task WriteAsync(string bank, float[] intent, string intentText, string experience, bool success, BackendRecall? recall, CancellationToken ct);

    Task<IReadOnlyList<MemoryQ>> ListMemoriesAsync(string bank, CancellationToken ct);
}

/// <summary>
/// The cluster on embedded defaults: one silo in this process (localhost clustering), reached through the .NET client.
/// With a console port it also serves the HTTP API and the operator console (docs/console.md) on loopback, with one API
/// key of tenant <see cref="Tenant"/> made for this run and kept in memory only.
/// </summary>
public sealed class ClusterBackend : IMemoryBackend
{
    /// <summary>The tenant the benchmark's banks belong to: the console shows them to this run's key.</summary>
    public const string Tenant = "bench";

    private readonly IHost _host;
    private readonly MemoryClient _memory;
    private readonly Dictionary<string, List<string>> _written = [];
    private readonly int _shards;

    private ClusterBackend(IHost host, int shards, string? consoleUrl)
    {
        _host = host;
        _shards = shards;
        ConsoleUrl = consoleUrl;
        _memory = new MemoryClient(host.Services.GetRequiredService<IGrainFactory>());
    }

    public string Name => "cluster";

    /// <summary>The console's address with this run's key in the fragment (which the browser keeps to itself), or null without a console.</summary>
    public string? ConsoleUrl { get; }

    /// <summary>The cluster's name of a benchmark bank: under <see cref="Tenant"/>, so a '.' in the bank's own name (the sweep's <c>lambda-0.25</c>) is not taken for the tenant separator.</summary>
    public static string ClusterBank(string bank) => Tenants.ClusterBankName(Tenant, bank);

    /// <summary>Starts the silo; <paramref name="consolePort"/> null for no HTTP at all, 0 for any free loopback port.</summary>
    public static async Task<ClusterBackend> StartAsync(int shards, int? consolePort = null)
    {
        if (consolePort is not { } port)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.UseOrleans(ConfigureSilo);
            var host = builder.Build();
            await host.StartAsync();
            return new ClusterBackend(host, shards, null);
        }

        string key = ApiKeyRing.NewKey();
        var web = WebApplication.CreateBuilder();
        web.Logging.SetMinimumLevel(LogLevel.Warning);
        web.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["MemRL:Api:Urls"] = $"http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
            ["MemRL:Api:Keys:0:Tenant"] = Tenant,
            ["MemRL:Api:Keys:0:Sha256"] = ApiKeyRing.Hash(key),
            ["MemRL:Api:Keys:0:ReadOnly"] = "false",
        });
        web.UseOrleans(ConfigureSilo);
        web.AddMemRLApi();
        var app = web.Build();
        app.MapMemRLApi();
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ClusterBackend(app, shards, $"{address}/console#key={key}");
    }

    private static void ConfigureSilo(ISiloBuilder silo)
    {
        silo.UseLocalhostClustering();
        // No retention schedule: the cluster's banks must run exactly as the reference bank's, which has none (a scheduled
        // run would also activate every shard mid-run for nothing).
        silo.AddMemRL(o =>
        {
            o.RecallTokenKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
            o.RetentionInterval = TimeSpan.Zero;
        });
    }

    public async Task CreateBankAsync(string bank, int dimension, MemRLOptions o, CancellationToken ct)
    {
        await _memory.CreateBankAsync(ClusterBank(bank), new BankSpec(dimension, "simulated-intents/1", o.ToWire(), _shards));
        _written[bank] = [];
    }

    public async Task<BackendRecall> RecallAsync(string bank, float[] intent, CancellationToken ct)
    {
        var r = await _memory.Bank(ClusterBank(bank)).RecallAsync(intent, cancellationToken: ct);
        return new BackendRecall(r.Memories.Select(m => new RecalledItem(m.Id, m.Experience, m.Success, m.Q)).ToList(), r.Token);
    }

    public Task RewardAsync(string bank, BackendRecall recall, double reward, CancellationToken ct) =>
        recall.Memories.Count == 0 ? Task.CompletedTask : _memory.Bank(ClusterBank(bank)).RewardAsync((string)recall.Handle!, reward);

    public async Task WriteAsync(string bank, float[] intent, string intentText, string experience, bool success, BackendRecall? recall, CancellationToken ct)
    {
        var w = await _memory.Bank(ClusterBank(bank)).WriteAsync(intent, intentText, experience, success, recall?.Handle as string);
        _written[bank].Add(w.MemoryId);
    }

    public async Task<IReadOnlyList<MemoryQ>> ListMemoriesAsync(string bank, CancellationToken ct)
    {
        var list = new List<MemoryQ>();
        foreach (string id in _written[bank])
        {
            var m = await _memory.Bank(ClusterBank(bank)).GetAsync(id);
            list.Add(new MemoryQ(id, m.Q, m.Success, m.Visits));
        }

        return list;
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

/// <summary>MemRL.Core's single-process reference bank: the oracle the cluster equals, fast for sweeps and tests.</summary>
public sealed class ReferenceBackend : IMemoryBackend
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly Dictionary<string, ReferenceBank> _banks = [];
    private readonly Dictionary<string, CappedBank> _caps = [];

    public string Name => "reference";

    public Task CreateBankAsync(string bank, int dimension, MemRLOptions options, CancellationToken ct)
    {
        _banks[bank] = new ReferenceBank(dimension, options);
        return Task.CompletedTask;
    }

    public Task CreateBankAsync(string bank, int dimension, MemRLOptions options, MemoryCap cap, CancellationToken ct)
    {
        // A logical clock, one tick per reading, so the cap's "last active" and LRU orders are deterministic per seed.
        var clock = new TickingTime(Epoch);
        _banks[bank] = new ReferenceBank(dimension, options, time: clock);
        if (cap.Order == CapOrder.Utility)
        {
            _banks[bank].Retention = new RetentionPolicy { MaxActive = cap.MaxActive, MaxPerRun = 100_000 };
        }

        _caps[bank] = new CappedBank(cap, clock);
        return Task.CompletedTask;
    }

    public Task<BackendRecall> RecallAsync(string bank, float[] intent, CancellationToken ct)
    {
        ReferenceBank b = _banks[bank];
        RecallResult r;
        lock (b)
        {
            r = b.Recall(intent);
            if (_caps.TryGetValue(bank, out var capped))
            {
                capped.Touch(r.Memories.Select(m => m.Sequence), write: false);
            }
        }

        return Task.FromResult(new BackendRecall(
            r.Memories.Select(m => new RecalledItem(m.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), m.Experience, m.Success, m.Q)).ToList(),
            (r.Keys, r.Memories.Select(m => m.Sequence).ToList())));
    }

    public Task RewardAsync(string bank, BackendRecall recall, double reward, CancellationToken ct)
    {
        var (_, ids) = ((IReadOnlyList<Core.Recall.KeyMatch>, List<long>))recall.Handle!;
        ReferenceBank b = _banks[bank];
        lock (b)
        {
            // A reward of a memory archived since its recall applies (it stays archived), as in the product
            // (docs/retention.md); only a memory gone altogether is skipped. The runner rewards a batch before it writes,
            // so a cap's archive (after a write) never falls between a recall and its reward here.
            var live = ids.Where(id => b.Table.TryGetMemory(id, out _) || b.Table.TryGetArchived(id, out _)).ToList();
            if (live.Count > 0)
            {
                b.Reward(live, reward);
            }
        }

        return Task.CompletedTask;
    }

    public Task WriteAsync(string bank, float[] intent, string intentText, string experience, bool success, BackendRecall? recall, CancellationToken ct)
    {
        var handle = recall is null ? ((IReadOnlyList<Core.Recall.KeyMatch>, List<long>)?)null : ((IReadOnlyList<Core.Recall.KeyMatch>, List<long>))recall.Handle!;
        var keys = handle?.Item1;
        var recalled = handle?.Item2;
        ReferenceBank b = _banks[bank];
        lock (b)
        {
            // The recalled memories become the new memory's ancestors when the bank credits along provenance.
            var written = b.Write(intent, intentText, experience, success, keys, recalledMemories: recalled);
            if (_caps.TryGetValue(bank, out var capped))
            {
                capped.Touch([written.MemorySequence], write: true);
                capped.Enforce(b);
            }
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<MemoryQ>> ListMemoriesAsync(string bank, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<MemoryQ>>(_banks[bank].Table.Memories
            .Select(m => new MemoryQ(m.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), m.Q, m.Success, m.Visits)).ToList());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>A cap and what its order needs: the retention policy for utility; sequence for age; last access for LRU.</summary>
    private sealed class CappedBank(MemoryCap cap, TickingTime clock)
    {
        private readonly Dictionary<long, long> _lastAccess = [];
        private long _tick;

        // Recalls of a batch run concurrently in any order but all from the batch-start state, so they share one tick (the
        // order they are touched in must not matter, or LRU would differ between runs of one seed); each write is a tick.
        public void Touch(IEnumerable<long> sequences, bool write)
        {
            if (write)
            {
                _tick++;
            }

            foreach (long s in sequences)
            {
                _lastAccess[s] = _tick;
            }
        }

        public void Enforce(ReferenceBank bank)
        {
            var now = clock.GetUtcNow();
            if (cap.Order == CapOrder.Utility)
            {
                bank.RunRetention(now);
                return;
            }

            int excess = bank.Table.MemoryCount - cap.MaxActive;
            if (excess <= 0)
            {
                return;
            }

            var victims = cap.Order == CapOrder.Age
                ? bank.Table.Memories.OrderBy(m => m.Sequence)
                : bank.Table.Memories.OrderBy(m => _lastAccess.GetValueOrDefault(m.Sequence)).ThenBy(m => m.Sequence);
            foreach (var m in victims.Take(excess).ToList())
            {
                bank.Archive(m.Sequence, now);
                _lastAccess.Remove(m.Sequence);
            }
        }
    }

    private sealed class TickingTime(DateTimeOffset start) : TimeProvider
    {
        private long _ticks;

        public override DateTimeOffset GetUtcNow() => start.AddSeconds(Interlocked.Increment(ref _ticks));
    }
}
