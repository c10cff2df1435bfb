namespace MemRL.GrainInterfaces;

/// <summary>How the bins of a <see cref="StatsHistogram"/> are laid out.</summary>
public enum HistogramScale
{
    /// <summary>
    /// Bins of width 2^<see cref="StatsHistogram.Exponent"/> on the grid of its multiples: bin i covers
    /// [(Offset + i)·w, (Offset + i + 1)·w). The width is the finest that covers [min, max] in at most
    /// <see cref="StatsHistogram.MaxBins"/> bins, so it follows the spread of the values, not a configured range.
    /// </summary>
    Linear = 0,

    /// <summary>Bin 0 covers [0, 1), bin i ≥ 1 covers [2^(i−1), 2^i); the last bin is open above. For counts and ages.</summary>
    Log2 = 1,
}

/// <summary>
/// A fixed-size summary of many values: at most <see cref="MaxBins"/> bin counts, plus the exact count, sum, minimum and
/// maximum (so the mean is exact). A shard sends one instead of its values, and <see cref="Merge"/> of two histograms is
/// the histogram of the union of their values, exactly: on the linear scale every width is a power of two on one grid, so
/// a coarser grid's bin is a union of whole finer bins. Quantiles are estimates within one bin width (see
/// <see cref="Quantile"/>).
/// </summary>
/// <param name="Counts">Values per bin, from the first bin (linear: <see cref="Offset"/>; log2: bin 0) to the last non-empty one.</param>
[GenerateSerializer, Immutable, Alias("memrl.StatsHistogram")]
public sealed record StatsHistogram(
    [property: Id(0)] HistogramScale Scale,
    [property: Id(1)] int Exponent,
    [property: Id(2)] long Offset,
    [property: Id(3)] long[] Counts,
    [property: Id(4)] long Count,
    [property: Id(5)] double Sum,
    [property: Id(6)] double Min,
    [property: Id(7)] double Max)
{
    /// <summary>The most bins a histogram has.</summary>
    public const int MaxBins = 64;

    // Below 2^-40 (1e-12) a finer width tells nothing about a Q or a count.
    private const int FinestExponent = -40;

    /// <summary>No values, on <paramref name="scale"/>.</summary>
    public static StatsHistogram Empty(HistogramScale scale) => new(scale, 0, 0, [], 0, 0, 0, 0);

    /// <summary>The mean of the values (exact: sum over count); 0 when there are none.</summary>
    public double Mean => Count == 0 ? 0 : Sum / Count;

    /// <summary>Bin edges: <c>Counts.Length + 1</c> values, bin i covering [edges[i], edges[i + 1]).</summary>
    public double[] Edges()
    {
        var edges = new double[Counts.Length + 1];
        for (int i = 0; i < edges.Length; i++)
        {
            edges[i] = Lower(i);
        }

        return edges;
    }

    /// <summary>
    /// Estimates the <paramref name="q"/>-quantile as linear interpolation between order statistics (the rule of
    /// <c>Calibration.Quantile</c>), each order statistic placed evenly inside its bin (narrowed to [Min, Max]). The
    /// estimate of an order statistic lies in the same bin as the value itself, so the estimate is within one bin width
    /// of the exact quantile (on the log2 scale: of the wider of the one or two bins involved). q = 0 and q = 1 are
    /// exact. 0 when there are no values.
    /// </summary>
    public double Quantile(double q)
    {
        if (!(q >= 0 && q <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "Expected a quantile in [0, 1].");
        }

        if (Count == 0)
        {
            return 0;
        }

        double h = q * (Count - 1);
        long below = (long)Math.Floor(h);
        double at = OrderStatistic(below);
        return below + 1 < Count ? at + ((h - below) * (OrderStatistic(below + 1) - at)) : at;
    }

    /// <summary>The histogram of the values of both. Both must have the same scale.</summary>
    public static StatsHistogram Merge(StatsHistogram a, StatsHistogram b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Scale != b.Scale)
        {
            throw new ArgumentException($"Histograms on scales {a.Scale} and {b.Scale} cannot be merged; expected one scale.", nameof(b));
        }

        if (a.Count == 0 || b.Count == 0)
        {
            return a.Count == 0 ? b : a;
        }

        double min = Math.Min(a.Min, b.Min), max = Math.Max(a.Max, b.Max);
        long[] counts;
        int exponent = 0;
        long offset = 0;
        if (a.Scale == HistogramScale.Log2)
        {
            counts = new long[Math.Max(a.Counts.Length, b.Counts.Length)];
            Add(a.Counts, 0, counts);
            Add(b.Counts, 0, counts);
        }
        else
        {
            (exponent, offset, int bins) = LinearLayout(min, max);
            counts = new long[bins];
            Rebin(a, exponent, offset, counts);
            Rebin(b, exponent, offset, counts);
        }

        return new StatsHistogram(a.Scale, exponent, offset, counts, a.Count + b.Count, a.Sum + b.Sum, min, max);
    }

    /// <summary>
    /// The layout of the linear scale for values in [<paramref name="min"/>, <paramref name="max"/>]: the smallest
    /// power-of-two width (at least 2^-40, and fine enough to split the values' doubles no further) whose grid covers
    /// them in at most <see cref="MaxBins"/> bins. It depends on min and max alone, which is what makes merging exact.
    /// </summary>
    public static (int Exponent, long Offset, int Bins) LinearLayout(double min, double max)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || min > max)
        {
            throw new ArgumentOutOfRangeException(nameof(max), $"Expected finite min ≤ max; got [{min}, {max}].");
        }

        // Widths below a 2^-52 share of the largest magnitude are finer than the doubles themselves; the floor also keeps
        // every bin index below 2^53, so it fits a long exactly.
        double magnitude = Math.Max(Math.Abs(min), Math.Abs(max));
        int exponent = magnitude == 0 ? FinestExponent : Math.Max(FinestExponent, Math.ILogB(magnitude) - 52);
        while (true)
        {
            long first = BinOf(min, exponent), last = BinOf(max, exponent);
            if (last - first < MaxBins)
            {
                return (exponent, first, (int)(last - first + 1));
            }

            exponent++;
        }
    }

    /// <summary>The bin index of <paramref name="value"/> on the grid of width 2^<paramref name="exponent"/>.</summary>
    public static long BinOf(double value, int exponent) => (long)Math.Floor(Math.ScaleB(value, -exponent));

    /// <summary>The log2-scale bin of a non-negative value (negative ones count as 0).</summary>
    public static int Log2BinOf(double value) => value < 1 ? 0 : Math.Min(MaxBins - 1, Math.ILogB(value) + 1);

    private double Lower(int bin) => Scale == HistogramScale.Linear
        ? Math.ScaleB(Offset + bin, Exponent)
        : bin == 0 ? 0 : Math.ScaleB(1, bin - 1);

    // The value of rank `rank` (0-based), placed evenly in its bin; the extremes are known exactly.
    private double OrderStatistic(long rank)
    {
        if (rank == 0)
        {
            return Min;
        }

        if (rank == Count - 1)
        {
            return Max;
        }

        long before = 0;
        for (int bin = 0; bin < Counts.Length; bin++)
        {
            long inBin = Counts[bin];
            if (rank < before + inBin)
            {
                double lower = Math.Max(Lower(bin), Min);
                double upper = bin == Counts.Length - 1 ? Max : Math.Min(Lower(bin + 1), Max);
                return lower + ((rank - before + 0.5) / inBin * (upper - lower));
            }

            before += inBin;
        }

        return Max;
    }

    private static void Add(long[] from, int at, long[] to)
    {
        for (int i = 0; i < from.Length; i++)
        {
            to[at + i] += from[i];
        }
    }

    private static void Rebin(StatsHistogram part, int exponent, long offset, long[] counts)
    {
        int shift = exponent - part.Exponent;
        if (shift < 0)
        {
            throw new ArgumentException($"Histogram width 2^{part.Exponent} is coarser than the merged width 2^{exponent}; expected histograms built by {nameof(StatsHistogramBuilder)}.", nameof(part));
        }

        for (int i = 0; i < part.Counts.Length; i++)
        {
            long bin = part.Offset + i;
            // A whole finer bin falls into one coarser bin: floor(bin / 2^shift), an arithmetic shift (C# masks counts ≥ 64).
            long coarse = shift >= 63 ? (bin < 0 ? -1 : 0) : bin >> shift;
            counts[coarse - offset] += part.Counts[i];
        }
    }
}

