using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using MemRL.Core;
using MemRL.GrainInterfaces;

namespace MemRL.Cluster.Tests;

/// <summary>
/// The wire options and MemRL.Core's are two declarations of one thing: same members, same defaults, and the one mapping
/// carries every member both ways. Each test walks every property by reflection, so a member added to one type and not
/// the other (or left out of a mapping direction) fails here.
/// </summary>
public sealed class OptionsMappingTests
{
    // The core-only options (provenance, UCB: reference bank only, BankOptionsMapping.CoreOnly) are not on the wire; the
    // test below pins that the mapping refuses them instead of dropping them.
    private static readonly PropertyInfo[] CoreMembers = typeof(MemRLOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => !BankOptionsMapping.CoreOnly.Contains(p.Name)).ToArray();

    [Theory]
    [InlineData("provenanceDecay")]
    [InlineData("provenanceDepth")]
    [InlineData("provenanceFanOut")]
    [InlineData("explorationBonus")]
    public void ToWire_RefusesACoreOnlyOption_NamingIt(string field)
    {
        var options = field switch
        {
            "provenanceDecay" => MemRLOptions.Default with { ProvenanceDecay = 0.5 },
            "provenanceDepth" => MemRLOptions.Default with { ProvenanceDepth = 2 },
            "provenanceFanOut" => MemRLOptions.Default with { ProvenanceFanOut = 4 },
            _ => MemRLOptions.Default with { ExplorationBonus = 1 },
        };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.ToWire());

        Assert.True(MemRL.Errors.FieldError.TryRead(error, out var parts));
        Assert.Equal(field, parts.Field);
        Assert.Equal(BankOptionsMapping.CoreOnly.Count, typeof(MemRLOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Length - CoreMembers.Length);
    }
    // The retention policy is the bank's, not MemRL's (core's RetentionPolicy, mapped by RetentionSettings and pinned by
    // RetentionSettingsTests); every other wire member mirrors a core option.
    private static readonly PropertyInfo[] WireMembers = typeof(BankOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.Name != nameof(BankOptions.Retention)).ToArray();

    [Fact]
    public void WireAndCoreOptions_HaveTheSameMembers_OfTheSameTypes()
    {
        Assert.Equal(CoreMembers.Select(p => $"{p.Name}: {TypeName(p.PropertyType)}").Order(), WireMembers.Select(p => $"{p.Name}: {TypeName(p.PropertyType)}").Order());
    }

    [Fact]
    public void WireDefaults_EqualCoreDefaults_MemberByMember()
    {
        var wire = new BankOptions();
        foreach (var member in CoreMembers.Concat(WireMembers).Select(p => p.Name).Distinct())
        {
            object? core = Comparable(Member(typeof(MemRLOptions), member).GetValue(MemRLOptions.Default));
            object? onWire = Comparable(Member(typeof(BankOptions), member).GetValue(wire));
            Assert.True(Equals(core, onWire), $"{member}: the wire default is {onWire}, the core default is {core}.");
        }
    }

    [Fact]
    public void ToWireAndToCore_CarryEveryMember_AndOnlyIt()
    {
        foreach (var member in CoreMembers)
        {
            var changed = MemRLOptions.Default with { };
            object value = OtherThan(member.GetValue(changed), member.PropertyType);
            member.SetValue(changed, value);

            var wire = changed.ToWire();
            var back = wire.ToCore();

            Assert.True(Equals(Comparable(value), Comparable(Member(typeof(BankOptions), member.Name).GetValue(wire))), $"ToWire drops {member.Name}.");
            foreach (var other in CoreMembers)
            {
                Assert.True(Equals(other.GetValue(changed), other.GetValue(back)),
                    $"With {member.Name} changed, {other.Name} comes back as {other.GetValue(back)}, not {other.GetValue(changed)}.");
            }
        }
    }

    [Fact]
    public void SimilarityNormalizationMode_MirrorsCoreEnum_NameForValue()
    {
        Assert.Equal(
            Enum.GetValues<SimilarityNormalization>().Select(v => $"{v}={(int)v}"),
            Enum.GetValues<SimilarityNormalizationMode>().Select(v => $"{v}={(int)v}"));
    }

