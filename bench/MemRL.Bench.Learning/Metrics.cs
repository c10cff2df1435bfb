namespace MemRL.Bench.Learning;

/// <summary>The paper's run-time learning metrics (DESIGN §1) and the statistics behind every claimed difference.</summary>
public static class Metrics
{
    /// <summary>SR(t): share of the tasks run in epoch t that succeeded.</summary>
    public static double SuccessRate(bool[] epoch, IReadOnlyCollection<int> tasks) => tasks.Count(t => epoch[t]) / (double)tasks.Count;

    /// <summary>CSR(t): share of tasks solved at least once in epochs 0..t.</summary>
    public static double[] CumulativeSuccessRate(bool[][] epochs, IReadOnlyCollection<int> tasks)
    {
        var solved = new HashSet<int>();
        var csr = new double[epochs.Length];
        for (int e = 0; e < epochs.Length; e++)
        {
            foreach (int t in tasks)
            {
                if (epochs[e][t])
                {
                    solved.Add(t);
                }
            }

            csr[e] = solved.Count / (double)tasks.Count;
        }

        return csr;
    }

    /// <summary>Forgetting rate(t) = tasks solved in t−1 and failed in t ÷ tasks failed in t; null (n/a) when nothing failed or t = 0.</summary>
    public static double? ForgettingRate(bool[][] epochs, int t, IReadOnlyCollection<int> tasks)
    {
        if (t == 0)
        {
            return null;
        }

        int failed = tasks.Count(task => !epochs[t][task]);
        if (failed == 0)
        {
            return null;
        }

        return tasks.Count(task => epochs[t - 1][task] && !epochs[t][task]) / (double)failed;
    }

    /// <summary>Mean and percentile bootstrap 95 % interval of paired per-unit values (units: task × seed).</summary>
    public static (double Mean, double Low, double High) Bootstrap(IReadOnlyList<double> values, int seed = 1, int resamples = 2000)
    {
        var random = new Random(seed);
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Count; i++)
            {
                sum += values[random.Next(values.Count)];
            }

            means[r] = sum / values.Count;
        }

        Array.Sort(means);
        return (values.Average(), means[(int)(0.025 * resamples)], means[(int)(0.975 * resamples) - 1]);
    }

    /// <summary>
    /// A ratio of sums over units (Σ numerator ÷ Σ denominator; e.g. losses over failures) and its percentile bootstrap
    /// 95 % interval, resampling units. With <paramref name="other"/> (the same units, in the same order) it is the paired
    /// difference of the two ratios, both computed on each resample's units.
    /// </summary>
    public static (double Mean, double Low, double High) BootstrapRatio(
        IReadOnlyList<(double Num, double Den)> units, IReadOnlyList<(double Num, double Den)>? other = null, int seed = 1, int resamples = 2000)
    {
        if (other is not null && other.Count != units.Count)
        {
            throw new ArgumentException($"other has {other.Count} units; expected {units.Count}, the same units as the first ratio.");
        }

        double Ratio(IReadOnlyList<(double Num, double Den)> u, int[]? pick)
        {
            double num = 0, den = 0;
            for (int i = 0; i < u.Count; i++)
            {
                var x = u[pick is null ? i : pick[i]];
                num += x.Num;
                den += x.Den;
            }

            return den == 0 ? double.NaN : num / den;
        }

        double Value(int[]? pick) => Ratio(units, pick) - (other is null ? 0 : Ratio(other, pick));

        var random = new Random(seed);
        var values = new List<double>(resamples);
        var indices = new int[units.Count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < indices.Length; i++)
            {
                indices[i] = random.Next(units.Count);
            }

            double v = Value(indices);
            if (!double.IsNaN(v))
            {
                values.Add(v);
            }
        }

        if (values.Count == 0)
        {
            return (Value(null), double.NaN, double.NaN);
        }

        values.Sort();
        return (Value(null), values[(int)(0.025 * values.Count)], values[Math.Max(0, (int)(0.975 * values.Count) - 1)]);
    }

    /// <summary>Pearson correlation; NaN when either side has no spread.</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }

        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>
    /// The paper's Q-critic analysis: uses of memories binned by the memory's Q at recall (equal-width bins), the success
    /// rate of the episodes in each bin, and the Pearson correlation of bin centre with that rate over non-empty bins.
    /// </summary>
    public static (double[] Centres, double[] SuccessRates, int[] Counts, double Pearson) QBins(IReadOnlyList<MemoryUse> uses, int bins = 8)
    {
        if (uses.Count == 0)
        {
            return ([], [], [], double.NaN);
        }

        double min = uses.Min(u => u.Q), max = uses.Max(u => u.Q);
        double width = max > min ? (max - min) / bins : 1;
        var counts = new int[bins];
        var wins = new int[bins];
        foreach (var u in uses)
        {
            int b = Math.Min(bins - 1, (int)((u.Q - min) / width));
            counts[b]++;
            wins[b] += u.Success ? 1 : 0;
        }

        var centres = Enumerable.Range(0, bins).Select(b => min + ((b + 0.5) * width)).ToArray();
        var rates = Enumerable.Range(0, bins).Select(b => counts[b] == 0 ? double.NaN : wins[b] / (double)counts[b]).ToArray();
        var present = Enumerable.Range(0, bins).Where(b => counts[b] >= 5).ToArray();
        double r = present.Length < 3 ? double.NaN : Pearson(present.Select(b => centres[b]).ToArray(), present.Select(b => rates[b]).ToArray());
        return (centres, rates, counts, r);
    }
}
