using System.Text;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// The harness can fail: the fingerprint sees each kind of change a hostile request might make, and the raw client
/// sends what it is given (dot segments and all) and reads what comes back.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileHarnessTests(HostileFixture fixture)
{
    [Fact]
    public async Task StateFingerprint_SeesEveryKindOfChange()
    {
        var scene = await Scene.CreateAsync(fixture);
        var alpha = fixture.Alpha;
        string state = await scene.FingerprintAsync();
        Assert.Equal(state, await scene.FingerprintAsync());

        async Task ChangedAsync(string what, Func<Task> change)
        {
            await change();
            string now = await scene.FingerprintAsync();
            Assert.True(now != state, $"the fingerprint did not see {what}");
            state = now;
        }

        await ChangedAsync("a write", () => alpha.PostJsonAsync($"/v1/banks/{scene.Bank}/memories", new { intent = Http.Vector(Dimension, 9), experience = "x", success = true }));
        await ChangedAsync("a reward", () => alpha.PostJsonAsync($"/v1/banks/{scene.Bank}/reward", new { token = scene.Token, reward = 1.0, memoryIds = new[] { scene.Returned[0] } }));
        await ChangedAsync("an options change", () => alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{scene.Bank}/options", new { alpha = 0.25, mergeThreshold = 2.0, delta = -1.0 }));
        await ChangedAsync("a memory deleted", () => alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{scene.Bank}/memories/{scene.NotReturned}"));
        await ChangedAsync("the canary deleted", () => alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{scene.Bank}/memories/{scene.Ids[0]}"));
        await ChangedAsync("another bank's write", () => alpha.PostJsonAsync($"/v1/banks/{scene.OtherBank}/memories", new { intent = Http.Vector(Dimension, 2), experience = "y", success = false }));
        await ChangedAsync("another tenant's bank deleted", () => fixture.Beta.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{scene.BetaOnlyBank}"));
        await ChangedAsync("the bank deleted", () => alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{scene.Bank}"));
    }

    [Fact]
    public async Task RawHttp_SendsDotSegmentsVerbatim_AndParsesTheAnswer()
    {
        var scene = await fixture.SceneAsync();
        // HttpClient would send /v1/banks/{bank} for this; the raw client must not, whatever the server then does.
        var reply = await RawHttp.SendAsync(fixture.Silo.Address, "GET", $"/v1/banks/{scene.Bank}/memories/{scene.Ids[0]}/../{scene.Ids[1]}",
            [("Authorization", $"Bearer {ApiSilo.KeyOf("alpha")}")]);
        Assert.InRange(reply.Status, 100, 599);
        var plain = await RawHttp.SendAsync(fixture.Silo.Address, "GET", $"/v1/banks/{scene.Bank}/memories/{scene.Ids[1]}", [("Authorization", $"Bearer {ApiSilo.KeyOf("alpha")}")]);
        Assert.Equal(200, plain.Status);
        Assert.Equal("application/json", plain.MediaType);
        Assert.Equal(scene.Ids[1], plain.Json.GetProperty("id").GetString());
        var chunked = WireReply.Parse(Encoding.ASCII.GetBytes("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nContent-Type: application/problem+json\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"));
        Assert.Equal((404, "{\"a\":1}", "application/problem+json"), (chunked.Status, chunked.Body, chunked.MediaType));
    }
}