    // The wire bytes of the options (and so of every message carrying them): ids 0–14 are exactly what the wire record of
    // bdfab11 (defaults declared on it) produced; taking the defaults from core, and later the surrogate that lets qInit
    // default to the reward range's midpoint, changed none of them. The reward range (ids 15, 16) follows them, before
    // the end marker (E0): an additive change, which a reader that predates it skips.
    [Theory]
    [InlineData(false, "20E880333333333333D33F81000000000000E03F0115010D81000000000000E03F810000000000000000810000000000000000C101C10181000000000000000081CDCCCCCCCCCCEC3F01810903018129ED0DBE3099E03F81EB73B515FBCBBE3F", "81000000000000F0BF81000000000000F03F")]
    [InlineData(true, "20E880000000000000D03F81000000000000E83F0119010981000000000000E0BF81000000000000F03F81000000000000F0BF81000000000000F0BF81000000000000E0BF81000000000000C03F810000000000000040014109030581000000000000E03F81000000000000D03F", "8100000000000000C0810000000000000840")]
    public void BankOptions_SerializeToTheSameOrleansBytes_PlusTheRewardRange(bool set, string before, string range)
    {
        string expectedHex = before + range + "E0";
        var options = set
            ? new BankOptions
            {
                Alpha = 0.25, Lambda = 0.75, K1 = 6, K2 = 2, Delta = -0.5, QInitSuccess = 1, QInitFailure = -1, QFloor = -1, QMin = -0.5,
                Epsilon = 0.125, MergeThreshold = 2, MaxMemoriesPerKey = 16, SimilarityNormalization = SimilarityNormalizationMode.Fixed,
                SimilarityMean = 0.5, SimilarityStdDev = 0.25, RewardMin = -2, RewardMax = 3,
            }
            : new BankOptions();
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();

        byte[] bytes = serializer.SerializeToArray(options);

        // Members added since are appended as new field ids before the end marker (E0), which a reader of the older
        // record skips: Id 17 (MergeAcrossScopes, false) is the two bytes 01 01, Id 18 (Retention, null) C1 01 (a null, as QMin's above).
        const string addedSince = "0101C101";
        Assert.Equal(expectedHex[..^2] + addedSince + "E0", Convert.ToHexString(bytes));
        Assert.Equal(options, serializer.Deserialize<BankOptions>(bytes));
    }

    [Fact]
    public void BankOptions_AnUnsetQInit_CrossesTheWireAsTheMidpoint_AndEqualsTheOptionsItCameFrom()
    {
        var options = new BankOptions { RewardMin = 0, RewardMax = 1, QInitFailure = 0 };
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();

        var back = serializer.Deserialize<BankOptions>(serializer.SerializeToArray(options));

        Assert.Equal((0.5, 0.0, 0.0, 1.0), (back!.QInitSuccess, back.QInitFailure, back.RewardMin!.Value, back.RewardMax!.Value));
        Assert.Equal(options, back);
        Assert.Equal(options.GetHashCode(), back.GetHashCode());
        Assert.NotEqual(options, back with { QInitSuccess = 0.25 });
        var legacy = serializer.Deserialize<BankOptions>(serializer.SerializeToArray(options with { RewardMin = null, RewardMax = null }));
        // Unset and unbounded: the legacy qInit 0.
        Assert.Equal((null, null, 0.0), (legacy!.RewardMin, legacy.RewardMax, legacy.QInitSuccess));
    }

    private static PropertyInfo Member(Type type, string name) =>
        type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance) ?? throw new Xunit.Sdk.XunitException($"{type.Name} has no member {name}.");

    // The two enums are one value space (checked above); compare them by value.
    private static object? Comparable(object? value) => value is Enum e ? Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture) : value;

    private static string TypeName(Type type) => type.IsEnum ? "enum" : Nullable.GetUnderlyingType(type) is { } inner ? inner.Name + "?" : type.Name;

    // A valid-looking value different from the current one, of the member's type.
    private static object OtherThan(object? current, Type type) => (Nullable.GetUnderlyingType(type) ?? type) switch
    {
        var t when t == typeof(double) => (current is double d ? d : 0) + 0.125,
        var t when t == typeof(int) => (int)current! + 1,
        var t when t == typeof(bool) => !(bool)current!,
        var t when t.IsEnum => Enum.GetValues(t).Cast<object>().First(v => !v.Equals(current)),
        var t => throw new Xunit.Sdk.XunitException($"OtherThan has no value for {t.Name}; teach it the new member's type."),
    };
}
