using MemRL.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace MemRL.Cluster.Tests;

/// <summary>What <c>AddMemRL</c> configures on a silo, read from a built (not started) host.</summary>
public sealed class SiloOptionsTests
{
    [Fact]
    public void AddMemRL_RaisesTheActivationTimeout_ToTheShardLoadTimeout()
    {
        // Orleans abandons an activation after 30 s by default; a large shard replaying its log takes longer.
        using var host = Build(o => o.ShardLoadTimeout = TimeSpan.FromMinutes(7));
        Assert.Equal(TimeSpan.FromMinutes(7), host.Services.GetRequiredService<IOptions<GrainCollectionOptions>>().Value.ActivationTimeout);
    }

    [Fact]
    public void AddMemRL_KeepsALongerActivationTimeout_TheHostConfigured()
    {
        using var host = Build(o => o.ShardLoadTimeout = TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(20));
        Assert.Equal(TimeSpan.FromMinutes(20), host.Services.GetRequiredService<IOptions<GrainCollectionOptions>>().Value.ActivationTimeout);
    }

    [Fact]
    public void ShardLoadTimeout_NotPositive_IsRefusedNamingTheKey()
    {
        using var host = Build(o => o.ShardLoadTimeout = TimeSpan.Zero);
        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<MemRLClusterOptions>>().Value);
        Assert.Contains("MemRL:ShardLoadTimeout is 00:00:00; expected a positive duration.", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(-1000)]
    public void RetentionInterval_UnderASecondOrNegative_IsRefusedNamingTheKey(int milliseconds)
    {
        using var host = Build(o => o.RetentionInterval = TimeSpan.FromMilliseconds(milliseconds));
        var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<MemRLClusterOptions>>().Value);
        Assert.Contains("MemRL:RetentionInterval is", error.Message, StringComparison.Ordinal);
        Assert.Contains("expected 0 (off) or a duration from 1 second to 365 days.", error.Message, StringComparison.Ordinal);
    }

    private static IHost Build(Action<MemRLClusterOptions> configure, TimeSpan? hostActivationTimeout = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering();
            if (hostActivationTimeout is { } timeout)
            {
                silo.Configure<GrainCollectionOptions>(o => o.ActivationTimeout = timeout);
            }

            silo.AddMemRL(configure);
        });
        return builder.Build();
    }
}
