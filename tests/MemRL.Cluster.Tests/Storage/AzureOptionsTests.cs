using MemRL.Grains;
using MemRL.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>The Azure backend's settings are checked when the silo starts, naming the key and never echoing a secret.</summary>
public sealed class AzureOptionsTests
{
    private const string Secret = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw==";

    [Fact]
    public async Task SiloStart_Fails_NamingTheKey_WhenTheConnectionStringIsMissing()
    {
        using var host = Build(o => o.Provider = StorageProvider.Azure);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("MemRL:Storage:AzureConnectionString is empty", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("DefaultEndpointsProtocol=https;AccountKey=" + Secret)]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + Secret + ";TableEndpoint=not a uri")]
    [InlineData("just-a-key-" + Secret)]
    public void Validator_RefusesAMalformedConnectionString_NamingTheKey_WithoutTheSecret(string connectionString)
    {
        var result = new StorageOptionsValidator().Validate(null, new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = connectionString });

        Assert.True(result.Failed);
        Assert.Contains("MemRL:Storage:AzureConnectionString is not a valid Azure Storage connection string", result.FailureMessage, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Azure_Account", null, "MemRL:Storage:AzureAccountName is 'Azure_Account'; expected 3 to 24 lowercase letters and digits.")]
    [InlineData("acct", "Memrl", "MemRL:Storage:AzurePrefix is 'Memrl'; expected 3 to 40 lowercase letters and digits, starting with a letter.")]
    public void Validator_RefusesABadAccountOrPrefix_NamingTheKey(string account, string? prefix, string expected)
    {
        var options = new StorageOptions { Provider = StorageProvider.Azure, AzureAccountName = account };
        if (prefix is not null)
        {
            options.AzurePrefix = prefix;
        }

        var result = new StorageOptionsValidator().Validate(null, options);

        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_RefusesBothAConnectionStringAndAnAccount()
    {
        var result = new StorageOptionsValidator().Validate(null,
            new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = "UseDevelopmentStorage=true", AzureAccountName = "acct" });

        Assert.Contains("MemRL:Storage:AzureConnectionString and MemRL:Storage:AzureAccountName are both set", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_AcceptsAzuritesConnectionString()
    {
        var result = new StorageOptionsValidator().Validate(null, new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = "UseDevelopmentStorage=true" });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    private static IHost Build(Action<StorageOptions> configure)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort: 21931, gatewayPort: 31931);
            silo.AddMemRL(o => o.RecallTokenKey = Fixtures.TestClusters.TokenKey);
            silo.Services.Configure(configure);
        });
        return builder.Build();
    }
}
