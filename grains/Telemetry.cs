using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MemRL.Grains;

/// <summary>
/// MemRL's own traces and metrics (OpenTelemetry names: source and meter <see cref="Name"/>). Spans: a recall in the
/// coordinator, each shard's Phase A; Orleans' activity propagation links them to the HTTP request that caused them.
/// Metrics: recall latency by phase, shards answered, pool size, rewards, writes, deletes, commit latency and size,
/// the Q values rewards produce, and each shard's keys and memories.
/// </summary>
public static class Telemetry
{
    /// <summary>The ActivitySource and Meter name to subscribe to.</summary>
    public const string Name = "MemRL";

    internal static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    internal static readonly Histogram<double> RecallDuration = Meter.CreateHistogram<double>(
        "memrl.recall.duration", "ms", "Recall latency in the coordinator, by phase: fan_out (Phase A on every shard), select (merge and Phase B), fetch (texts of the winners), total.");

    internal static readonly Histogram<int> ShardsAnswered = Meter.CreateHistogram<int>(
        "memrl.recall.shards_answered", "{shard}", "Shards that answered a recall's Phase A before its deadline (tag shards_total).");

    internal static readonly Histogram<int> PoolSize = Meter.CreateHistogram<int>(
        "memrl.recall.pool_size", "{memory}", "Candidate memories Phase B scored.");

    internal static readonly Counter<long> Rewards = Meter.CreateCounter<long>("memrl.rewards", "{memory}", "Q updates applied (one per rewarded memory).");

    internal static readonly Counter<long> Writes = Meter.CreateCounter<long>("memrl.writes", "{memory}", "Memories written (tag created_key).");

    internal static readonly Counter<long> Deletes = Meter.CreateCounter<long>("memrl.deletes", "{memory}", "Memories deleted.");
    internal static readonly Counter<long> Edits = Meter.CreateCounter<long>("memrl.edits", "{memory}", "Memories edited (experience or metadata).");

    internal static readonly Histogram<double> QValues = Meter.CreateHistogram<double>("memrl.q", "1", "Q of each memory after a reward: the distribution learning moves.");

    internal static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>("memrl.commit.duration", "ms", "Group commit of a shard: one durable append.");

    internal static readonly Histogram<int> CommitEvents = Meter.CreateHistogram<int>("memrl.commit.events", "{event}", "Change events per group commit.");

    private static readonly ConcurrentDictionary<string, (int Keys, int Memories)> Sizes = new(StringComparer.Ordinal);

    static Telemetry()
    {
        Meter.CreateObservableGauge("memrl.shard.keys", () => Sizes.Select(s => new Measurement<int>(s.Value.Keys, new KeyValuePair<string, object?>("shard", s.Key))),
            "{key}", "Intent keys in each active shard's index.");
        Meter.CreateObservableGauge("memrl.shard.memories", () => Sizes.Select(s => new Measurement<int>(s.Value.Memories, new KeyValuePair<string, object?>("shard", s.Key))),
            "{memory}", "Memories in each active shard.");
    }

    /// <summary>Records an active shard's size (after it loads and after each commit); null removes it (deactivation).</summary>
    internal static void ShardSize(string shard, (int Keys, int Memories)? size)
    {
        if (size is { } s)
        {
            Sizes[shard] = s;
        }
        else
        {
            Sizes.TryRemove(shard, out _);
        }
    }
}
