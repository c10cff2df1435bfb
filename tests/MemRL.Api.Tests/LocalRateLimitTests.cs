namespace MemRL.Api.Tests;

/// <summary>
/// The per-tenant rate limit applies to configured keys (RateLimitTests); the embedded default's local tenant (no key
/// configured) has none, since it is the only tenant: with a rate of 1 request/s and a burst of 1, 30 requests pass.
/// </summary>
public sealed class LocalRateLimitTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"memrl-rate-{Guid.NewGuid():N}");

    private static Dictionary<string, string?> Slow() => new() { ["MemRL:Api:RatePerSecond"] = "1", ["MemRL:Api:RateBurst"] = "1" };

    [Fact]
    public async Task LocalTenant_IsNotRateLimited()
    {
        var settings = Slow();
        settings["MemRL:Api:LocalKeyPath"] = Path.Combine(_data, "api-key.local");
        settings["MemRL:Api:LocalKeyRingPath"] = Path.Combine(_data, "api-keys.json");
        await using var silo = await ApiSilo.StartAsync(settings, testKeys: false);
        using var http = silo.Client(File.ReadAllText(Path.Combine(_data, "api-key.local")).Trim());
        for (int i = 0; i < 30; i++)
        {
            (await http.GetJsonAsync("/v1/banks")).Ok();
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }
}
