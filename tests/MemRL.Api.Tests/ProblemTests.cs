using System.Net;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>
/// Every non-2xx answer the application makes is problem details that name what was wrong in the caller's terms: the
/// JSON path, the header, the query parameter, never a .NET type.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ProblemTests(ApiSiloFixture fixture)
{
    private readonly HttpClient _alpha = fixture.Silo.Client(ApiSilo.KeyOf("alpha"));

    [Theory]
    [InlineData("GET", "/v1/nothing-here", 404, "path", "/v1/nothing-here")]
    [InlineData("GET", "/", 404, "path", "/")]
    [InlineData("PUT", "/v1/banks/b/stats", 405, "method", "PUT")]
    public async Task FrameworkAnswers_AreProblemDetails_EvenForABrowser(string method, string path, int status, string field, string actual)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
        var reply = await SendAsync(_alpha, request);
        var problem = reply.Problem((HttpStatusCode)status, field);
        Assert.Equal(actual, problem.GetProperty("actual").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()));
    }

    [Fact]
    public async Task NoKey_Is401_WithABearerChallenge()
    {
        using var anonymous = fixture.Silo.Client(null);
        var reply = await anonymous.GetJsonAsync("/v1/banks/any");
        var problem = reply.Problem(HttpStatusCode.Unauthorized, "Authorization");
        Assert.StartsWith("Bearer", reply.Response.Headers.WwwAuthenticate.Single().Scheme, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("expected").GetString()));
    }

    [Fact]
    public async Task UnknownKey_Is401_InvalidToken_AndTheKeyIsNotRepeated()
    {
        const string key = "memrl_not-a-key-of-this-server-0000000000000000";
        using var stranger = fixture.Silo.Client(key);
        var reply = await stranger.GetJsonAsync("/v1/banks/any");
        var problem = reply.Problem(HttpStatusCode.Unauthorized, "Authorization");
        var challenge = reply.Response.Headers.WwwAuthenticate.Single();
        Assert.Equal("Bearer", challenge.Scheme);
        Assert.Contains("error=\"invalid_token\"", challenge.Parameter, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("actual").GetString()));
        Assert.DoesNotContain(key, problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotJson_Is415_NamingContentType()
    {
        string bank = ApiSiloFixture.NewBankName("media");
        await _alpha.CreateVectorBankAsync(bank);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/banks/{bank}/recall") { Content = new StringContent("query=up", Encoding.UTF8, "text/plain") };
        var problem = (await SendAsync(_alpha, request)).Problem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Equal("application/json", problem.GetProperty("expected").GetString());
        Assert.Equal("text/plain; charset=utf-8", problem.GetProperty("actual").GetString());
    }

    public static TheoryData<string, string, string, string, string> JsonErrors() => new()
    {
        // endpoint under the bank, body, field, actual (a string as its value, without JSON quotes; a bare word as written), a word the expected value must have
        { "recall", """{"query":"up"}""", "query", "up", "array of finite numbers" },
        { "recall", """{"query":[1,"x"]}""", "query[1]", "x", "finite number" },
        { "recall", """{"queryText":"q","k1":"five"}""", "k1", "five", "integer" },
        { "recall", """{"queryText":"q","requireFullCoverage":1}""", "requireFullCoverage", "1", "true or false" },
        { "reward", """{"token":"t","reward":"high"}""", "reward", "high", "finite number" },
        { "reward", """{"token":"t","reward":1,"memoryIds":["a",2]}""", "memoryIds[1]", "2", "string" },
        { "memories", """{"experience":"e","success":"yes","intentText":"t"}""", "success", "yes", "true or false" },
        { "recall", """{"query":[1,""", "query[1]", "end of input", "finite number" },
        { "recall", """{"queryText": nope}""", "queryText", "nope", "string" },
        { "recall", """[1,2]""", "body", "[1,2]", "object" },
    };

    [Theory]
    [MemberData(nameof(JsonErrors))]
    public async Task JsonErrors_NameThePathAndTheValue_NeverADotNetType(string endpoint, string body, string field, string actual, string expected)
    {
        string bank = ApiSiloFixture.NewBankName("json");
        await _alpha.CreateVectorBankAsync(bank);
        var problem = (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/{endpoint}", body)).Problem(HttpStatusCode.BadRequest, field);
        Assert.Equal(actual, problem.GetProperty("actual").GetString());
        Assert.Contains(expected, problem.GetProperty("expected").GetString(), StringComparison.Ordinal);
        AssertNoDotNetNames(problem);
    }

    [Fact]
    public async Task NestedJsonError_OnCreate_NamesTheNestedPath_AndCreatesNothing()
    {
        string bank = ApiSiloFixture.NewBankName("nested");
        var problem = (await _alpha.PostJsonAsync("/v1/banks", $$$"""{"name":"{{{bank}}}","options":{"alpha":"high"}}""")).Problem(HttpStatusCode.BadRequest, "options.alpha");
        Assert.Equal("high", problem.GetProperty("actual").GetString());
        AssertNoDotNetNames(problem);
        (await _alpha.GetJsonAsync($"/v1/banks/{bank}")).Problem(HttpStatusCode.NotFound, "bank");
    }

    [Fact]
    public async Task BodyOverTheLimit_NamesTheLimitAndTheSize()
    {
        string bank = ApiSiloFixture.NewBankName("large");
        await _alpha.CreateVectorBankAsync(bank);
        string huge = $$"""{"intentText":"t","experience":"{{new string('x', 5 << 20)}}","success":true}""";
        var problem = (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/memories", huge, expectContinue: true)).Problem(HttpStatusCode.RequestEntityTooLarge, "body");
        Assert.Equal($"at most {4 << 20} bytes", problem.GetProperty("expected").GetString());
        Assert.Equal($"{System.Text.Encoding.UTF8.GetByteCount(huge)} bytes", problem.GetProperty("actual").GetString());
    }

    [Fact]
    public async Task MissingBody_IsNamed()
    {
        string bank = ApiSiloFixture.NewBankName("nobody");
        await _alpha.CreateVectorBankAsync(bank);
        var problem = (await _alpha.SendJsonAsync(HttpMethod.Post, $"/v1/banks/{bank}/recall")).Problem(HttpStatusCode.BadRequest, "body");
        Assert.Equal("missing", problem.GetProperty("reason").GetString());
        AssertNoDotNetNames(problem);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("1001")]
    [InlineData("-1")]
    [InlineData("1.5")]
    public async Task BadLimit_NamesTheQueryParameter(string limit)
    {
        string bank = ApiSiloFixture.NewBankName("limit");
        await _alpha.CreateVectorBankAsync(bank);
        var problem = (await _alpha.GetJsonAsync($"/v1/banks/{bank}/memories?limit={limit}")).Problem(HttpStatusCode.BadRequest, "limit");
        Assert.Equal("an integer in [1, 1000]", problem.GetProperty("expected").GetString());
        Assert.Equal(limit, problem.GetProperty("actual").GetString());
        AssertNoDotNetNames(problem);
    }

    [Fact]
    public async Task BadBankName_IsNamedAsTheCallerSpellsIt()
    {
        var create = (await _alpha.PostJsonAsync("/v1/banks", new { name = "no spaces allowed" })).Problem(HttpStatusCode.BadRequest, "name");
        Assert.Equal("no spaces allowed", create.GetProperty("actual").GetString());
        foreach (string unaddressable in new[] { ".", ".." })
        {
            (await _alpha.PostJsonAsync("/v1/banks", new { name = unaddressable, dimension = Dimension, embedderId = "test-embedder" })).Problem(HttpStatusCode.BadRequest, "name");
        }

        var get = (await _alpha.GetJsonAsync("/v1/banks/no%20spaces")).Problem(HttpStatusCode.BadRequest, "bank");
        Assert.Equal("no spaces", get.GetProperty("actual").GetString());
    }

    public static TheoryData<string, string, string, string> UnknownMembers() => new()
    {
        // method, endpoint ("" = create), body, field
        { "POST", "recall", """{"queryText":"q","lamda":0.3}""", "lamda" },
        { "POST", "reward", """{"token":"t","reward":1,"memoryId":"x"}""", "memoryId" },
        { "POST", "memories", """{"experience":"e","success":true,"intentText":"t","sucess":false}""", "sucess" },
        { "POST", "calibrate", """{"sampel":10}""", "sampel" },
        { "POST", "", """{"name":"unknown-member-bank","options":{"lamda":0.9}}""", "options.lamda" },
        { "POST", "", """{"name":"unknown-member-bank","index":{"efSerch":10}}""", "index.efSerch" },
        { "POST", "", """{"name":"unknown-member-bank","shards":4}""", "shards" },
    };

    [Theory]
    [MemberData(nameof(UnknownMembers))]
    public async Task UnknownMember_IsRefusedNamingIt_AndChangesNothing(string method, string endpoint, string body, string field)
    {
        string bank = ApiSiloFixture.NewBankName("unknown");
        await _alpha.CreateVectorBankAsync(bank);
        string before = await BadInputTests.SnapshotAsync(_alpha, bank, []);
        string path = endpoint.Length == 0 ? "/v1/banks" : $"/v1/banks/{bank}/{endpoint}";
        var problem = (await _alpha.SendJsonAsync(new HttpMethod(method), path, body)).Problem(HttpStatusCode.BadRequest, field);
        Assert.Equal("unknown-member", problem.GetProperty("reason").GetString());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("actual").GetString()));
        Assert.StartsWith("one of the members", problem.GetProperty("expected").GetString(), StringComparison.Ordinal);
        AssertNoDotNetNames(problem);
        Assert.Equal(before, await BadInputTests.SnapshotAsync(_alpha, bank, []));
        (await _alpha.GetJsonAsync("/v1/banks/unknown-member-bank")).Problem(HttpStatusCode.NotFound, "bank");
    }

    private static void AssertNoDotNetNames(JsonElement problem)
    {
        string text = problem.ToString();
        foreach (string name in new[] { "System.", "MemRL.", "Nullable", "Int32", "Double", "Boolean", "`1" })
        {
            Assert.False(text.Contains(name, StringComparison.Ordinal), $"the problem names a .NET type ({name}): {text}");
        }
    }

    private static async Task<Reply> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return new Reply(response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }
}
