using MemRL.Core.Recall;

namespace MemRL.Core.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Defaults_AreThePapers()
    {
        var o = MemRLOptions.Default;

        Assert.Equal((0.3, 0.5, 5, 3, 0.5, 0.0, 0.0), (o.Alpha, o.Lambda, o.K1, o.K2, o.Delta, o.QInitSuccess, o.QInitFailure));
        Assert.Equal((0.90, 0.0), (o.MergeThreshold, o.Epsilon));
        Assert.Null(o.QFloor);
        Assert.Null(o.QMin);
        Assert.Equal(SimilarityNormalization.Pool, o.SimilarityNormalization);
        o.Validate();
    }

    public static TheoryData<MemRLOptions, string, string, string> Invalid => new()
    {
        { MemRLOptions.Default with { Alpha = 1.0001 }, "alpha", "1.0001", "a number in [0, 1]" },
        { MemRLOptions.Default with { Alpha = -0.1 }, "alpha", "-0.1", "a number in [0, 1]" },
        { MemRLOptions.Default with { Alpha = double.NaN }, "alpha", "NaN", "a number in [0, 1]" },
        { MemRLOptions.Default with { Lambda = 1.5 }, "lambda", "1.5", "a number in [0, 1]" },
        { MemRLOptions.Default with { K2 = 6 }, "k2", "6", "at most k1 (5)" },
        { MemRLOptions.Default with { K1 = 0, K2 = 0 }, "k1", "0", "an integer in [1, 1000]" },
        { MemRLOptions.Default with { Delta = double.PositiveInfinity }, "delta", "Infinity", "a number in [-1, 1]" },
        { MemRLOptions.Default with { QInitSuccess = double.NaN }, "qInitSuccess", "NaN", "a finite number" },
        { MemRLOptions.Default with { QFloor = 0.5 }, "qFloor", "0.5", "at most qInitSuccess (0) and qInitFailure (0)" },
        { MemRLOptions.Default with { Epsilon = 2 }, "epsilon", "2", "a number in [0, 1]" },
        { MemRLOptions.Default with { MaxMemoriesPerKey = 0 }, "maxMemoriesPerKey", "0", "an integer in [1, 10000]" },
        { MemRLOptions.Default with { SimilarityStdDev = -1 }, "similarityStdDev", "-1", "a number in [0, 2]" },
        { MemRLOptions.Default with { RewardMin = double.NegativeInfinity }, "rewardMin", "-Infinity", "a finite number" },
        { MemRLOptions.Default with { RewardMax = double.NaN }, "rewardMax", "NaN", "a finite number" },
        { MemRLOptions.Default with { RewardMin = 1, RewardMax = 1 }, "rewardMax", "1", "a number above rewardMin (1)" },
        { MemRLOptions.Default with { RewardMin = 2, RewardMax = 1, QInitSuccess = 0, QInitFailure = 0 }, "rewardMax", "1", "a number above rewardMin (2)" },
        { MemRLOptions.Default with { RewardMin = 0, QInitSuccess = -0.5 }, "qInitSuccess", "-0.5", "a number in the reward range [0, 1]" },
        { MemRLOptions.Default with { RewardMax = null, QInitFailure = -2 }, "qInitFailure", "-2", "a number in the reward range [-1, +∞)" },
    };

    [Fact]
    public void Defaults_RewardRangeIsMinusOneToOne_AndQInitItsMidpoint()
    {
        Assert.Equal((-1.0, 1.0, 0.0), (MemRLOptions.Default.RewardMin!.Value, MemRLOptions.Default.RewardMax!.Value, MemRLOptions.Default.RewardMidpoint()));
    }

    [Theory]
    [InlineData(0.0, 1.0, 0.5)]
    [InlineData(-1.0, 1.0, 0.0)]
    [InlineData(1.0, 3.0, 2.0)]
    [InlineData(-1.7e308, 1.7e308, 0.0)]
    [InlineData(1e308, 1.7e308, 1.35e308)]
    public void QInit_Unset_IsTheRangesMidpoint_WhateverOrderTheRangeIsSetIn(double min, double max, double midpoint)
    {
        var options = MemRLOptions.Default with { RewardMin = min, RewardMax = max };

        Assert.Equal((midpoint, midpoint), (options.QInitSuccess, options.QInitFailure));
        Assert.Equal(midpoint, (new MemRLOptions { RewardMax = max, RewardMin = min }).QInitSuccess);
        options.Validate();
    }

    [Fact]
    public void QInit_Set_StaysWhateverTheRange_AndAnUnboundedSideMeansTheLegacyZero()
    {
        var set = new MemRLOptions { QInitSuccess = 1, RewardMin = 0, RewardMax = 1 };
        Assert.Equal((1.0, 0.5), (set.QInitSuccess, set.QInitFailure));
        Assert.Equal((0.0, 0.0), ((MemRLOptions.Default with { RewardMin = 0, RewardMax = null }).QInitSuccess,
            (MemRLOptions.Default with { RewardMin = null, RewardMax = null }).QInitFailure));
    }

    [Fact]
    public void Equality_ComparesQInitByValue_SetOrDefaulted()
    {
        var unset = MemRLOptions.Default with { RewardMin = 0, RewardMax = 1 };
        var set = unset with { QInitSuccess = 0.5, QInitFailure = 0.5 };

        Assert.Equal(unset, set);
        Assert.Equal(unset.GetHashCode(), set.GetHashCode());
        Assert.NotEqual(unset, set with { QInitFailure = 0.25 });
        Assert.NotEqual(unset, unset with { RewardMax = 2 });
        Assert.NotEqual(MemRLOptions.Default, MemRLOptions.Default with { Alpha = 0.31 });
    }

    [Theory]
    [InlineData(0.0, 1.0, 1.5, "[0, 1]")]
    [InlineData(0.0, 1.0, -0.0001, "[0, 1]")]
    [InlineData(-1.0, 1.0, 1.0000001, "[-1, 1]")]
    public void ValidateReward_OutsideTheRange_NamesTheRewardTheRangeAndTheValue(double min, double max, double reward, string range)
    {
        var options = new MemRLOptions { RewardMin = min, RewardMax = max };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.ValidateReward(reward));

        var parts = FieldAssert.Parts(error, "reward", MemRL.Errors.FieldError.Format(reward));
        Assert.Equal($"a number in the bank's reward range {range}", parts.Expected);
    }

    [Fact]
    public void ValidateReward_AcceptsBothEnds_AndAnythingFiniteWhenUnbounded_ButNeverNonFinite()
    {
        var unit = new MemRLOptions { RewardMin = 0, RewardMax = 1 };
        unit.ValidateReward(0);
        unit.ValidateReward(1);
        var legacy = new MemRLOptions { RewardMin = null, RewardMax = null };
        legacy.ValidateReward(-1.7e308);
        legacy.ValidateReward(1.7e308);
        Assert.Throws<ArgumentOutOfRangeException>(() => legacy.ValidateReward(double.PositiveInfinity));
        Assert.Throws<ArgumentOutOfRangeException>(() => unit.ValidateReward(double.NaN));
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_RejectsOutOfRange_NamingOptionRangeAndValue(MemRLOptions options, string field, string actual, string expected)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());

        var parts = FieldAssert.Parts(error, field, actual);
        Assert.Equal(expected, parts.Expected);
        Assert.Equal(field, error.ParamName);
        Assert.StartsWith($"{field} is {actual}; expected {expected}.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ListsEveryError_AndCarriesTheFirstsParts_UnderTheCallersPrefix()
    {
        var options = MemRLOptions.Default with { Alpha = 2, Epsilon = -1, SimilarityMean = 5 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate("options."));

        FieldAssert.Parts(error, "options.alpha", "2");
        Assert.Contains("options.alpha is 2; expected a number in [0, 1].", error.Message, StringComparison.Ordinal);
        Assert.Contains("options.epsilon is -1; expected a number in [0, 1].", error.Message, StringComparison.Ordinal);
        Assert.Contains("options.similarityMean is 5; expected a number in [-1, 1].", error.Message, StringComparison.Ordinal);
        Assert.Equal(["options.alpha", "options.epsilon", "options.similarityMean"], options.FindErrors("options.").Select(e => e.Field));
    }

    [Fact]
    public void Resolve_AppliesOverrides_AndValidatesThem()
    {
        var resolved = RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(K1: 10, K2: 5, Lambda: 0, Delta: 0.2));
        Assert.Equal(new RecallParameters(10, 5, 0, 0.2), resolved);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(K2: 9)));
        Assert.Equal("at most k1 (5)", FieldAssert.Parts(error, "k2", "9").Expected);
        FieldAssert.Parts(Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(Lambda: -0.5))), "lambda", "-0.5");
        FieldAssert.Parts(Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(K1: 0))), "k1", "0");
    }

    // The client checks a request's overrides before the hop, without the bank's options: the ranges are the options'
    // own (the same errors as Resolve gives), and k2 is bounded by k1 only when the request sets both.
    [Theory]
    [InlineData(0, null, null, null, "k1", "0", "an integer in [1, 1000]")]
    [InlineData(1001, null, null, null, "k1", "1001", "an integer in [1, 1000]")]
    [InlineData(null, 0, null, null, "k2", "0", "an integer in [1, 1000]")]
    [InlineData(2, 3, null, null, "k2", "3", "at most k1 (2)")]
    [InlineData(null, null, 1.5, null, "lambda", "1.5", "a number in [0, 1]")]
    [InlineData(null, null, double.NaN, null, "lambda", "NaN", "a number in [0, 1]")]
    [InlineData(null, null, null, -2.0, "delta", "-2", "a number in [-1, 1]")]
    [InlineData(0, null, 2.0, null, "lambda", "2", "a number in [0, 1]")]
    [InlineData(null, null, 2.0, 5.0, "lambda", "2", "a number in [0, 1]")]
    public void RecallOverridesValidate_NamesTheFirstBadOverride_AsResolveDoes(int? k1, int? k2, double? lambda, double? delta, string field, string actual, string expected)
    {
        var overrides = new RecallOverrides(k1, k2, lambda, delta);

        var alone = Assert.Throws<ArgumentOutOfRangeException>(overrides.Validate);
        var resolved = Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default with { K1 = 1000, K2 = 1 }, overrides));

        Assert.Equal(expected, FieldAssert.Parts(alone, field, actual).Expected);
        Assert.Equal(expected, FieldAssert.Parts(resolved, field, actual).Expected);
    }

    [Fact]
    public void RecallOverridesValidate_AcceptsUnsetMembers_AndK2WithoutK1()
    {
        RecallOverrides.None.Validate();
        new RecallOverrides(K2: 900).Validate();
        new RecallOverrides(K1: 1000, K2: 1000, Lambda: 0, Delta: -1).Validate();
    }
}
