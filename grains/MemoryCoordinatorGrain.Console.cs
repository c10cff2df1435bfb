using System.Globalization;
using MemRL.Core;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Shard;
using MemRL.Index;

namespace MemRL.Grains;

// The operator console's reads (docs/console.md): a recall explained candidate by candidate, and a bank's insight.
// Neither signs a recall token nor changes anything.
internal sealed partial class MemoryCoordinatorGrain
{
    public Task<RecallExplanation> ExplainAsync(string bank, RecallRequest request, CancellationToken cancellationToken = default)
    {
        BankNames.Validate(bank);
        _ = request ?? throw FieldError.Missing(nameof(request), "a request body");
        return WithFreshBankAsync(bank, b => ExplainCoreAsync(b, request, cancellationToken));
    }

    public Task<BankInsight> GetInsightAsync(string bank, int extremes)
    {
        BankNames.Validate(bank);
        WireValidation.InsightExtremes(extremes);
        return WithFreshBankAsync(bank, b => InsightCoreAsync(b, extremes));
    }

    private async Task<RecallExplanation> ExplainCoreAsync(CachedBank bank, RecallRequest request, CancellationToken cancellationToken)
    {
        var info = bank.Info;
        var options = bank.Options;
        var parameters = RecallParameters.Resolve(options, new RecallOverrides(request.K1, request.K2, request.Lambda, request.Delta));
        RequireEmbedder(info, request.EmbedderId);
        _ = request.Query ?? throw FieldError.Missing("query", "an embedding vector");
        VectorValidation.ThrowIfInvalid(request.Query, info.Dimension, "query");

        var (perShard, slots, coverage) = await PhaseAAsync(bank, request, parameters, cancellationToken);
        var (keys, pool) = PhaseA.Merge(perShard, parameters.K1, parameters.Delta);
        // The selection a recall makes when it exploits: Phase B itself, with a source that never explores, so the
        // explainer cannot drift from the recall it explains.
        var selection = PhaseB.Select(pool, parameters, options, NeverExplore.Instance);
        var scored = pool.Count == 0 ? [] : PhaseB.Score(pool, parameters.Lambda, options);
        var rank = new Dictionary<long, int>(selection.Selected.Count);
        for (int i = 0; i < selection.Selected.Count; i++)
        {
            rank[selection.Selected[i].Entry.Memory.Sequence] = i + 1;
        }

        var ids = Array.ConvertAll(scored.ToArray(), s => new MemoryId(info.Incarnation, slots[s.Entry.KeySequence], s.Entry.Memory.Sequence));
        var texts = await FetchTextsAsync(bank, ids, cancellationToken);
        double lastScore = selection.Selected.Count > 0 ? selection.Selected[^1].Score : double.NaN;
        var candidates = new ExplainedCandidate[scored.Count];
        for (int i = 0; i < scored.Count; i++)
        {
            var s = scored[i];
            var (verdict, reason, place) = Verdict(s, rank, options, selection.Selected.Count, parameters.K2, lastScore);
            var text = texts.GetValueOrDefault(s.Entry.Memory.Sequence);
            candidates[i] = new ExplainedCandidate(ids[i].ToString(), s.Entry.Similarity, s.Entry.Memory.Q, s.ZSim, s.ZQ, s.Score,
                s.Entry.Memory.Success, place, verdict, reason, text?.IntentText ?? "", text?.Experience ?? "");
        }

        var (simMean, simStd) = options.SimilarityNormalization == SimilarityNormalization.Fixed
            ? (options.SimilarityMean, options.SimilarityStdDev <= PhaseB.DegenerateStdDev ? 1.0 : options.SimilarityStdDev)
            : pool.Count == 0 ? (0.0, 1.0) : PhaseB.MeanAndStdDev(pool, static e => e.Similarity);
        var (qMean, qStd) = pool.Count == 0 ? (0.0, 1.0) : PhaseB.MeanAndStdDev(pool, static e => e.Memory.Q);
        return new RecallExplanation(candidates, coverage, parameters.K1, parameters.K2, parameters.Lambda, parameters.Delta, options.QMin,
            options.Epsilon, keys.Count, simMean, simStd, qMean, qStd, options.SimilarityNormalization.ToString());
    }

    private static (string Verdict, string Reason, int? Rank) Verdict(
        ScoredMemory s, Dictionary<long, int> rank, MemRLOptions options, int returned, int k2, double lastScore)
    {
        static string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);
        if (rank.TryGetValue(s.Entry.Memory.Sequence, out int place))
        {
            return ("returned", $"Returned at rank {place} of {returned}: score {F(s.Score)}.", place);
        }

        if (options.QMin is { } qMin && s.Entry.Memory.Q < qMin)
        {
            return ("below-qmin", $"Not returned: Q {F(s.Entry.Memory.Q)} is below the bank's qMin {F(qMin)}.", null);
        }

        return ("outscored", $"Not returned: score {F(s.Score)} ranks below the {k2} returned (the last returned scored {F(lastScore)}).", null);
    }

    private async Task<BankInsight> InsightCoreAsync(CachedBank bank, int extremes)
    {
        var info = bank.Info;
        var fan = await FanOutAsync(FanOutPolicy.Stats, bank, Enumerable.Range(0, info.ShardCount), (s, _) => bank.Shard(s).GetInsightAsync(info.Version, extremes));
        var shards = fan.Answers.OrderBy(s => s.Shard).ToArray();
        // Buckets share their starts across shards (fixed-width, aligned to the epoch), so merging is adding by start.
        var rewards = shards.SelectMany(s => s.Rewards).GroupBy(b => b.Start)
            .Select(g => new RewardBucket(g.Key, g.Sum(b => b.Count), g.Sum(b => b.Successes), g.Sum(b => b.Sum)))
            .OrderBy(b => b.Start).ToArray();
        // Ties go to the older memory (lower sequence), as on the shards.
        var all = shards.SelectMany(s => s.Best.Concat(s.Worst)).DistinctBy(m => m.Id).ToArray();
        var best = all.OrderByDescending(m => m.Q).ThenBy(m => MemoryId.Parse(m.Id, "id").Sequence).Take(extremes).ToArray();
        var worst = all.OrderBy(m => m.Q).ThenBy(m => MemoryId.Parse(m.Id, "id").Sequence).Take(extremes).ToArray();
        return new BankInsight(shards, fan.Coverage, ShardActivity.BucketSeconds, rewards, best, worst, DateTimeOffset.UtcNow);
    }

    /// <summary>A random source whose draw never falls below epsilon: Phase B then always exploits.</summary>
    private sealed class NeverExplore : IRandomSource
    {
        public static NeverExplore Instance { get; } = new();

        public double NextDouble() => 1.0;

        public int Next(int maxExclusive) => 0;
    }
}
