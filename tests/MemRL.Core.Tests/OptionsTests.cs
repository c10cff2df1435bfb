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

    public static TheoryData<MemRLOptions, string, string> Invalid => new()
    {
        { MemRLOptions.Default with { Alpha = 1.0001 }, "Alpha", "Alpha is 1.0001; expected a number in [0, 1]" },
        { MemRLOptions.Default with { Alpha = -0.1 }, "Alpha", "Alpha is -0.1" },
        { MemRLOptions.Default with { Alpha = double.NaN }, "Alpha", "Alpha is NaN" },
        { MemRLOptions.Default with { Lambda = 1.5 }, "Lambda", "Lambda is 1.5" },
        { MemRLOptions.Default with { K2 = 6 }, "K2", "K2 is 6; it must be at most K1 (5)" },
        { MemRLOptions.Default with { K1 = 0, K2 = 0 }, "K1", "K1 is 0; expected an integer in [1, 1000]" },
        { MemRLOptions.Default with { Delta = double.PositiveInfinity }, "Delta", "Delta is ∞" },
        { MemRLOptions.Default with { QInitSuccess = double.NaN }, "QInitSuccess", "QInitSuccess is NaN" },
        { MemRLOptions.Default with { QFloor = 0.5 }, "QFloor", "QFloor is 0.5; it must not exceed QInitSuccess (0)" },
        { MemRLOptions.Default with { Epsilon = 2 }, "Epsilon", "Epsilon is 2" },
        { MemRLOptions.Default with { MaxMemoriesPerKey = 0 }, "MaxMemoriesPerKey", "MaxMemoriesPerKey is 0" },
        { MemRLOptions.Default with { SimilarityStdDev = -1 }, "SimilarityStdDev", "SimilarityStdDev is -1" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Validate_RejectsOutOfRange_NamingOptionRangeAndValue(MemRLOptions options, string option, string message)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);

        Assert.Equal(option, error.ParamName);
        Assert.Contains(message.Replace("∞", "Infinity"), error.Message.Replace("∞", "Infinity"));
    }

    [Fact]
    public void Resolve_AppliesOverrides_AndValidatesThem()
    {
        var resolved = RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(K1: 10, K2: 5, Lambda: 0, Delta: 0.2));
        Assert.Equal(new RecallParameters(10, 5, 0, 0.2), resolved);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(K2: 9)));
        Assert.Contains("K2 is 9; it must be at most K1 (5)", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => RecallParameters.Resolve(MemRLOptions.Default, new RecallOverrides(Lambda: -0.5)));
    }
}
