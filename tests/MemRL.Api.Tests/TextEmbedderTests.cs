using System.Net;
using MemRL.Embeddings;

namespace MemRL.Api.Tests;

/// <summary>The silo's text embedders with MiniLM for real: each bank's text goes to the embedder the bank records.</summary>
public sealed class TextEmbedderTests
{
    private static readonly string Key = ApiSilo.KeyOf("alpha");

    [Fact]
    public async Task HashingBank_StillRecalls_AfterTheDefaultSwitchedToMiniLm()
    {
        string database = Path.Combine(Path.GetTempPath(), $"memrl-api-switch-{Guid.NewGuid():N}.db");
        try
        {
            await using (var before = await ApiSilo.StartAsync(new Dictionary<string, string?> { ["MemRL:Storage:SqlitePath"] = database }))
            {
                using var http = before.Client(Key);
                var created = (await http.PostJsonAsync("/v1/banks", new { name = "old-text" })).Ok(HttpStatusCode.Created);
                Assert.Equal("memrl-hashing/v1/384", created.Str("embedderId"));
                foreach (string task in new[] { "put a clean mug in the coffee machine", "water the plants on the balcony", "sort the invoices by date" })
                {
                    (await http.PostJsonAsync("/v1/banks/old-text/memories", new { intentText = task, experience = $"how to {task}", success = true }))
                        .Ok(HttpStatusCode.Created);
                }
            }

            await using var after = await ApiSilo.StartAsync(new Dictionary<string, string?>
            {
                ["MemRL:Storage:SqlitePath"] = database,
                ["MemRL:Api:Embedder:Kind"] = "MiniLm",
            });
            using var client = after.Client(Key);
            var recall = (await client.PostJsonAsync("/v1/banks/old-text/recall", new { queryText = "water the plants", delta = 0.0 })).Ok();
            Assert.Equal("how to water the plants on the balcony", recall.Body.GetProperty("memories")[0].GetProperty("experience").GetString());
            (await client.PostJsonAsync("/v1/banks/old-text/memories", new { intentText = "descale the kettle", experience = "vinegar, then rinse", success = true }))
                .Ok(HttpStatusCode.Created);

            // A new bank without an embedder is MiniLM's, with the gate measured for it.
            var fresh = (await client.PostJsonAsync("/v1/banks", new { name = "new-text" })).Ok(HttpStatusCode.Created);
            Assert.Equal(MiniLmEmbedder.Id, fresh.Str("embedderId"));
            Assert.Equal(384, fresh.Body.GetProperty("dimension").GetInt32());
            Assert.Equal(TextEmbedders.MiniLmDelta, fresh.Body.GetProperty("options").GetProperty("delta").GetDouble());
        }
        finally
        {
            foreach (string suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(database + suffix);
            }
        }
    }

    [Fact]
    public async Task MiniLmBank_RecallsAParaphraseThatSharesNoWords_UnderItsDefaultGate()
    {
        await using var silo = await ApiSilo.StartAsync(new Dictionary<string, string?> { ["MemRL:Api:Embedder:Kind"] = "MiniLm" });
        using var http = silo.Client(Key);
        (await http.PostJsonAsync("/v1/banks", new { name = "semantic" })).Ok(HttpStatusCode.Created);
        (await http.PostJsonAsync("/v1/banks", new { name = "hashed", embedderId = "memrl-hashing/v1/384" })).Ok(HttpStatusCode.Created);
        string[] tasks = ["restart the web server", "water the plants on the balcony", "file the quarterly tax return"];
        foreach (string bank in new[] { "semantic", "hashed" })
        {
            foreach (string task in tasks)
            {
                (await http.PostJsonAsync($"/v1/banks/{bank}/memories", new { intentText = task, experience = $"how to {task}", success = true }))
                    .Ok(HttpStatusCode.Created);
            }
        }

        const string paraphrase = "my site is down, can you reboot the http daemon?";
        var semantic = (await http.PostJsonAsync("/v1/banks/semantic/recall", new { queryText = paraphrase })).Ok();
        Assert.Equal("how to restart the web server", semantic.Body.GetProperty("memories")[0].GetProperty("experience").GetString());
        Assert.Equal(1, semantic.Body.GetProperty("memories").GetArrayLength());

        // The same bank contents embedded by the hashing embedder the bank names: the paraphrase misses the gate.
        var hashed = (await http.PostJsonAsync("/v1/banks/hashed/recall", new { queryText = paraphrase })).Ok();
        Assert.Equal(0, hashed.Body.GetProperty("memories").GetArrayLength());
    }

