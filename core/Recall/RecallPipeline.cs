namespace MemRL.Core.Recall;

/// <summary>What Phase A and Phase B decided for one query.</summary>
/// <param name="Keys">The keys Phase A kept (top-k1 passing delta), in Phase-A order.</param>
/// <param name="PoolSize">Memories in the Phase-B pool before the qMin gate.</param>
/// <param name="Selection">The returned memories with their scores.</param>
public sealed record RecallOutcome(IReadOnlyList<KeyMatch> Keys, int PoolSize, Selection Selection);

/// <summary>Both phases of a recall over per-shard candidates: the one implementation the reference bank and the cluster share.</summary>
public static class RecallPipeline
{
    /// <summary>Runs Phase A's merge and Phase B.</summary>
    public static RecallOutcome Run(IEnumerable<IReadOnlyList<KeyCandidate>> perShard, RecallParameters parameters, MemRLOptions options, IRandomSource random)
    {
        var (keys, pool) = PhaseA.Merge(perShard, parameters.K1, parameters.Delta);
        return new RecallOutcome(keys, pool.Count, PhaseB.Select(pool, parameters, options, random));
    }
}