/// <summary>
/// Builds a <see cref="StatsHistogram"/> one value at a time. The linear scale needs the values' exact minimum and
/// maximum first (the layout follows them), so its builder is made with them: a second pass over the values.
/// </summary>
public sealed class StatsHistogramBuilder
{
    private readonly HistogramScale _scale;
    private readonly int _exponent;
    private readonly long _offset;
    private readonly long[] _counts;
    private long _count;
    private double _sum;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;
    private int _last = -1;

    private StatsHistogramBuilder(HistogramScale scale, int exponent, long offset, int bins)
    {
        (_scale, _exponent, _offset) = (scale, exponent, offset);
        _counts = new long[bins];
    }

    /// <summary>A log2-scale builder (non-negative values: counts, ages).</summary>
    public static StatsHistogramBuilder Log2() => new(HistogramScale.Log2, 0, 0, StatsHistogram.MaxBins);

    /// <summary>A linear-scale builder for values whose exact minimum and maximum are <paramref name="min"/> and <paramref name="max"/>.</summary>
    public static StatsHistogramBuilder Linear(double min, double max)
    {
        var (exponent, offset, bins) = StatsHistogram.LinearLayout(min, max);
        return new StatsHistogramBuilder(HistogramScale.Linear, exponent, offset, bins);
    }

    /// <summary>Counts one value; a linear builder refuses one outside the range it was made for.</summary>
    public void Add(double value)
    {
        int bin;
        if (_scale == HistogramScale.Log2)
        {
            value = Math.Max(0, value);
            bin = StatsHistogram.Log2BinOf(value);
        }
        else
        {
            long index = double.IsFinite(value) ? StatsHistogram.BinOf(value, _exponent) - _offset : -1;
            if (index < 0 || index >= _counts.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Expected a value inside the range the builder was made for.");
            }

            bin = (int)index;
        }

        _counts[bin]++;
        _last = Math.Max(_last, bin);
        _count++;
        _sum += value;
        _min = Math.Min(_min, value);
        _max = Math.Max(_max, value);
    }

    /// <summary>The histogram of the values added so far.</summary>
    public StatsHistogram ToHistogram()
    {
        if (_count == 0)
        {
            return StatsHistogram.Empty(_scale);
        }

        // The linear layout must be the values' own (a merge and a direct build agree on nothing else), and bins cannot be
        // split after the fact: hence the exact range up front.
        if (_scale == HistogramScale.Linear && StatsHistogram.LinearLayout(_min, _max) != (_exponent, _offset, _counts.Length))
        {
            throw new InvalidOperationException($"The values span [{_min}, {_max}], narrower than the range the builder was made for; make it with their exact minimum and maximum.");
        }

        return new StatsHistogram(_scale, _exponent, _offset, _counts[..(_last + 1)], _count, _sum, _min, _max);
    }
}
