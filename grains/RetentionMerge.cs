using MemRL.Core;
using MemRL.GrainInterfaces;

namespace MemRL.Grains;

/// <summary>
/// The bank-wide retention run from the shards' plans (docs/retention.md), the same decisions as the reference bank's
/// <c>RunRetention</c> at the same time: purges in ascending sequence, then the rules' archives in ascending sequence,
/// then the cap's lowest-utility memories, all within one budget of <see cref="RetentionPolicy.MaxPerRun"/>.
/// </summary>
/// <remarks>
/// Exact without a histogram: each shard sends its first <c>bound</c> candidates of each step, and the bank's first
/// <c>bound</c> of a step are among the union (a candidate beaten by <c>bound</c> others on its own shard is beaten by
/// them bank-wide too). The cap runs only when the budget outlives the rules, which means no shard's rule list was cut,
/// so the shards' cap lists (active memories the rules leave) are exactly the bank's candidates.
/// </remarks>
internal sealed record RetentionMerge(IReadOnlyList<MemoryId> Purge, IReadOnlyList<MemoryId> Archive, bool More)
{
    public static RetentionMerge Of(RetentionPolicy policy, IReadOnlyList<ShardRetentionPlan> plans)
    {
        int budget = policy.MaxPerRun;
        bool more = false;
        var purge = Take(plans.SelectMany(p => p.Purge), ref budget, ref more);
        var archive = Take(plans.SelectMany(p => p.Archive), ref budget, ref more);
        if (policy.MaxActive is { } cap)
        {
            int excess = plans.Sum(p => p.Active) - archive.Count - cap;
            if (excess > 0)
            {
                var lowest = plans.SelectMany(p => p.Lowest).ToList();
                lowest.Sort((a, b) => RetentionPolicy.UtilityOrder(a.Q, new DateTimeOffset(a.LastActiveTicks, TimeSpan.Zero), a.Id.Sequence,
                    b.Q, new DateTimeOffset(b.LastActiveTicks, TimeSpan.Zero), b.Id.Sequence));
                int take = Math.Min(excess, budget);
                more |= take < excess;
                archive.AddRange(lowest.Take(take).Select(c => c.Id));
            }
        }

        return new RetentionMerge(purge, archive, more);
    }

    // The step's candidates in ascending sequence, as many as the budget allows.
    private static List<MemoryId> Take(IEnumerable<MemoryId> candidates, ref int budget, ref bool more)
    {
        var ordered = candidates.OrderBy(id => id.Sequence).ToList();
        int take = Math.Min(budget, ordered.Count);
        more |= take < ordered.Count;
        budget -= take;
        return ordered.GetRange(0, take);
    }
}