    [Fact]
    public async Task Text_IsRefused_ForABankOfAnEmbedderTheServerDoesNotHost_AndLongTextIsReportedTruncated()
    {
        await using var silo = await ApiSilo.StartAsync(new Dictionary<string, string?> { ["MemRL:Api:Embedder:Kind"] = "MiniLm" });
        using var http = silo.Client(Key);
        await http.CreateVectorBankAsync("vectors");
        var problem = (await http.PostJsonAsync("/v1/banks/vectors/recall", new { queryText = "anything" })).Problem(HttpStatusCode.BadRequest, "queryText");
        Assert.Equal("test-embedder", problem.GetProperty("actual").GetString());
        Assert.Contains(MiniLmEmbedder.Id, problem.GetProperty("expected").GetString(), StringComparison.Ordinal);

        // A hosted embedder's id fixes the dimension.
        (await http.PostJsonAsync("/v1/banks", new { name = "wrong-size", embedderId = MiniLmEmbedder.Id, dimension = 768 })).Problem(HttpStatusCode.BadRequest, "dimension");
        var small = (await http.PostJsonAsync("/v1/banks", new { name = "small-hash", embedderId = "memrl-hashing/v1/64" })).Ok(HttpStatusCode.Created);
        Assert.Equal(64, small.Body.GetProperty("dimension").GetInt32());
        (await http.PostJsonAsync("/v1/banks/small-hash/recall", new { queryText = "anything" })).Ok();

        (await http.PostJsonAsync("/v1/banks", new { name = "long" })).Ok(HttpStatusCode.Created);
        string longText = string.Join(' ', Enumerable.Range(0, 300).Select(i => $"step{i % 10}"));
        var written = (await http.PostJsonAsync("/v1/banks/long/memories", new { intentText = longText, experience = "e", success = true })).Ok(HttpStatusCode.Created);
        Assert.Equal("256", written.Response.Headers.GetValues(Endpoints.TruncatedHeader).Single());
        var shortWrite = (await http.PostJsonAsync("/v1/banks/long/memories", new { intentText = "short", experience = "e", success = true })).Ok(HttpStatusCode.Created);
        Assert.False(shortWrite.Response.Headers.Contains(Endpoints.TruncatedHeader));
    }

    [Theory]
    [InlineData("MiniLm", 256, 20, "MemRL:Api:Embedder:Dimension is 256")]
    [InlineData("Bert", 384, 20, "MemRL:Api:Embedder:Kind is 'Bert'")]
    [InlineData("MiniLm", 384, 0, "MemRL:Api:Embedder:MaxBatchSize is 0")]
    public void EmbedderSettings_ThatDisagree_AreRefusedNamingTheKey(string kind, int dimension, int batch, string failure)
    {
        var options = new ApiOptions { Embedder = new EmbedderOptions { Kind = kind, Dimension = dimension, MaxBatchSize = batch } };
        var result = new ApiOptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(failure, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void EmbedderSettings_ABadEndpoint_IsRefused_EvenWhenItIsNotTheDefault()
    {
        var options = new ApiOptions { Embedder = new EmbedderOptions { Endpoint = "not a url", Model = "m" } };
        Assert.Contains("MemRL:Api:Embedder:Endpoint is 'not a url'", new ApiOptionsValidator().Validate(null, options).FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void EmbedderSettings_HashingAtAnotherDimension_AreAccepted() =>
        Assert.True(new ApiOptionsValidator().Validate(null, new ApiOptions { Embedder = new EmbedderOptions { Kind = "Hashing", Dimension = 256 } }).Succeeded);
}
