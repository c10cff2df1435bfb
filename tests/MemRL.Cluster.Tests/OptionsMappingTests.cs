using MemRL.Core;
using MemRL.GrainInterfaces;
using MemRL.Grains;

namespace MemRL.Cluster.Tests;

/// <summary>The wire options and MemRL.Core's are two declarations of one thing: same members, same defaults.</summary>
public sealed class OptionsMappingTests
{
    [Fact]
    public void WireDefaults_EqualCoreDefaults_MemberByMember()
    {
        var wire = new BankOptions().ToCore();
        var core = new MemRLOptions();

        foreach (var property in typeof(MemRLOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            Assert.True(Equals(property.GetValue(core), property.GetValue(wire)),
                $"{property.Name}: the wire default maps to {property.GetValue(wire)}, the core default is {property.GetValue(core)}.");
        }
    }

    [Fact]
    public void WireAndCoreOptions_HaveTheSameMembers_AndRoundTrip()
    {
        Assert.Equal(
            typeof(MemRLOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Select(p => p.Name).Order(),
            typeof(BankOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance).Select(p => p.Name).Order());
        var changed = new MemRLOptions
        {
            Alpha = 0.7, Lambda = 0.25, K1 = 9, K2 = 4, Delta = 0.1, QInitSuccess = 0.5, QInitFailure = -0.5, QFloor = -2, QMin = -1,
            Epsilon = 0.05, MergeThreshold = 0.8, MaxMemoriesPerKey = 7, SimilarityNormalization = SimilarityNormalization.Fixed,
            SimilarityMean = 0.4, SimilarityStdDev = 0.2,
        };

        var back = changed.ToWire().ToCore();

        foreach (var property in typeof(MemRLOptions).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            Assert.True(Equals(property.GetValue(changed), property.GetValue(back)), $"{property.Name} does not survive the wire.");
        }
    }
}
