using MemRL.Core.Recall;
using MemRL.Errors;

namespace MemRL.Core.Tests;

public sealed class QRuleTests
{
    [Theory]
    [InlineData(0.0, 1.0, 0.3, 0.3)]
    [InlineData(0.5, -1.0, 0.3, 0.05)]
    [InlineData(0.2, 0.2, 0.7, 0.2)]
    [InlineData(0.9, 0.0, 1.0, 0.0)]
    public void Update_IsTheEMA(double q, double reward, double alpha, double expected)
    {
        Assert.Equal(expected, QRule.Update(q, reward, alpha, floor: null), 12);
    }

    [Fact]
    public void ConstantReward_FollowsTheClosedForm()
    {
        double q = 0.4;
        for (int n = 1; n <= 30; n++)
        {
            q = QRule.Update(q, -1, 0.3, null);
            Assert.Equal(-1 + ((0.4 + 1) * Math.Pow(0.7, n)), q, 12);
        }
    }

    [Fact]
    public void RandomRewards_ConvergeToTheirMean()
    {
        // Rewards ±1 with P(+1) = 0.7: mean 0.4, Var(r) = 0.84; Var(Q) ≤ alpha/(2 − alpha)·Var(r), so the average of Q
        // over many steps lies within a few standard errors of the mean.
        var random = new Random(5);
        const double alpha = 0.1;
        double q = 0, sum = 0;
        const int burnIn = 200, steps = 20_000;
        for (int t = 0; t < burnIn + steps; t++)
        {
            q = QRule.Update(q, random.NextDouble() < 0.7 ? 1 : -1, alpha, null);
            sum += t >= burnIn ? q : 0;
        }

        double bound = Math.Sqrt(alpha / (2 - alpha) * 0.84);
        Assert.InRange(sum / steps, 0.4 - (0.1 * bound), 0.4 + (0.1 * bound));
        Assert.InRange(q, 0.4 - (5 * bound), 0.4 + (5 * bound));
    }

    [Fact]
    public void Floor_Holds()
    {
        double q = 0;
        for (int i = 0; i < 20; i++)
        {
            q = QRule.Update(q, -1, 0.5, floor: -0.25);
            Assert.True(q >= -0.25, $"Q fell to {q} below the floor.");
        }

        Assert.Equal(-0.25, q);
    }

    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    public void ValidateReward_RejectsNonFinite(double reward, string actual)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => QRule.ValidateReward(reward));
        Assert.Equal("a finite number", FieldAssert.Parts(error, "reward", actual).Expected);
    }

    [Fact]
    public void UpdateFinite_RefusesAnUpdateThatOverflows_AndPassesEveryOther()
    {
        // Two finite rewards far apart: R − Q overflows to +∞.
        double q = QRule.UpdateFinite(0, -1.7e308, 1, null);
        Assert.Equal(-1.7e308, q);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => QRule.UpdateFinite(q, 1.7e308, 1, null));
        Assert.Equal(Reasons.NotFinite, FieldAssert.Parts(error, "reward", "1.7E+308").Reason);
        Assert.Throws<ArgumentOutOfRangeException>(() => QRule.UpdateFinite(q, 1.7e308, 0.3, null));
        Assert.Equal(QRule.Update(-1e306, 1.7e308, 0.3, null), QRule.UpdateFinite(-1e306, 1.7e308, 0.3, null));
        Assert.Equal(QRule.Update(0.2, 1, 0.3, null), QRule.UpdateFinite(0.2, 1, 0.3, null));
    }
}

public sealed class WriteRuleTests
{
    [Fact]
    public void ChooseKey_JoinsAtTheThreshold_NotBelow()
    {
        const float threshold = 0.9f;
        Assert.Equal(7L, WriteRule.ChooseKey([new KeyMatch(7, threshold)], threshold));
        Assert.Equal(7L, WriteRule.ChooseKey([new KeyMatch(7, MathF.BitIncrement(threshold))], threshold));
        Assert.Null(WriteRule.ChooseKey([new KeyMatch(7, MathF.BitDecrement(threshold))], threshold));
    }

    [Fact]
    public void ChooseKey_PicksTheMostSimilar_ThenTheOlderKey()
    {
        Assert.Equal(3L, WriteRule.ChooseKey([new KeyMatch(5, 0.95f), new KeyMatch(3, 0.97f), new KeyMatch(1, 0.92f)], 0.9));
        Assert.Equal(2L, WriteRule.ChooseKey([new KeyMatch(8, 0.95f), new KeyMatch(2, 0.95f)], 0.9));
    }

    [Fact]
    public void ChooseKey_AboveOne_NeverJoins()
    {
        Assert.Null(WriteRule.ChooseKey([new KeyMatch(1, 1.0f)], 1.01));
    }
}

public sealed class CalibrationTests
{
    [Fact]
    public void FromSample_MatchesKnownPairwiseSimilarities()
    {
        // Unit vectors at angles 0°, 60°, 90°: pairwise cosines 0.5, 0 and cos 30° = √3/2. Sorted [0, 0.5, √3/2]; the
        // 80th percentile by linear interpolation sits at position 1.6: 0.5 + 0.6·(√3/2 − 0.5).
        float[][] intents = [[1, 0, 0], [0.5f, MathF.Sqrt(3) / 2, 0], [0, 1, 0]];
        double[] pairs = [0, 0.5, Math.Sqrt(3) / 2];
        double mean = pairs.Average();
        double std = Math.Sqrt(pairs.Sum(p => (p - mean) * (p - mean)) / 3);

        var result = Calibration.FromSample(intents);

        Assert.Equal(3, result.PairCount);
        Assert.Equal(mean, result.SimilarityMean, 6);
        Assert.Equal(std, result.SimilarityStdDev, 6);
        Assert.Equal(0.5 + (0.6 * ((Math.Sqrt(3) / 2) - 0.5)), result.Delta, 6);
    }

    [Fact]
    public void FromSample_OnRandomClusters_PlacesDeltaAtTheTopFifth()
    {
        var random = new Random(3);
        var intents = Enumerable.Range(0, 200).Select(_ => Enumerable.Range(0, 16).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray()).ToList();

        var result = Calibration.FromSample(intents);

        var sims = new List<double>();
        for (int i = 0; i < intents.Count; i++)
        {
            for (int j = i + 1; j < intents.Count; j++)
            {
                sims.Add(ScalarCosine.Of(intents[i], intents[j]));
            }
        }

        double above = sims.Count(s => s > result.Delta) / (double)sims.Count;
        Assert.InRange(above, 0.195, 0.205);
        Assert.Equal(sims.Average(), result.SimilarityMean, 5);
    }

    [Theory]
    [InlineData(new double[] { 1, 2, 3, 4 }, 0.5, 2.5)]
    [InlineData(new double[] { 1, 2, 3, 4, 5 }, 0.8, 4.2)]
    [InlineData(new double[] { 7 }, 0.3, 7)]
    public void Quantile_InterpolatesLinearly(double[] sorted, double q, double expected)
    {
        Assert.Equal(expected, Calibration.Quantile(sorted, q), 12);
    }

    [Fact]
    public void FromSample_RejectsTooFewOrBadVectors()
    {
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => Calibration.FromSample([[1f, 0f]])), "intents", "1 vectors");
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => Calibration.FromSample([[1f, 0f], [0f, 0f]])), "intents[1]", "the zero vector");
        FieldAssert.Parts(Assert.Throws<ArgumentException>(() => Calibration.FromSample([[1f, 0f], [0f, 1f, 0f]])), "intents[1]", "a vector of 3 elements");
    }
}
