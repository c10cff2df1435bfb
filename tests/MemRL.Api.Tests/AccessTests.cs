using Microsoft.Extensions.DependencyInjection;
using System.Net;

namespace MemRL.Api.Tests;

/// <summary>Keys: none or unknown is 401, read-only may read but not change, and each tenant has its own rate limit.</summary>
[Collection(ApiCollection.Name)]
public sealed class AccessTests(ApiSiloFixture fixture)
{

    [Fact]
    public async Task MissingOrUnknownKey_Is401()
    {
        using var anonymous = fixture.Silo.Client(null);
        using var unknown = fixture.Silo.Client("memrl_not-a-key-of-this-server");
        (await anonymous.GetJsonAsync("/v1/banks/anything")).Problem(HttpStatusCode.Unauthorized, "Authorization");
        (await unknown.PostJsonAsync("/v1/banks", new { name = "x" })).Problem(HttpStatusCode.Unauthorized, "Authorization");
        using var basic = fixture.Silo.Client(null);
        basic.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", "dXNlcjpwYXNz");
        (await basic.GetJsonAsync("/v1/banks/anything")).Problem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ReadOnlyKey_ReadsAndRecalls_ButCannotChangeAnything()
    {
        using var writer = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));
        using var reader = fixture.Silo.Client(ApiSilo.KeyOf("alpha", readOnly: true));
        string bank = ApiSiloFixture.NewBankName("readonly");
        await writer.CreateVectorBankAsync(bank);
        string id = (await writer.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "e", success = true }))
            .Ok(HttpStatusCode.Created).Str("memoryId");
        string before = await BadInputTests.SnapshotAsync(writer, bank, [id]);

        (await reader.GetJsonAsync($"/v1/banks/{bank}")).Ok();
        (await reader.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok();
        (await reader.GetJsonAsync($"/v1/banks/{bank}/memories/{id}")).Ok();
        string token = (await reader.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) })).Ok().Str("token");

        (await reader.PostJsonAsync("/v1/banks", new { name = ApiSiloFixture.NewBankName("ro"), dimension = Dimension, embedderId = "e" })).Problem(HttpStatusCode.Forbidden);
        (await reader.SendJsonAsync(HttpMethod.Put, $"/v1/banks/{bank}/options", new { alpha = 0.5 })).Problem(HttpStatusCode.Forbidden);
        (await reader.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 })).Problem(HttpStatusCode.Forbidden);
        (await reader.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 2), experience = "e", success = true })).Problem(HttpStatusCode.Forbidden);
        (await reader.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}")).Problem(HttpStatusCode.Forbidden);
        Assert.Equal(before, await BadInputTests.SnapshotAsync(writer, bank, [id]));
    }
}

/// <summary>A silo of its own with a tiny rate limit, so exceeding it takes a handful of requests.</summary>
public sealed class RateLimitTests : IAsyncLifetime
{
    private ApiSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await ApiSilo.StartAsync(new Dictionary<string, string?>
    {
        ["MemRL:Api:RatePerSecond"] = "1",
        ["MemRL:Api:RateBurst"] = "5",
    });

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task EachTenant_HasItsOwnBucket_And429SaysWhenToRetry()
    {
        using var alpha = _silo.Client(ApiSilo.KeyOf("alpha"));
        using var beta = _silo.Client(ApiSilo.KeyOf("beta"));
        var replies = new List<Reply>();
        for (int i = 0; i < 8; i++)
        {
            replies.Add(await alpha.GetJsonAsync("/v1/banks/none"));
        }

        Assert.All(replies.Take(5), r => Assert.Equal(HttpStatusCode.NotFound, r.Status));
        var limited = replies.Last();
        limited.Problem(HttpStatusCode.TooManyRequests);
        Assert.True(limited.Response.Headers.RetryAfter is not null, "a 429 must say when to retry");

        // Another tenant is not slowed down by alpha's traffic.
        (await beta.GetJsonAsync("/v1/banks/none")).Problem(HttpStatusCode.NotFound, "bank");
    }
}

/// <summary>A silo of its own on a clock the test moves: an expired token is refused and nothing changes.</summary>
public sealed class ExpiredTokenTests : IAsyncLifetime
{
    private readonly TestClock _clock = new(DateTimeOffset.UtcNow);
    private ApiSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await ApiSilo.StartAsync(
        new Dictionary<string, string?> { ["MemRL:RecallTokenLifetime"] = "00:00:30" },
        services: s => s.AddSingleton<TimeProvider>(_clock));

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task ExpiredToken_IsRefused_AndChangesNothing()
    {
        using var alpha = _silo.Client(ApiSilo.KeyOf("alpha"));
        await alpha.CreateVectorBankAsync("expiry");
        string id = (await alpha.PostJsonAsync("/v1/banks/expiry/memories", new { intent = Http.Vector(Dimension, 1), experience = "e", success = true }))
            .Ok(HttpStatusCode.Created).Str("memoryId");
        string token = (await alpha.PostJsonAsync("/v1/banks/expiry/recall", new { query = Http.Vector(Dimension, 1) })).Ok().Str("token");
        string before = await BadInputTests.SnapshotAsync(alpha, "expiry", [id]);
        _clock.Advance(TimeSpan.FromSeconds(31));

        var problem = (await alpha.PostJsonAsync("/v1/banks/expiry/reward", new { token, reward = 1.0 })).Problem(HttpStatusCode.BadRequest, "token");
        // Told apart from a forged token by the reason code RecallTokens attaches, never by message text.
        Assert.Equal("token-expired", problem.GetProperty("reason").GetString());
        Assert.Contains("expired", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await BadInputTests.SnapshotAsync(alpha, "expiry", [id]));
    }
}

/// <summary>A clock that moves only when told to.</summary>
internal sealed class TestClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
}
