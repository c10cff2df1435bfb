using System.Text.Json;
using System.Net;

namespace MemRL.Api.Tests;

/// <summary>An Idempotency-Key replayed with the same body returns the original result and applies once; another body is 409.</summary>
[Collection(ApiCollection.Name)]
public sealed class IdempotencyTests(ApiSiloFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task Write_Reward_AndDelete_ApplyOnce()
    {
        string bank = ApiSiloFixture.NewBankName("idem");
        await _alpha.CreateVectorBankAsync(bank);

        var write = new { intent = Http.Vector(Dimension, 1), intentText = "t", experience = "e", success = true };
        var first = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", write, "write-1")).Ok(HttpStatusCode.Created);
        var again = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", write, "write-1")).Ok(HttpStatusCode.Created);
        Assert.Equal(first.Body.GetRawText(), again.Body.GetRawText());
        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Body.GetProperty("memories").GetInt32());
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", write with { experience = "other" }, "write-1")).Problem(HttpStatusCode.Conflict, "Idempotency-Key");
        string id = first.Str("memoryId");

        string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 1) })).Ok().Str("token");
        var reward = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-1")).Ok();
        var replay = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-1")).Ok();
        Assert.Equal(reward.Body.GetRawText(), replay.Body.GetRawText());
        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{id}")).Body.GetProperty("visits").GetInt32());
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 0.5 }, "reward-1")).Problem(HttpStatusCode.Conflict, "Idempotency-Key");
        Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{id}")).Body.GetProperty("visits").GetInt32());

        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", idempotencyKey: "delete-1")).Ok(HttpStatusCode.NoContent);
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", idempotencyKey: "delete-1")).Ok(HttpStatusCode.NoContent);
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", idempotencyKey: "delete-2")).Problem(HttpStatusCode.NotFound, "memoryId");
    }

    [Fact]
    public async Task Edit_ReturnsTheEditedMemory_AppliesOnce_AndTheKeyWithAnotherBody_Is409()
    {
        string bank = ApiSiloFixture.NewBankName("idem-edit");
        await _alpha.CreateVectorBankAsync(bank);
        var write = new { intent = Http.Vector(Dimension, 1), intentText = "t", experience = "e", success = true, metadata = new Dictionary<string, string> { ["a"] = "1" } };
        string id = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", write)).Ok(HttpStatusCode.Created).Str("memoryId");
        string path = $"/v1/banks/{bank}/memories/{id}";

        var edited = (await _alpha.SendJsonAsync(HttpMethod.Patch, path, new { experience = "fixed" }, "edit-1")).Ok();
        Assert.Equal(id, edited.Str("id"));
        Assert.Equal("fixed", edited.Str("experience"));
        Assert.Equal("1", edited.Body.GetProperty("metadata").GetProperty("a").GetString());
        // Metadata is replaced whole; then the retry of edit-1 does not bring "fixed" back over "again".
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, new { experience = "again", metadata = new Dictionary<string, string> { ["b"] = "2" } }, "edit-2")).Ok();
        var replay = (await _alpha.SendJsonAsync(HttpMethod.Patch, path, new { experience = "fixed" }, "edit-1")).Ok();
        Assert.Equal("again", replay.Str("experience"));
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, new { experience = "other" }, "edit-1")).Problem(HttpStatusCode.Conflict, "Idempotency-Key");

        var got = (await _alpha.GetJsonAsync(path)).Ok();
        Assert.Equal("again", got.Str("experience"));
        Assert.Equal("2", got.Body.GetProperty("metadata").GetProperty("b").GetString());
        Assert.False(got.Body.GetProperty("metadata").TryGetProperty("a", out _));
        Assert.Equal(0, got.Body.GetProperty("visits").GetInt32());
    }

    [Fact]
    public async Task ArchiveAndRestore_TakeTheMemoryOutOfRecallAndBack_OncePerKey_AndADeletedOneIsNotFound()
    {
        string bank = ApiSiloFixture.NewBankName("idem-archive");
        await _alpha.CreateVectorBankAsync(bank);
        var intent = Http.Vector(Dimension, 1);
        string id = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent, intentText = "t", experience = "e", success = true })).Ok(HttpStatusCode.Created).Str("memoryId");
        string path = $"/v1/banks/{bank}/memories/{id}";
        string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = intent })).Ok().Str("token");

        var archived = (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/archive", idempotencyKey: "archive-1")).Ok();
        string at = archived.Body.GetProperty("archivedAt").GetString()!;
        Assert.Empty((await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = intent })).Ok().Body.GetProperty("memories").EnumerateArray());
        // A retry answers the same; archiving again changes nothing (the archive time stays).
        Assert.Equal(at, (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/archive", idempotencyKey: "archive-1")).Ok().Body.GetProperty("archivedAt").GetString());
        Assert.Equal(at, (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/archive", idempotencyKey: "archive-2")).Ok().Body.GetProperty("archivedAt").GetString());
        // The id used for the other action is a conflict; the reward of the recall made before the archive still counts.
        (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/restore", idempotencyKey: "archive-1")).Problem(HttpStatusCode.Conflict, "Idempotency-Key");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1 })).Ok();
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, new { experience = "x" })).Problem(HttpStatusCode.NotFound, "memoryId");

        var restored = (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/restore", idempotencyKey: "restore-1")).Ok();
        Assert.Equal(JsonValueKind.Null, restored.Body.TryGetProperty("archivedAt", out var gone) ? gone.ValueKind : JsonValueKind.Null);
        Assert.NotNull(restored.Body.GetProperty("restoredAt").GetString());
        Assert.Equal(1, restored.Body.GetProperty("visits").GetInt32());
        Assert.Equal(id, (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = intent })).Ok().Body.GetProperty("memories")[0].GetProperty("id").GetString());

        (await _alpha.SendJsonAsync(HttpMethod.Delete, path)).Ok(HttpStatusCode.NoContent);
        (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/restore")).Problem(HttpStatusCode.NotFound, "memoryId");
        (await _alpha.SendJsonAsync(HttpMethod.Post, path + "/archive")).Problem(HttpStatusCode.NotFound, "memoryId");
    }

    [Fact]
    public async Task RetentionRun_ArchivesByTheBanksPolicy_AndARetryWithItsKeyAnswersTheFirstRun()
    {
        string bank = ApiSiloFixture.NewBankName("idem-retention");
        await _alpha.CreateVectorBankAsync(bank);
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", """{"retention":{"maxActive":2}}""")).Ok();
        for (int i = 0; i < 5; i++)
        {
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, i + 1), intentText = $"t{i}", experience = "e", success = true })).Ok(HttpStatusCode.Created);
        }

        var run = (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/retention:run", idempotencyKey: "run-1")).Ok();
        Assert.Equal((0, 3, false), (run.Body.GetProperty("purged").GetInt32(), run.Body.GetProperty("archived").GetInt32(), run.Body.GetProperty("more").GetBoolean()));
        var again = (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/retention:run", idempotencyKey: "run-1")).Ok();
        Assert.Equal(run.Body.GetRawText(), again.Body.GetRawText());
        Assert.Equal(2, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetProperty("memories").GetInt32());
        // Capped: a new run has nothing left to do. The colon arrives percent-encoded from the SDKs, which quote segments.
        Assert.Equal(0, (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/retention%3Arun")).Ok().Body.GetProperty("archived").GetInt32());
    }
}
