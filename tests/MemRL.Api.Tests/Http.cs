using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace MemRL.Api.Tests;

/// <summary>One HTTP exchange: status, parsed JSON body (Undefined when empty) and headers.</summary>
public sealed record Reply(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)
{
    public string? ContentType => Response.Content.Headers.ContentType?.MediaType;

    public string Str(string property) => Body.GetProperty(property).GetString()!;

    /// <summary>Asserts a problem-details answer with this status (and field, when given); returns the body.</summary>
    public JsonElement Problem(HttpStatusCode status, string? field = null)
    {
        Assert.True(Status == status, $"expected {(int)status}, got {(int)Status}: {Body}");
        Assert.True(ContentType == "application/problem+json", $"expected problem+json, got {ContentType}: {Body}");
        Assert.True(Body.TryGetProperty("status", out var s) && s.GetInt32() == (int)status, $"problem must carry the status: {Body}");
        Assert.False(string.IsNullOrEmpty(Body.GetProperty("detail").GetString()), "problem details must say what went wrong");
        if (field is not null)
        {
            Assert.True(Body.TryGetProperty("field", out var f), $"problem must name the field: {Body}");
            Assert.True(field == f.GetString(), $"expected field {field}: {Body}");
        }

        return Body;
    }

    public Reply Ok(HttpStatusCode status = HttpStatusCode.OK)
    {
        Assert.True(Status == status, $"expected {(int)status}, got {(int)Status}: {Body}");
        return this;
    }
}

public static class Http
{
    /// <summary>Vector length of the tests' banks.</summary>
    public const int Dimension = 16;

    /// <summary>
    /// Creates a test bank: <see cref="Dimension"/>-long vectors of "test-embedder", exact search, every memory its own
    /// key (no merging) and no similarity gate, so what a test writes is what recall finds.
    /// </summary>
    public static async Task CreateVectorBankAsync(this HttpClient http, string name, int shards = 2) =>
        (await http.PostJsonAsync("/v1/banks", new
        {
            name, dimension = Dimension, embedderId = "test-embedder", shardCount = shards, index = new { exact = true },
            options = new { mergeThreshold = 2.0, delta = -1.0 },
        })).Ok(HttpStatusCode.Created);

    public static Task<Reply> GetJsonAsync(this HttpClient http, string path) => http.SendJsonAsync(HttpMethod.Get, path);

    public static Task<Reply> PostJsonAsync(this HttpClient http, string path, object body, string? idempotencyKey = null) =>
        http.SendJsonAsync(HttpMethod.Post, path, body, idempotencyKey);

    public static async Task<Reply> SendJsonAsync(
        this HttpClient http, HttpMethod method, string path, object? body = null, string? idempotencyKey = null, bool expectContinue = false)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.ExpectContinue = expectContinue;
        if (body is string raw)
        {
            request.Content = new StringContent(raw, Encoding.UTF8, "application/json");
        }
        else if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: JsonSerializerOptions.Web);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return new Reply(response.StatusCode, json, response);
    }

    /// <summary>A unit vector of <paramref name="dimension"/> pointing mostly along axis <paramref name="axis"/>.</summary>
    public static float[] Vector(int dimension, int axis, float noise = 0.05f, int seed = 0)
    {
        var random = new Random(seed * 7919 + axis);
        var v = new float[dimension];
        for (int i = 0; i < dimension; i++)
        {
            v[i] = (float)(random.NextDouble() * noise);
        }

        v[axis % dimension] += 1;
        return v;
    }
}
