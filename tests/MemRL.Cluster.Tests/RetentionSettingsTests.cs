using System.Reflection;
using MemRL.Core;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>The wire retention policy mirrors MemRL.Core's: same defaults, every field carried both ways, ranges named
/// as the caller spells them (durations in seconds).</summary>
public sealed class RetentionSettingsTests
{
    [Fact]
    public void Defaults_AndARoundTrip_MatchTheCorePolicy_FieldByField()
    {
        Assert.Equal(RetentionPolicy.None, new RetentionSettings().ToValidatedPolicy());
        var policy = new RetentionPolicy
        {
            LowQThreshold = -0.25, LowQMinVisits = 7, IdleWindow = TimeSpan.FromHours(5), ProtectQ = 0.9, MaxActive = 1234,
            RetentionPeriod = TimeSpan.FromDays(2), MaxPerRun = 77,
        };

        Assert.Equal(policy, RetentionSettings.From(policy).ToValidatedPolicy());
        // Seven core fields, seven wire fields: a field added to one side fails here until the other has it.
        Assert.Equal(typeof(RetentionPolicy).GetProperties(BindingFlags.Public | BindingFlags.Instance).Count(p => p.CanWrite),
            typeof(RetentionSettings).GetProperties(BindingFlags.Public | BindingFlags.Instance).Count(p => p.CanWrite));
    }

    [Theory]
    [InlineData(nameof(RetentionSettings.IdleWindowSeconds), 0.5, "retention.idleWindowSeconds")]
    [InlineData(nameof(RetentionSettings.IdleWindowSeconds), double.PositiveInfinity, "retention.idleWindowSeconds")]
    [InlineData(nameof(RetentionSettings.RetentionPeriodSeconds), -1.0, "retention.retentionPeriodSeconds")]
    [InlineData(nameof(RetentionSettings.RetentionPeriodSeconds), 1e12, "retention.retentionPeriodSeconds")]
    [InlineData(nameof(RetentionSettings.LowQThreshold), double.NaN, "retention.lowQThreshold")]
    [InlineData(nameof(RetentionSettings.ProtectQ), double.NegativeInfinity, "retention.protectQ")]
    public void OutOfRange_IsRefused_NamingTheWireField(string member, double value, string field)
    {
        var settings = member switch
        {
            nameof(RetentionSettings.IdleWindowSeconds) => new RetentionSettings { IdleWindowSeconds = value },
            nameof(RetentionSettings.RetentionPeriodSeconds) => new RetentionSettings { RetentionPeriodSeconds = value },
            nameof(RetentionSettings.LowQThreshold) => new RetentionSettings { LowQThreshold = value },
            _ => new RetentionSettings { ProtectQ = value },
        };

        var error = Assert.ThrowsAny<ArgumentException>(() => settings.ToValidatedPolicy());

        Assert.True(MemRL.Errors.FieldError.TryRead(error, out var parts));
        Assert.Equal(field, parts.Field);
        Assert.Single(settings.FindErrors());
    }
}
