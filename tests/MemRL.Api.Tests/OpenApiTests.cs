using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;

namespace MemRL.Api.Tests;

/// <summary>The served OpenAPI document parses without errors and lists every endpoint the API maps.</summary>
[Collection(ApiCollection.Name)]
public sealed class OpenApiTests(ApiSiloFixture fixture)
{
    public static TheoryData<string, string> Routes() => new()
    {
        { "POST", "/v1/banks" },
        { "GET", "/v1/banks" },
        { "GET", "/v1/banks/{bank}" },
        { "DELETE", "/v1/banks/{bank}" },
        { "PUT", "/v1/banks/{bank}/options" },
        { "PATCH", "/v1/banks/{bank}/options" },
        { "GET", "/v1/banks/{bank}/stats" },
        { "POST", "/v1/banks/{bank}/calibrate" },
        { "POST", "/v1/banks/{bank}/recall" },
        { "POST", "/v1/banks/{bank}/reward" },
        { "POST", "/v1/banks/{bank}/memories" },
        { "POST", "/v1/banks/{bank}/memories:batch" },
        { "GET", "/v1/banks/{bank}/memories" },
        { "GET", "/v1/banks/{bank}/memories/{memoryId}" },
        { "PATCH", "/v1/banks/{bank}/memories/{memoryId}" },
        { "POST", "/v1/banks/{bank}/memories/{memoryId}/archive" },
        { "POST", "/v1/banks/{bank}/memories/{memoryId}/restore" },
        { "POST", "/v1/banks/{bank}/retention:run" },
        { "GET", "/v1/banks/{bank}/memories/{memoryId}/history" },
        { "DELETE", "/v1/banks/{bank}/memories/{memoryId}" },
        { "DELETE", "/v1/banks/{bank}/memories" },
        { "POST", "/v1/banks/{bank}/explain" },
        { "GET", "/v1/banks/{bank}/insight" },
        { "GET", "/v1/banks/{bank}/export" },
        { "POST", "/v1/banks/{bank}/import" },
    };

    [Fact]
    public async Task Document_Validates_AndListsEveryEndpoint()
    {
        using var http = fixture.Silo.Client(null);
        await using var stream = await http.GetStreamAsync("/openapi/v1.json");
        var (document, diagnostic) = await OpenApiDocument.LoadAsync(stream, "json");
        Assert.NotNull(document);
        Assert.Empty(diagnostic?.Errors ?? []);
        Assert.Empty(document.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);
        foreach (var (method, path) in Routes().Select(r => ((string)r[0], (string)r[1])))
        {
            Assert.True(document.Paths.TryGetValue(path, out var item), $"{path} is not in the document");
            Assert.True(item.Operations!.ContainsKey(HttpMethod.Parse(method)), $"{method} {path} is not in the document");
        }

        Assert.Equal(Routes().Count, document.Paths.Sum(p => p.Value.Operations?.Count ?? 0));
        // limit is read as text by the handler, but the document says what the caller sends.
        var limit = document.Paths["/v1/banks/{bank}/memories"].Operations![HttpMethod.Get].Parameters!.Single(p => p.Name == "limit");
        Assert.Equal(JsonSchemaType.Integer, limit.Schema!.Type);
        Assert.Equal("1000", limit.Schema.Maximum);
        var historyLimit = document.Paths["/v1/banks/{bank}/memories/{memoryId}/history"].Operations![HttpMethod.Get].Parameters!.Single(p => p.Name == "limit");
        Assert.Equal("256", historyLimit.Schema!.Maximum);
    }
}
