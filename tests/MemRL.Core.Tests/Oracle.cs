namespace MemRL.Core.Tests;

/// <summary>
/// An independent, straightforward MemRL written from DESIGN §1 in scalar double precision, sharing no code with
/// MemRL.Core: if a formula in core is wrong, the randomized tests disagree with this.
/// </summary>
internal sealed class Oracle(int k1, int k2, double lambda, double delta, bool fixedZSim, double muD, double sigmaD, double? qMin)
{
    public sealed record Candidate(long Key, long Memory, double Sim, double Q);

    public sealed record Scored(Candidate C, double ZSim, double ZQ, double Score);

    /// <summary>Phase A then Phase B over keys (key id, similarity, memories (id, Q) oldest first).</summary>
    public List<Scored> Select(IEnumerable<(long Key, double Sim, (long Id, double Q)[] Memories)> keys)
    {
        var kept = keys.Where(k => k.Sim >= delta).OrderByDescending(k => k.Sim).ThenBy(k => k.Key).Take(k1).ToList();
        var pool = kept.SelectMany(k => k.Memories.OrderBy(m => m.Id).Select(m => new Candidate(k.Key, m.Id, k.Sim, m.Q))).ToList();
        if (pool.Count == 0)
        {
            return [];
        }

        double qMean = pool.Average(c => c.Q);
        double qStd = PopulationStd(pool.Select(c => c.Q).ToList(), qMean);
        double sMean = fixedZSim ? muD : pool.Average(c => c.Sim);
        double sStd = fixedZSim ? (sigmaD <= 1e-9 ? 1 : sigmaD) : PopulationStd(pool.Select(c => c.Sim).ToList(), sMean);
        var scored = new List<(Scored S, int Order)>();
        for (int i = 0; i < pool.Count; i++)
        {
            var c = pool[i];
            double zs = (c.Sim - sMean) / sStd;
            double zq = Math.Max(-3, Math.Min(3, (c.Q - qMean) / qStd));
            if (qMin is { } gate && c.Q < gate)
            {
                continue;
            }

            scored.Add((new Scored(c, zs, zq, ((1 - lambda) * zs) + (lambda * zq)), i));
        }

        return scored.OrderByDescending(s => s.S.Score).ThenBy(s => s.Order).Take(k2).Select(s => s.S).ToList();
    }

    private static double PopulationStd(List<double> values, double mean)
    {
        if (values.Count == 1)
        {
            return 1;
        }

        double variance = values.Sum(v => (v - mean) * (v - mean)) / values.Count;
        double std = Math.Sqrt(variance);
        return std <= 1e-9 ? 1 : std;
    }
}
