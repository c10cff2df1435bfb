using MemRL.Core.Bank;
using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>
/// Bank statistics as fixed-size histograms: each shard summarises its own memories (<see cref="Of"/>), the coordinator
/// merges the summaries (<see cref="Merge"/>). No message grows with the bank.
/// </summary>
internal static class ShardStatistics
{
    /// <summary>The statistics of one shard's <paramref name="keys"/> (the keys it owns), ages taken at <paramref name="now"/>.</summary>
    public static ShardStats Of(int shard, IReadOnlyCollection<IntentKey> keys, DateTimeOffset now)
    {
        // Two passes: the Q layout follows the exact range of the values, which the first pass finds.
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        int memories = 0;
        foreach (var key in keys)
        {
            foreach (var m in key.Memories)
            {
                (min, max) = (Math.Min(min, m.Q), Math.Max(max, m.Q));
                memories++;
            }
        }

        if (memories == 0)
        {
            return new ShardStats(shard, keys.Count, 0, StatsHistogram.Empty(HistogramScale.Linear),
                StatsHistogram.Empty(HistogramScale.Log2), StatsHistogram.Empty(HistogramScale.Log2));
        }

        var q = StatsHistogramBuilder.Linear(min, max);
        var visits = StatsHistogramBuilder.Log2();
        var age = StatsHistogramBuilder.Log2();
        foreach (var key in keys)
        {
            foreach (var m in key.Memories)
            {
                q.Add(m.Q);
                visits.Add(m.Visits);
                // A memory moved from a silo whose clock runs ahead may look younger than zero: it counts as new.
                age.Add(Math.Max(0, (now - m.CreatedAt).TotalSeconds));
            }
        }

        return new ShardStats(shard, keys.Count, memories, q.ToHistogram(), visits.ToHistogram(), age.ToHistogram());
    }

    /// <summary>The bank's statistics from the shards that answered.</summary>
    public static BankStats Merge(IReadOnlyList<ShardStats> shards, Coverage coverage)
    {
        var q = StatsHistogram.Empty(HistogramScale.Linear);
        var visits = StatsHistogram.Empty(HistogramScale.Log2);
        var age = StatsHistogram.Empty(HistogramScale.Log2);
        foreach (var s in shards)
        {
            (q, visits, age) = (StatsHistogram.Merge(q, s.Q), StatsHistogram.Merge(visits, s.Visits), StatsHistogram.Merge(age, s.AgeSeconds));
        }

        return new BankStats(
            shards.Sum(s => s.Keys), shards.Sum(s => s.Memories),
            shards.Select(s => new ShardSize(s.Shard, s.Keys, s.Memories) { ArchivedMemories = s.ArchivedMemories }).OrderBy(s => s.Shard).ToArray(),
            q.Mean, q.Min, q.Max, q.Edges(), q.Counts.Select(c => (int)c).ToArray(), coverage,
            ValueDistribution.Of(q), ValueDistribution.Of(visits), ValueDistribution.Of(age))
        {
            ArchivedMemories = shards.Sum(s => s.ArchivedMemories),
        };
    }
}
