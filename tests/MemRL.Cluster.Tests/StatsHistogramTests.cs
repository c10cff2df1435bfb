using MemRL.Core;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>The shards' fixed-size histograms: merging is exact, quantiles are within one bin width.</summary>
public sealed class StatsHistogramTests
{
    private static StatsHistogram Linear(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0)
        {
            return StatsHistogram.Empty(HistogramScale.Linear);
        }

        var builder = StatsHistogramBuilder.Linear(values.Min(), values.Max());
        foreach (double v in values)
        {
            builder.Add(v);
        }

        return builder.ToHistogram();
    }

    private static StatsHistogram Log2(IEnumerable<double> values)
    {
        var builder = StatsHistogramBuilder.Log2();
        foreach (double v in values)
        {
            builder.Add(v);
        }

        return builder.ToHistogram();
    }

    private static double[] Uniform(Random random, int count, double from, double to) =>
        Enumerable.Range(0, count).Select(_ => from + (random.NextDouble() * (to - from))).ToArray();

    private static void AssertSame(StatsHistogram expected, StatsHistogram actual)
    {
        Assert.Equal((expected.Scale, expected.Exponent, expected.Offset), (actual.Scale, actual.Exponent, actual.Offset));
        Assert.Equal(expected.Counts, actual.Counts);
        Assert.Equal((expected.Count, expected.Min, expected.Max), (actual.Count, actual.Min, actual.Max));
        Assert.Equal(expected.Sum, actual.Sum, Math.Max(1e-9, Math.Abs(expected.Sum) * 1e-12));
    }

    public static TheoryData<double, double, double, double> Ranges => new()
    {
        { 0, 1, 0, 1 },            // the same range
        { 0, 1, -3, 0.2 },         // overlapping, one much wider
        { 0.49, 0.51, 10, 1000 },  // a narrow part and a far, wide one: the narrow one is coarsened many times
        { -1e300, -1e299, 1e299, 1e300 },
        { 0.3, 0.3, 0.3, 0.3 },    // every value equal
    };

    [Theory]
    [MemberData(nameof(Ranges))]
    public void Merge_OfTwoHistograms_IsTheHistogramOfTheUnion_OnTheLinearScale(double fromA, double toA, double fromB, double toB)
    {
        var random = new Random(7);
        for (int round = 0; round < 20; round++)
        {
            var a = Uniform(random, random.Next(1, 300), fromA, toA);
            var b = Uniform(random, random.Next(1, 300), fromB, toB);

            var merged = StatsHistogram.Merge(Linear(a), Linear(b));

            AssertSame(Linear([.. a, .. b]), merged);
            Assert.InRange(merged.Counts.Length, 1, StatsHistogram.MaxBins);
        }
    }

    [Fact]
    public void Merge_OfTwoHistograms_IsTheHistogramOfTheUnion_OnTheLog2Scale()
    {
        var random = new Random(8);
        var a = Enumerable.Range(0, 500).Select(_ => (double)random.Next(0, 40)).ToArray();
        var b = Enumerable.Range(0, 300).Select(_ => Math.Exp(random.NextDouble() * 30)).ToArray();

        AssertSame(Log2([.. a, .. b]), StatsHistogram.Merge(Log2(a), Log2(b)));
    }

    [Fact]
    public void Merge_WithAnEmptyHistogram_IsTheOther()
    {
        var some = Linear([0.25, 0.5]);

        Assert.Same(some, StatsHistogram.Merge(StatsHistogram.Empty(HistogramScale.Linear), some));
        Assert.Same(some, StatsHistogram.Merge(some, StatsHistogram.Empty(HistogramScale.Linear)));
    }

    [Fact]
    public void Merge_Refuses_HistogramsOfDifferentScales() =>
        Assert.Throws<ArgumentException>(() => StatsHistogram.Merge(Linear([1.0]), Log2([1.0])));

    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(-1.0, 1.0)]
    [InlineData(0.4, 0.6)]
    [InlineData(-500.0, 3.0)]
    public void Quantile_IsWithinOneBinWidth_OfTheExactQuantile(double from, double to)
    {
        var random = new Random(9);
        for (int round = 0; round < 20; round++)
        {
            // Skewed, so bins hold very different counts.
            var values = Enumerable.Range(0, random.Next(2, 2000)).Select(_ => from + (Math.Pow(random.NextDouble(), 3) * (to - from))).ToList();
            var histogram = Linear(values);
            values.Sort();
            double width = Math.ScaleB(1, histogram.Exponent);
            Assert.True(width <= (to - from) / 31.5, $"width {width} is coarser than the layout promises for [{from}, {to}].");
            for (double q = 0; q <= 1; q += 0.01)
            {
                double exact = Calibration.Quantile(values, q);
                Assert.InRange(histogram.Quantile(q), exact - width, exact + width);
            }

            Assert.Equal(values[0], histogram.Quantile(0));
            Assert.Equal(values[^1], histogram.Quantile(1));
        }
    }

    [Fact]
    public void Quantile_IsWithinItsBin_OnTheLog2Scale()
    {
        var random = new Random(10);
        var values = Enumerable.Range(0, 3000).Select(_ => Math.Floor(Math.Exp(random.NextDouble() * 12))).ToList();
        var histogram = Log2(values);
        values.Sort();
        for (double q = 0; q <= 1; q += 0.01)
        {
            double exact = Calibration.Quantile(values, q);
            // The bins of the order statistics around the quantile are at most as wide as their upper neighbour's value.
            double width = Math.Max(1, Math.ScaleB(1, StatsHistogram.Log2BinOf(exact)));
            Assert.InRange(histogram.Quantile(q), exact - width, exact + width);
        }
    }

    [Fact]
    public void Quantile_IsZero_WhenThereAreNoValues_AndTheValue_WhenThereIsOne()
    {
        Assert.Equal(0, StatsHistogram.Empty(HistogramScale.Linear).Quantile(0.5));
        Assert.Equal(0.7, Linear([0.7]).Quantile(0.5));
    }

    [Fact]
    public void LinearLayout_IsTheFinestPowerOfTwoGridThatFits()
    {
        var random = new Random(11);
        for (int round = 0; round < 200; round++)
        {
            double a = (random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 6)), b = a + (random.NextDouble() * Math.Pow(10, random.Next(-6, 6)));
            var (exponent, offset, bins) = StatsHistogram.LinearLayout(a, b);

            Assert.InRange(bins, 1, StatsHistogram.MaxBins);
            Assert.Equal(offset, StatsHistogram.BinOf(a, exponent));
            Assert.Equal(offset + bins - 1, StatsHistogram.BinOf(b, exponent));
            Assert.True(StatsHistogram.BinOf(b, exponent - 1) - StatsHistogram.BinOf(a, exponent - 1) >= StatsHistogram.MaxBins || exponent == -40,
                $"[{a}, {b}] fits a finer grid than 2^{exponent}.");
        }
    }

    [Fact]
    public void LinearBuilder_Refuses_AValueOutsideItsRange_AndARangeWiderThanItsValues()
    {
        var builder = StatsHistogramBuilder.Linear(0, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => builder.Add(2));

        builder.Add(0.5);
        Assert.Throws<InvalidOperationException>(builder.ToHistogram);
    }

    [Fact]
    public void Merge_OfShardStats_IsExactForCountsMeanAndExtremes()
    {
        var random = new Random(12);
        var q0 = Uniform(random, 40, -1, 1);
        var q1 = Uniform(random, 25, 0, 0.5);
        var shards = new[]
        {
            new ShardStats(1, 3, q1.Length, Linear(q1), Log2(q1.Select(_ => 3.0)), Log2(q1.Select(_ => 100.0))),
            new ShardStats(0, 5, q0.Length, Linear(q0), Log2(q0.Select(_ => 0.0)), Log2(q0.Select(_ => 1.5))),
        };

        var stats = ShardStatistics.Merge(shards, new Coverage(2, 3));

        double[] all = [.. q0, .. q1];
        Assert.Equal((8, 65), (stats.Keys, stats.Memories));
        Assert.Equal([new ShardSize(0, 5, 40), new ShardSize(1, 3, 25)], stats.Shards);
        Assert.Equal(all.Average(), stats.QMean, 12);
        Assert.Equal((all.Min(), all.Max()), (stats.QMin, stats.QMax));
        Assert.Equal(65, stats.QHistogram.Sum());
        Assert.Equal(stats.QHistogram.Count + 1, stats.QHistogramEdges.Count);
        Assert.Equal(stats.QDistribution.Counts.Select(c => (int)c), stats.QHistogram);
        Assert.Equal((65L, 0.0, 3.0), (stats.VisitsDistribution.Count, stats.VisitsDistribution.Min, stats.VisitsDistribution.Max));
        Assert.Equal(new Coverage(2, 3), stats.Coverage);
    }
}
