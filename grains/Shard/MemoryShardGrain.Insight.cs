using MemRL.Core.Bank;
using MemRL.GrainInterfaces;

namespace MemRL.Grains.Shard;

// The operator console's read: where this activation runs, what it did lately, its extreme memories. A read: it runs
// between any two stretches of other turns and changes nothing.
internal sealed partial class MemoryShardGrain
{
    public async Task<ShardInsight> GetInsightAsync(long bankVersion, int extremes)
    {
        WireValidation.InsightExtremes(extremes);
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        var best = new ExtremeList(extremes, highest: true);
        var worst = new ExtremeList(extremes, highest: false);
        int keys = 0, memories = 0, successes = 0;
        foreach (var key in Table.Keys)
        {
            if (!Owns(KeySlots[key.Sequence]))
            {
                continue;
            }

            keys++;
            foreach (var m in key.Memories)
            {
                memories++;
                successes += m.Success ? 1 : 0;
                best.Offer(m);
                worst.Offer(m);
            }
        }

        var now = time.GetUtcNow();
        return new ShardInsight(_shard, RuntimeIdentity, _activity.ActiveSince, keys, memories, successes, _activity.Latency(),
            _activity.Rewards(now), best.Briefs(this), worst.Briefs(this));
    }

    private MemoryBrief Brief(MemoryRecord m) =>
        new(new MemoryId(_bank.Incarnation, KeySlots[m.KeySequence], m.Sequence).ToString(), m.Q, m.Visits, m.Success, m.LastReward, m.IntentText);

    /// <summary>The <c>capacity</c> memories with the highest (or lowest) Q seen, ties to the older; insertion into a short sorted list.</summary>
    private sealed class ExtremeList(int capacity, bool highest)
    {
        private readonly List<MemoryRecord> _kept = new(capacity + 1);

        public void Offer(MemoryRecord m)
        {
            if (capacity == 0 || (_kept.Count == capacity && !Before(m, _kept[^1])))
            {
                return;
            }

            int at = _kept.Count;
            while (at > 0 && Before(m, _kept[at - 1]))
            {
                at--;
            }

            _kept.Insert(at, m);
            if (_kept.Count > capacity)
            {
                _kept.RemoveAt(capacity);
            }
        }

        public MemoryBrief[] Briefs(MemoryShardGrain shard) => [.. _kept.Select(shard.Brief)];

        private bool Before(MemoryRecord a, MemoryRecord b) =>
            a.Q != b.Q ? (highest ? a.Q > b.Q : a.Q < b.Q) : a.Sequence < b.Sequence;
    }
}
