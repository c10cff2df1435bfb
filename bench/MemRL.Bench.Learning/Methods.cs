using MemRL.Core;

namespace MemRL.Bench.Learning;

/// <summary>Which memories a capped bank gives up first (docs/retention.md).</summary>
public enum CapOrder
{
    /// <summary>Lowest utility first: the retention policy's cap (<see cref="RetentionPolicy.UtilityOrder"/>).</summary>
    Utility,

    /// <summary>Oldest write first.</summary>
    Age,

    /// <summary>Least recently recalled (or written) first.</summary>
    Lru,
}

/// <summary>A cap on a bank's active memories, enforced after every write by archiving in <paramref name="Order"/>.</summary>
public sealed record MemoryCap(int MaxActive, CapOrder Order);

/// <summary>A retrieval method: MemRL options (or no memory at all), optionally with a capped bank.</summary>
public sealed record Method(string Name, MemRLOptions? Options, MemoryCap? Cap = null)
{
    public bool UsesMemory => Options is not null;

    /// <summary>
    /// The methods of the issue, on the calibrated product defaults (qInit the reward range's midpoint). Successes-first:
    /// Q fixed at the outcome (qInit 1/0, alpha 0) and ranked with lambda 0.5.
    /// The literal "lambda 0" would ignore Q entirely and equal similarity-only, so alpha 0 keeps the intent
    /// (prefer successes, learn nothing).
    /// </summary>
    public static IReadOnlyList<Method> Standard(MemRLOptions calibrated) =>
    [
        new("no-memory", null),
        new("similarity", calibrated with { Lambda = 0 }),
        new("successes-first", calibrated with { QInitSuccess = 1, QInitFailure = 0, Alpha = 0, Lambda = 0.5 }),
        new("memrl", calibrated with { Lambda = 0.5 }),
    ];

    /// <summary>
    /// MemRL with each documented option that could change forgetting, one at a time, at a value derived from the reward
    /// range and never tuned on a scenario: the qMin gate at qInit (recall drops memories whose Q fell below a fresh one's,
    /// the net misleaders), qFloor a quarter of the range above its minimum (a misleader's Q cannot sink so far that it
    /// never recovers), and epsilon 0.1 (one recall in ten returns random pool members).
    /// </summary>
    public static IReadOnlyList<Method> ForgettingOptions(MemRLOptions calibrated)
    {
        var memrl = calibrated with { Lambda = 0.5 };
        double low = calibrated.RewardMin ?? -1, high = calibrated.RewardMax ?? 1;
        return
        [
            new("memrl-qmin", memrl with { QMin = memrl.QInitSuccess }),
            new("memrl-qfloor", memrl with { QFloor = low + ((high - low) / 4) }),
            new("memrl-eps-0.1", memrl with { Epsilon = 0.1 }),
        ];
    }

    /// <summary>
    /// MemRL on a bank capped at <paramref name="cap"/> active memories, once per forgetting order (utility, age, LRU):
    /// the retention experiment of issue 17.
    /// </summary>
    public static IReadOnlyList<Method> Capped(MemRLOptions calibrated, double fraction, int cap) =>
    [
        .. Enum.GetValues<CapOrder>().Select(order => new Method(
            $"memrl-cap{fraction * 100:0}-{order.ToString().ToLowerInvariant()}", calibrated with { Lambda = 0.5 }, new MemoryCap(cap, order))),
    ];

    /// <summary>
    /// Beyond the paper (docs/provenance.md), each on top of MemRL and off by default in the product, at values stated up
    /// front and never tuned on a scenario: credit along provenance (decay 0.5, the parents and grandparents, fan-out 16),
    /// and the UCB visit-count bonus on zQ with c = 1.
    /// </summary>
    public static IReadOnlyList<Method> Beyond(MemRLOptions calibrated)
    {
        var memrl = calibrated with { Lambda = 0.5 };
        return
        [
            new("memrl-prov", memrl with { ProvenanceDecay = 0.5, ProvenanceDepth = 2, ProvenanceFanOut = 16 }),
            new("memrl-ucb", memrl with { ExplorationBonus = 1 }),
        ];
    }

    /// <summary>lambda 0 … 1 in both zsim modes, k1/k2 variants, and the alpha-0 sanity check.</summary>
    public static IReadOnlyList<Method> Sweep(MemRLOptions calibrated)
    {
        var methods = new List<Method>();
        foreach (var mode in new[] { SimilarityNormalization.Pool, SimilarityNormalization.Fixed })
        {
            foreach (double lambda in new[] { 0, 0.25, 0.5, 0.75, 1 })
            {
                methods.Add(new($"lambda-{lambda:0.##}-{mode.ToString().ToLowerInvariant()}", calibrated with { Lambda = lambda, SimilarityNormalization = mode }));
            }
        }

        methods.Add(new("k1-10-k2-5", calibrated with { K1 = 10, K2 = 5 }));
        methods.Add(new("k1-3-k2-1", calibrated with { K1 = 3, K2 = 1 }));
        methods.Add(new("alpha-0", calibrated with { Alpha = 0 }));
        return methods;
    }
}
