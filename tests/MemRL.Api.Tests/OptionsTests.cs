using System.Net;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// Options updates: PATCH merges the members given into the current options, PUT replaces them and so needs every
/// member; either applies nothing when the result is refused.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OptionsTests(ApiSiloFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Fact]
    public async Task Patch_ChangesOnlyTheMembersGiven()
    {
        string bank = await NewBankAsync();
        var before = await OptionsAsync(bank);
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { lambda = 0.25 })).Ok();
        var patched = (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { alpha = 0.7 })).Ok();
        var options = patched.Body.GetProperty("options");
        Assert.Equal(0.7, options.GetProperty("alpha").GetDouble());
        Assert.Equal(0.25, options.GetProperty("lambda").GetDouble());
        foreach (var member in before.EnumerateObject().Where(m => m.Name is not ("alpha" or "lambda")))
        {
            Assert.Equal(member.Value.GetRawText(), options.GetProperty(member.Name).GetRawText());
        }

        Assert.Equal(options.GetRawText(), (await OptionsAsync(bank)).GetRawText());
    }

    [Fact]
    public async Task Patch_NullClearsANullableOption()
    {
        string bank = await NewBankAsync();
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { qFloor = -0.5 })).Ok();
        Assert.Equal(-0.5, (await OptionsAsync(bank)).GetProperty("qFloor").GetDouble());
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", """{"qFloor":null}""")).Ok();
        Assert.Equal(JsonValueKind.Null, (await OptionsAsync(bank)).GetProperty("qFloor").ValueKind);
    }

    [Fact]
    public async Task Patch_MergesTheRetentionPolicyFieldByField_AndNullClearsAFieldOrThePolicy()
    {
        string bank = await NewBankAsync();
        Assert.Equal(JsonValueKind.Null, (await OptionsAsync(bank)).GetProperty("retention").ValueKind);
        string path = $"/v1/banks/{bank}/options";
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, """{"retention":{"maxActive":500}}""")).Ok();
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, """{"retention":{"lowQThreshold":-0.5,"idleWindowSeconds":86400}}""")).Ok();
        var retention = (await OptionsAsync(bank)).GetProperty("retention");
        // Fields not sent keep their values (RFC 7396), the rest their defaults.
        Assert.Equal((500, -0.5, 86400.0, 3, 2_592_000.0, 1000), (retention.GetProperty("maxActive").GetInt32(), retention.GetProperty("lowQThreshold").GetDouble(),
            retention.GetProperty("idleWindowSeconds").GetDouble(), retention.GetProperty("lowQMinVisits").GetInt32(),
            retention.GetProperty("retentionPeriodSeconds").GetDouble(), retention.GetProperty("maxPerRun").GetInt32()));
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, """{"retention":{"maxActive":null}}""")).Ok();
        Assert.Equal(JsonValueKind.Null, (await OptionsAsync(bank)).GetProperty("retention").GetProperty("maxActive").ValueKind);
        Assert.Equal(-0.5, (await OptionsAsync(bank)).GetProperty("retention").GetProperty("lowQThreshold").GetDouble());
        // A bad field changes nothing; null removes the policy.
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, """{"retention":{"maxPerRun":0}}""")).Problem(HttpStatusCode.BadRequest, "retention.maxPerRun");
        Assert.Equal(1000, (await OptionsAsync(bank)).GetProperty("retention").GetProperty("maxPerRun").GetInt32());
        (await _alpha.SendJsonAsync(HttpMethod.Patch, path, """{"retention":null}""")).Ok();
        Assert.Equal(JsonValueKind.Null, (await OptionsAsync(bank)).GetProperty("retention").ValueKind);
    }

    public static TheoryData<string, string, string?> RefusedPatches() => new()
    {
        // body, field, reason
        { """{"alpha":1.5}""", "alpha", null },
        { """{"lambda":0.2,"k1":2,"k2":3}""", "k2", null },
        { """{"lamda":0.2}""", "lamda", "unknown-member" },
        { """{"alpha":"high"}""", "alpha", null },
        { """{"alpha":null}""", "alpha", null },
        { """[1]""", "body", null },
    };

    [Theory]
    [MemberData(nameof(RefusedPatches))]
    public async Task Patch_Refused_AppliesNothing(string body, string field, string? reason)
    {
        string bank = await NewBankAsync();
        string before = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText();
        var problem = (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", body)).Problem(HttpStatusCode.BadRequest, field);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("actual").GetString()));
        if (reason is not null)
        {
            Assert.Equal(reason, problem.GetProperty("reason").GetString());
        }

        Assert.Equal(before, (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText());
    }

    [Fact]
    public async Task Patch_OfAnotherMediaType_Is415()
    {
        string bank = await NewBankAsync();
        using var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/banks/{bank}/options") { Content = new StringContent("alpha=1", Encoding.UTF8, "text/plain") };
        var response = await _alpha.SendAsync(request);
        var reply = new Reply(response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone(), response);
        reply.Problem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
    }

    [Fact]
    public async Task Put_WithAMemberMissing_NamesTheFirstOne_AndAppliesNothing()
    {
        string bank = await NewBankAsync();
        string before = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText();
        var problem = (await _alpha.SendJsonAsync(HttpMethod.Put, $"/v1/banks/{bank}/options", new { alpha = 0.4 })).Problem(HttpStatusCode.BadRequest, "lambda");
        Assert.Equal("missing", problem.GetProperty("reason").GetString());
        Assert.Equal(before, (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText());
    }

    [Fact]
    public async Task Put_WithEveryMember_Replaces()
    {
        string bank = await NewBankAsync();
        var options = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>((await OptionsAsync(bank)).GetRawText())!;
        options["k1"] = JsonSerializer.SerializeToElement(7);
        var replaced = (await _alpha.SendJsonAsync(HttpMethod.Put, $"/v1/banks/{bank}/options", options)).Ok();
        Assert.Equal(7, replaced.Body.GetProperty("options").GetProperty("k1").GetInt32());
    }

    [Fact]
    public async Task Create_WithARewardRange_StartsQInitAtItsMidpoint_AndRefusesARewardOutsideIt_NamingTheRange()
    {
        string bank = ApiSiloFixture.NewBankName("range");
        var created = (await _alpha.PostJsonAsync("/v1/banks", new
        {
            name = bank, dimension = Http.Dimension, embedderId = "test-embedder", index = new { exact = true },
            options = new { mergeThreshold = 2.0, delta = -1.0, rewardMin = 0.0, rewardMax = 1.0, qInitFailure = 0.0 },
        })).Ok(HttpStatusCode.Created);
        var options = created.Body.GetProperty("options");
        Assert.Equal((0.0, 1.0, 0.5, 0.0), (options.GetProperty("rewardMin").GetDouble(), options.GetProperty("rewardMax").GetDouble(),
            options.GetProperty("qInitSuccess").GetDouble(), options.GetProperty("qInitFailure").GetDouble()));

        var written = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/memories",
            new { intent = Http.Vector(Http.Dimension, 0), intentText = "t", experience = "e", success = true })).Ok(HttpStatusCode.Created);
        string token = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/recall", new { query = Http.Vector(Http.Dimension, 0) })).Ok().Str("token");
        var problem = (await _alpha.PostJsonAsync($"/v1/banks/{bank}/reward", new { token, reward = 2.0 })).Problem(HttpStatusCode.BadRequest, "reward");
        Assert.Equal("a number in the bank's reward range [0, 1]", problem.GetProperty("expected").GetString());
        Assert.Equal(0.5, (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories/{written.Str("memoryId")}")).Ok().Body.GetProperty("q").GetDouble());
    }

    [Fact]
    public async Task Patch_ARangeThatLeavesQInitOutside_NamesQInit_AndAppliesNothing()
    {
        string bank = await NewBankAsync();
        string before = (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText();

        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { rewardMin = 0.5 })).Problem(HttpStatusCode.BadRequest, "qInitSuccess");
        (await _alpha.SendJsonAsync(HttpMethod.Patch, $"/v1/banks/{bank}/options", new { rewardMax = -2.0 })).Problem(HttpStatusCode.BadRequest, "rewardMax");

        Assert.Equal(before, (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetRawText());
    }

    private async Task<string> NewBankAsync()
    {
        string bank = ApiSiloFixture.NewBankName("options");
        await _alpha.CreateVectorBankAsync(bank);
        return bank;
    }

    private async Task<JsonElement> OptionsAsync(string bank) => (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Body.GetProperty("options");
}
