using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// The embedded default's local keys (no key configured) outlive a restart, and a rotation adds a key without
/// cutting off the clients that hold the previous one.
/// </summary>
public sealed class KeyPersistenceTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), $"memrl-keys-{Guid.NewGuid():N}");

    private string KeyFile => Path.Combine(_data, "api-key.local");

    private string RingFile => Path.Combine(_data, "api-keys.json");

    private ApiOptions Options => new() { LocalKeyPath = KeyFile, LocalKeyRingPath = RingFile };

    [Fact]
    public async Task TwoStartsOnTheSameDataDirectory_AcceptTheSameKey()
    {
        string first;
        await using (var silo = await StartAsync())
        {
            first = ReadKey();
            await AssertAcceptedAsync(silo, first);
        }

        await using (var silo = await StartAsync())
        {
            Assert.Equal(first, ReadKey());
            await AssertAcceptedAsync(silo, first);
        }

        Assert.DoesNotContain(first, File.ReadAllText(RingFile), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyFile));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(RingFile));
        }
    }

    [Fact]
    public async Task Rotate_AddsAKey_AndKeepsTheOldOneWorking_WhileRunningAndAfterARestart()
    {
        string old;
        string rotated;
        await using (var silo = await StartAsync())
        {
            old = ReadKey();
            // What `rotate-local-key` does, while the silo runs.
            rotated = LocalKeys.Rotate(Options, DateTimeOffset.UtcNow);
            Assert.NotEqual(old, rotated);
            Assert.Equal(rotated, ReadKey());
            await AssertAcceptedAsync(silo, rotated);
            await AssertAcceptedAsync(silo, old);
        }

        await using (var silo = await StartAsync())
        {
            Assert.Equal(rotated, ReadKey());
            await AssertAcceptedAsync(silo, rotated);
            await AssertAcceptedAsync(silo, old);
            await AssertRefusedAsync(silo, "memrl_never-issued-000000000000000000000000000000");
        }
    }

    [Fact]
    public async Task PreviousKeys_AreAtMostTheKeptNumber()
    {
        var now = DateTimeOffset.UtcNow;
        // Four keys in three days, all within the grace (7 days): LocalKeysKept (3) keeps the newest three.
        string k1 = LocalKeys.Rotate(Options, now.AddDays(-3));
        string k2 = LocalKeys.Rotate(Options, now.AddDays(-2));
        string k3 = LocalKeys.Rotate(Options, now.AddDays(-1));
        string k4 = LocalKeys.Rotate(Options, now);
        await using var silo = await StartAsync();
        Assert.Equal(k4, ReadKey());
        await AssertAcceptedAsync(silo, k4);
        await AssertAcceptedAsync(silo, k3);
        await AssertAcceptedAsync(silo, k2);
        await AssertRefusedAsync(silo, k1);
        using var ring = JsonDocument.Parse(File.ReadAllText(RingFile));
        Assert.Equal(3, ring.RootElement.GetProperty("keys").GetArrayLength());
    }

    [Fact]
    public async Task APreviousKey_IsRefusedOnceItsGraceHasPassed()
    {
        var now = DateTimeOffset.UtcNow;
        string replaced = LocalKeys.Rotate(Options, now.AddDays(-30));
        string current = LocalKeys.Rotate(Options, now.AddDays(-8));
        await using var silo = await StartAsync();
        await AssertAcceptedAsync(silo, current);
        // Replaced 8 days ago: past LocalKeyGrace (7 days), though still in the ring file.
        Assert.Contains(ApiKeyRing.Hash(replaced), File.ReadAllText(RingFile), StringComparison.Ordinal);
        await AssertRefusedAsync(silo, replaced);
    }

    [Fact]
    public async Task ADeletedKeyFile_GetsANewKey_AndRevokesTheOldOne()
    {
        string old;
        await using (var silo = await StartAsync())
        {
            old = ReadKey();
        }

        File.Delete(KeyFile);
        await using (var silo = await StartAsync())
        {
            string next = ReadKey();
            Assert.NotEqual(old, next);
            await AssertAcceptedAsync(silo, next);
            await AssertRefusedAsync(silo, old);
        }
    }

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    private string ReadKey() => File.ReadAllText(KeyFile).Trim();

    private Task<ApiSilo> StartAsync() => ApiSilo.StartAsync(
        new Dictionary<string, string?> { ["MemRL:Api:LocalKeyPath"] = KeyFile, ["MemRL:Api:LocalKeyRingPath"] = RingFile }, testKeys: false);

    // Authenticated, the call reaches the handler: a bank that does not exist is 404, not 401.
    private static async Task AssertAcceptedAsync(ApiSilo silo, string key)
    {
        using var http = silo.Client(key);
        (await http.GetJsonAsync("/v1/banks/no-such-bank")).Problem(HttpStatusCode.NotFound, "bank");
    }

    private static async Task AssertRefusedAsync(ApiSilo silo, string key)
    {
        using var http = silo.Client(key);
        (await http.GetJsonAsync("/v1/banks/no-such-bank")).Problem(HttpStatusCode.Unauthorized, "Authorization");
    }
}
