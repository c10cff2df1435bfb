using System.Net;
using System.Text.Json;

namespace MemRL.Api.Tests.Hostile;

/// <summary>
/// Hostile cases that take more than one request: one recall rewarded again and again, Idempotency-Keys reused across
/// endpoints and shards, rewards that push Q out of the finite range, options changed member by member, and tokens and
/// cursors of a bank that was deleted and made again. Each builds its own bank.
/// </summary>
[Collection(HostileCollection.Name)]
public sealed class HostileSequenceTests(HostileFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Alpha;

    [Fact]
    public async Task Reward_SameRecallTwiceUnderFreshKeys_SameValue_ReturnsTheOriginalAndAppliesOnce()
    {
        var (bank, ids, token) = await BankWithRecallAsync(shards: 3);
        var first = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-a")).Ok();
        string before = await PrintAsync(bank, ids);
        var second = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-b")).Ok();
        Assert.Equal(first.Body.GetRawText(), second.Body.GetRawText());
        Assert.Equal(before, await PrintAsync(bank, ids));
        foreach (var m in first.Body.GetProperty("updated").EnumerateArray())
        {
            Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{m.Str("id")}")).Ok().Body.GetProperty("visits").GetInt32());
        }
    }

    [Fact]
    public async Task Reward_SameRecallTwiceUnderFreshKeys_OtherValue_Is409_AndChangesNothing()
    {
        var (bank, ids, token) = await BankWithRecallAsync(shards: 3);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-a")).Ok();
        string before = await PrintAsync(bank, ids);
        for (int i = 0; i < 3; i++)
        {
            var again = await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = -1.0 }, $"reward-fresh-{i}");
            Problem(again, HttpStatusCode.Conflict);
        }

        // Without a key too: the value differs, so it is the same conflict.
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 0.5 }), HttpStatusCode.Conflict);
        Assert.Equal(before, await PrintAsync(bank, ids));
    }

    [Fact]
    public async Task Reward_ASubsetThenTheRest_IsAllowed_AndEachMemoryIsRewardedOnce()
    {
        var (bank, ids, token, returned) = await BankWithRecallAsync(shards: 3, k: 4);
        var firstHalf = returned.Take(2).ToArray();
        var rest = returned.Skip(2).ToArray();
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0, memoryIds = firstHalf }, "subset-1")).Ok();
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0, memoryIds = rest }, "subset-2")).Ok();
        string before = await PrintAsync(bank, ids);
        // The whole recall once more under a fresh key: every memory has had its reward; nothing applies again.
        var all = await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "subset-3");
        Assert.True(all.Status is HttpStatusCode.OK or HttpStatusCode.Conflict, $"got {(int)all.Status}: {all.Body}");
        Assert.Equal(before, await PrintAsync(bank, ids));
        foreach (string id in returned)
        {
            Assert.Equal(1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{id}")).Ok().Body.GetProperty("visits").GetInt32());
        }
    }

    [Fact]
    public async Task Reward_ASubsetAgainWithAnotherValue_Is409_AndChangesNothing()
    {
        var (bank, ids, token, returned) = await BankWithRecallAsync(shards: 2, k: 4);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0, memoryIds = returned.Take(2).ToArray() }, "part-1")).Ok();
        string before = await PrintAsync(bank, ids);
        // One memory already rewarded (1.0), one not: the request as a whole must not apply a second, different reward.
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 0.0, memoryIds = returned.Skip(1).Take(2).ToArray() }, "part-2"),
            HttpStatusCode.Conflict);
        Assert.Equal(before, await PrintAsync(bank, ids));
    }

    [Fact]
    public async Task Reward_HugeOppositeRewards_NeverStoreANonFiniteQ_AndTheBankStaysReadable()
    {
        var (bank, ids, _) = await BankWithRecallAsync(shards: 2);
        // Unbounded, as banks stored before reward ranges are: the finite check is then the only guard left.
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { rewardMin = (double?)null, rewardMax = (double?)null })).Ok();
        foreach (double reward in new[] { -1.7e308, 1.7e308, -1.7e308, 1.7e308 })
        {
            string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 1, k2 = 1 })).Ok().Str("token");
            string before = await PrintAsync(bank, ids);
            var r = await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward });
            if (r.Status != HttpStatusCode.OK)
            {
                // Refusing is right when the update would leave the finite range: say so, and change nothing.
                var problem = Problem(r, HttpStatusCode.BadRequest);
                Assert.True(ProblemAssert.Str(problem, "field") == "reward" && ProblemAssert.Str(problem, "reason") == "not-finite",
                    $"a reward of {reward} refused must name field reward, reason not-finite: {problem}");
                Assert.Equal(before, await PrintAsync(bank, ids));
            }

            var page = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=1000")).Ok();
            foreach (var m in page.Body.GetProperty("memories").EnumerateArray())
            {
                Assert.True(m.GetProperty("q").ValueKind == JsonValueKind.Number && double.IsFinite(m.GetProperty("q").GetDouble()), $"non-finite Q: {m}");
            }

            (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok();
            (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0) })).Ok();
        }
    }

    [Fact]
    public async Task IdempotencyKey_OfAWrite_ReusedOnAReward_AndADelete_Is409_AndChangesNothing()
    {
        var (bank, ids, token) = await BankWithRecallAsync(shards: 4);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 9), experience = "keyed", success = true }, "shared-key"))
            .Ok(HttpStatusCode.Created);
        var all = await ListIdsAsync(bank);
        string before = await PrintAsync(bank, all);
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "shared-key"), HttpStatusCode.Conflict, "Idempotency-Key");
        foreach (string id in ids)
        {
            Problem(await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", idempotencyKey: "shared-key"), HttpStatusCode.Conflict, "Idempotency-Key");
        }

        Assert.Equal(before, await PrintAsync(bank, all));
    }

    [Fact]
    public async Task IdempotencyKey_OfADelete_ReusedOnADeleteOfAMemoryOnAnotherShard_Is409()
    {
        string bank = HostileFixture.NewName("idem-shards");
        var ids = await HostileFixture.FillAsync(_alpha, bank, 10, shards: 8);
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{ids[0]}", idempotencyKey: "delete-key")).Ok(HttpStatusCode.NoContent);
        var rest = ids.Skip(1).ToList();
        // Ten memories over eight shards: the others are on several shards, most of them not the first one's.
        Assert.True(rest.Select(id => id.Split('-')[1]).Distinct().Count() > 3, "the memories must spread over the shards");
        string before = await PrintAsync(bank, rest);
        foreach (string id in rest)
        {
            Problem(await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}", idempotencyKey: "delete-key"), HttpStatusCode.Conflict, "Idempotency-Key");
        }

        Assert.Equal(before, await PrintAsync(bank, rest));
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 3), experience = "e", success = true }, "delete-key"),
            HttpStatusCode.Conflict, "Idempotency-Key");
        Assert.Equal(before, await PrintAsync(bank, rest));
    }

    [Fact]
    public async Task IdempotencyKey_OfAReward_ReusedOnAWriteAndARewardOfAnotherRecall_Is409()
    {
        var (bank, ids, token) = await BankWithRecallAsync(shards: 4);
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }, "reward-key")).Ok();
        string before = await PrintAsync(bank, ids);
        string other = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 5), k1 = 8, k2 = 4 })).Ok().Str("token");
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token = other, reward = 1.0 }, "reward-key"), HttpStatusCode.Conflict, "Idempotency-Key");
        Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 3), experience = "e", success = true }, "reward-key"),
            HttpStatusCode.Conflict, "Idempotency-Key");
        Assert.Equal(before, await PrintAsync(bank, ids));
    }

    [Fact]
    public async Task IdempotencyKey_IsPerTenant_AnotherTenantsSameKeyIsItsOwnWrite()
    {
        string bank = HostileFixture.NewName("idem-tenant");
        await _alpha.CreateVectorBankAsync(bank);
        await fixture.Beta.CreateVectorBankAsync(bank);
        var a = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "alpha's", success = true }, "tenant-key"))
            .Ok(HttpStatusCode.Created);
        var b = (await fixture.Beta.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 1), experience = "beta's", success = true }, "tenant-key"))
            .Ok(HttpStatusCode.Created);
        Assert.NotEqual(a.Str("memoryId"), b.Str("memoryId"));
        Assert.Equal("beta's", (await fixture.Beta.GetJsonAsync($"/v1/banks/{bank}/memories/{b.Str("memoryId")}")).Ok().Str("experience"));
    }

    [Fact]
    public async Task Write_WithARecallTokenWhoseKeysWereDeleted_IsWritten()
    {
        var (bank, ids, token, returned) = await BankWithRecallAsync(shards: 3, k: 4);
        foreach (string id in returned.Take(3))
        {
            (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}")).Ok(HttpStatusCode.NoContent);
        }

        var w = await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 0, seed: 3), experience = "after deletes", success = true, recallToken = token });
        Assert.True(w.Status == HttpStatusCode.Created, $"expected 201, got {(int)w.Status}: {w.Body}");
        Assert.Equal("after deletes", (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{w.Str("memoryId")}")).Ok().Str("experience"));
        Assert.Equal(ids.Count - 3 + 1, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task Write_WithARecallTokenWhoseMergeCandidatesWereDeleted_IsWritten()
    {
        // Two near-duplicate keys, kept apart while merging is off; the recall's token names exactly those two; both are
        // deleted and merging is switched on: the write's every candidate is gone, one after the other.
        string bank = HostileFixture.NewName("merge-deleted");
        (await _alpha.PostJsonAsync("/v1/banks", new { name = bank, dimension = Dimension, embedderId = "test-embedder", shardCount = 3, index = new { exact = true }, options = new { delta = -1.0, mergeThreshold = 2.0 } }))
            .Ok(HttpStatusCode.Created);
        var ids = new List<string>();
        for (int seed = 1; seed <= 2; seed++)
        {
            ids.Add((await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 0, seed: seed), experience = $"e{seed}", success = true }))
                .Ok(HttpStatusCode.Created).Str("memoryId"));
        }

        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 7), experience = "far", success = true })).Ok(HttpStatusCode.Created);
        string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 2, k2 = 2 })).Ok().Str("token");
        foreach (string id in ids)
        {
            (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}/memories/{id}")).Ok(HttpStatusCode.NoContent);
        }

        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { delta = -1.0, mergeThreshold = 0.9 })).Ok();
        var w = await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories", new { intent = Http.Vector(Dimension, 0, seed: 3), experience = "again", success = true, recallToken = token });
        Assert.True(w.Status == HttpStatusCode.Created, $"expected 201, got {(int)w.Status}: {w.Body}");
        Assert.Equal("again", (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{w.Str("memoryId")}")).Ok().Str("experience"));
        Assert.Equal(2, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/stats")).Ok().Body.GetProperty("memories").GetInt32());
    }

    [Fact]
    public async Task PatchOptions_MergesOnlyTheMembersGiven()
    {
        string bank = HostileFixture.NewName("patch");
        (await _alpha.PostJsonAsync("/v1/banks", new
        {
            name = bank, dimension = Dimension, embedderId = "test-embedder", index = new { exact = true },
            options = new { lambda = 0.2, k1 = 7, k2 = 2, mergeThreshold = 2.0, delta = -1.0 },
        })).Ok(HttpStatusCode.Created);
        var before = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Ok().Body;
        var patched = (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", """{"alpha":0.4}""")).Ok().Body;
        Assert.Equal(0.4, patched.GetProperty("options").GetProperty("alpha").GetDouble());
        foreach (var member in before.GetProperty("options").EnumerateObject().Where(m => m.Name != "alpha"))
        {
            Assert.Equal(member.Value.GetRawText(), patched.GetProperty("options").GetProperty(member.Name).GetRawText());
        }

        Assert.Equal(before.GetProperty("version").GetInt64() + 1, patched.GetProperty("version").GetInt64());
        var again = (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", """{"k1":9}""")).Ok().Body.GetProperty("options");
        Assert.Equal(0.4, again.GetProperty("alpha").GetDouble());
        Assert.Equal(9, again.GetProperty("k1").GetInt32());
        Assert.Equal(0.2, again.GetProperty("lambda").GetDouble());
    }

    [Fact]
    public async Task PutOptions_WithOneMember_DoesNotSilentlyResetTheOthers()
    {
        string bank = HostileFixture.NewName("put");
        (await _alpha.PostJsonAsync("/v1/banks", new
        {
            name = bank, dimension = Dimension, embedderId = "test-embedder", options = new { lambda = 0.2, k1 = 7, k2 = 2, mergeThreshold = 2.0, delta = -1.0 },
        })).Ok(HttpStatusCode.Created);
        string before = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Ok().Body.GetRawText();
        var put = await _alpha.SendJsonAsync(HttpMethod.Put, $"/v1/banks/{bank}/options", """{"alpha":0.4}""");
        var now = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Ok().Body;
        if (put.Status == HttpStatusCode.OK)
        {
            var options = now.GetProperty("options");
            Assert.True(options.GetProperty("lambda").GetDouble() == 0.2 && options.GetProperty("k1").GetInt32() == 7 && options.GetProperty("delta").GetDouble() == -1.0,
                $"PUT of alpha alone reset the other options: {options}");
        }
        else
        {
            // Refusing a partial replacement is honest too, if it says why and changes nothing.
            Problem(put, put.Status);
            Assert.Equal(before, now.GetRawText());
        }
    }

    [Fact]
    public async Task TokensAndCursors_OfADeletedBank_DoNotReachTheBankMadeAgainUnderItsName()
    {
        var (bank, _, token) = await BankWithRecallAsync(shards: 2);
        string cursor = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=1")).Ok().Body.GetProperty("nextCursor").GetString()!;
        (await _alpha.SendJsonAsync(HttpMethod.Delete, $"/v1/banks/{bank}")).Ok(HttpStatusCode.NoContent);
        var ids = await HostileFixture.FillAsync(_alpha, bank, 4, shards: 2);
        string before = await PrintAsync(bank, ids);
        var reward = Problem(await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 1.0 }), HttpStatusCode.BadRequest, "token");
        Assert.True(ProblemAssert.Str(reward, "reason") == "token-invalid", $"an old bank's token must be token-invalid: {reward}");
        var list = Problem(await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?cursor={cursor}"), HttpStatusCode.BadRequest, "cursor");
        Assert.True(ProblemAssert.Str(list, "reason") == "cursor-invalid", $"an old bank's cursor must be cursor-invalid: {list}");
        Assert.Equal(before, await PrintAsync(bank, ids));
    }

    [Fact]
    public async Task Recall_OfAnOverflowingVector_AfterAGoodOne_IsAnsweredForItsOwnDirection_NotWithTheLastQuery()
    {
        // 1e37 times a vector: its float norm overflows. It is rescaled before normalising, so it recalls what the same
        // direction at ordinary scale recalls — never the previous query's memories (what the index once answered).
        var (bank, _, _) = await BankWithRecallAsync(shards: 2);
        float[] direction = Http.Vector(Dimension, 5);
        var expected = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = direction })).Ok().Body.GetProperty("memories");
        (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 2) })).Ok();

        var huge = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = direction.Select(x => x * 1e37f).ToArray() })).Ok().Body.GetProperty("memories");

        Assert.Equal(expected.EnumerateArray().Select(m => m.GetProperty("id").GetString()), huge.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(expected.EnumerateArray().Select(m => m.GetProperty("similarity").GetDouble()), huge.EnumerateArray().Select(m => m.GetProperty("similarity").GetDouble()));
    }

    private static JsonElement Problem(Reply reply, HttpStatusCode status, string? field = null)
    {
        var wire = new WireReply((int)reply.Status, "", reply.Response.Headers.Concat(reply.Response.Content.Headers).SelectMany(h => h.Value.Select(v => (h.Key, v))).ToList(),
            reply.Body.ValueKind == JsonValueKind.Undefined ? "" : reply.Body.GetRawText());
        Assert.True(wire.Status == (int)status, $"expected {(int)status}, got {wire.Status}: {wire.Body}");
        var problem = ProblemAssert.IsProblem(wire, $"{(int)status}");
        if (field is not null)
        {
            Assert.True(ProblemAssert.Str(problem, "field") == field, $"expected field {field}: {wire.Body}");
        }

        return problem;
    }

    private async Task<(string Bank, List<string> Ids, string Token)> BankWithRecallAsync(int shards)
    {
        var (bank, ids, token, _) = await BankWithRecallAsync(shards, 4);
        return (bank, ids, token);
    }

    private async Task<(string Bank, List<string> Ids, string Token, List<string> Returned)> BankWithRecallAsync(int shards, int k)
    {
        string bank = HostileFixture.NewName("sequence");
        var ids = await HostileFixture.FillAsync(_alpha, bank, 8, shards);
        var recall = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Dimension, 0), k1 = 8, k2 = k })).Ok();
        var returned = recall.Body.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
        Assert.True(returned.Count == k, $"the recall must return {k} memories: {recall.Body}");
        return (bank, ids, recall.Str("token"), returned);
    }

    private async Task<List<string>> ListIdsAsync(string bank) =>
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit=1000")).Ok().Body.GetProperty("memories").EnumerateArray().Select(m => m.Str("id")).ToList();

    private Task<string> PrintAsync(string bank, IEnumerable<string> ids) =>
        StateFingerprint.TakeAsync(fixture.Silo.Memory, [new Watched("alpha", _alpha, bank, ids.First())]);
}

internal static class JsonElementExtensions
{
    public static string Str(this JsonElement json, string property) => json.GetProperty(property).GetString()!;
}
