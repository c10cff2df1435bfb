using MemRL.Core.Bank;

namespace MemRL.Core;

/// <summary>One ancestor a reward reaches: its memory, its generation (1 = a parent) and its eligibility decay^depth.</summary>
public readonly record struct CreditTarget(long Sequence, int Depth, double Eligibility);

/// <summary>
/// Credit along provenance (docs/provenance.md): which ancestors one reward reaches, shared by the reference bank and the
/// cluster so both credit the same memories in the same order. Breadth first from the rewarded memories through the
/// ancestor lists fixed at write time: generation by generation up to <see cref="MemRLOptions.ProvenanceDepth"/>, within a
/// generation in the order the rewarded memories were named and their ancestors recorded; each memory once (a memory the
/// reward names directly is never also credited); a deleted ancestor is skipped, and so is everything reached only
/// through it (its record, with its own ancestors, is gone); at most <see cref="MemRLOptions.ProvenanceFanOut"/> targets.
/// </summary>
public static class ProvenanceCredit
{
    /// <summary>The ancestors to credit; empty when the option is off.</summary>
    /// <param name="rewarded">The memories the reward names, in the order given.</param>
    /// <param name="ancestorsOf">A memory's recorded ancestors, or null when it no longer exists.</param>
    /// <param name="options">The bank's options (decay, depth, fan-out).</param>
    public static IReadOnlyList<CreditTarget> Plan(IReadOnlyList<long> rewarded, Func<long, IReadOnlyList<long>?> ancestorsOf, MemRLOptions options)
    {
        if (options.ProvenanceDecay <= 0)
        {
            return [];
        }

        var seen = new HashSet<long>(rewarded);
        var targets = new List<CreditTarget>();
        IReadOnlyList<long> frontier = rewarded;
        double eligibility = 1;
        for (int depth = 1; depth <= options.ProvenanceDepth && frontier.Count > 0; depth++)
        {
            eligibility *= options.ProvenanceDecay;
            var next = new List<long>();
            foreach (long child in frontier)
            {
                foreach (long ancestor in ancestorsOf(child) ?? [])
                {
                    if (ancestorsOf(ancestor) is null || !seen.Add(ancestor))
                    {
                        continue;
                    }

                    targets.Add(new CreditTarget(ancestor, depth, eligibility));
                    next.Add(ancestor);
                    if (targets.Count == options.ProvenanceFanOut)
                    {
                        return targets;
                    }
                }
            }

            frontier = next;
        }

        return targets;
    }

    /// <summary>An ancestor's new Q: the Q rule at rate <c>alpha·eligibility</c>, floored like a direct update.</summary>
    public static double Update(double q, double reward, double alpha, double eligibility, double? floor) =>
        QRule.UpdateFinite(q, reward, alpha * eligibility, floor);

    /// <summary>The ancestors recorded for a memory in <paramref name="table"/>, or null when it does not exist.</summary>
    public static IReadOnlyList<long>? AncestorsIn(MemoryTable table, long sequence) =>
        table.TryGetMemory(sequence, out var memory) ? memory.Ancestors : null;
}
