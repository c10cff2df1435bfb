using System.Collections.Concurrent;
using MemRL.Embeddings;
using Microsoft.Extensions.AI;

namespace MemRL.Embeddings.Tests;

public sealed class CoalescingEmbeddingGeneratorTests(MiniLmFixture fixture) : IClassFixture<MiniLmFixture>
{
    // Guards against a hang, never a timing: the shared CI machine can be slowed many times over.
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(5);

    [Fact]
    public async Task Singles_ArrivingDuringARun_AreEmbeddedAsOneBatch_EachGettingItsOwnVector()
    {
        var inner = new GatedGenerator();
        using var coalescing = new CoalescingEmbeddingGenerator(inner, maxBatchSize: 20, maxConcurrentRuns: 1);

        var first = coalescing.GenerateAsync(["a"]);
        await inner.Started.Task.WaitAsync(Deadline);
        var rest = Enumerable.Range(1, 5).Select(i => coalescing.GenerateAsync([$"b{i}"])).ToArray();
        inner.Release();

        Assert.Equal(GatedGenerator.VectorOf("a"), (await first.WaitAsync(Deadline))[0].Vector.ToArray());
        for (int i = 0; i < rest.Length; i++)
        {
            Assert.Equal(GatedGenerator.VectorOf($"b{i + 1}"), (await rest[i].WaitAsync(Deadline))[0].Vector.ToArray());
        }

        Assert.Equal([["a"], ["b1", "b2", "b3", "b4", "b5"]], inner.Calls);
    }

    [Fact]
    public async Task Runs_NeverExceedTheLimit_NorBatchesTheirSize()
    {
        var inner = new GatedGenerator { Open = true, Delay = TimeSpan.FromMilliseconds(2) };
        using var coalescing = new CoalescingEmbeddingGenerator(inner, maxBatchSize: 3, maxConcurrentRuns: 2);

        var texts = Enumerable.Range(0, 40).Select(i => $"t{i}").ToArray();
        var results = await Task.WhenAll(texts.Select(t => Task.Run(() => coalescing.GenerateAsync([t])))).WaitAsync(Deadline);

        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(GatedGenerator.VectorOf(texts[i]), results[i][0].Vector.ToArray());
        }

        Assert.InRange(inner.MostAtOnce, 1, 2);
        Assert.All(inner.Calls, c => Assert.InRange(c.Count, 1, 3));
        Assert.Equal(texts.Order(), inner.Calls.SelectMany(c => c).Order());
    }

    [Fact]
    public async Task AFailingText_FailsOnlyItsOwnRequest()
    {
        var inner = new GatedGenerator();
        using var coalescing = new CoalescingEmbeddingGenerator(inner, maxBatchSize: 20, maxConcurrentRuns: 1);

        var first = coalescing.GenerateAsync(["a"]);
        await inner.Started.Task.WaitAsync(Deadline);
        var good1 = coalescing.GenerateAsync(["ok1"]);
        var bad = coalescing.GenerateAsync([GatedGenerator.Bad]);
        var good2 = coalescing.GenerateAsync(["ok2"]);
        inner.Release();

        await first.WaitAsync(Deadline);
        Assert.Equal(GatedGenerator.VectorOf("ok1"), (await good1.WaitAsync(Deadline))[0].Vector.ToArray());
        Assert.Equal(GatedGenerator.VectorOf("ok2"), (await good2.WaitAsync(Deadline))[0].Vector.ToArray());
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => bad.WaitAsync(Deadline));
        Assert.Contains(GatedGenerator.Bad, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACancelledWait_EndsAtOnce_AndItsTextIsNeverRun()
    {
        var inner = new GatedGenerator();
        using var coalescing = new CoalescingEmbeddingGenerator(inner, maxBatchSize: 20, maxConcurrentRuns: 1);
        using var cancel = new CancellationTokenSource();

        var first = coalescing.GenerateAsync(["a"]);
        await inner.Started.Task.WaitAsync(Deadline);
        var cancelled = coalescing.GenerateAsync(["x"], cancellationToken: cancel.Token);
        var after = coalescing.GenerateAsync(["y"]);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Deadline));
        Assert.Single(inner.Calls);

        inner.Release();
        await first.WaitAsync(Deadline);
        await after.WaitAsync(Deadline);
        Assert.Equal([["a"], ["y"]], inner.Calls);
    }

    [Fact]
    public async Task SeveralTexts_GoStraightToTheInnerGenerator()
    {
        var inner = new GatedGenerator { Open = true };
        using var coalescing = new CoalescingEmbeddingGenerator(inner, maxBatchSize: 2, maxConcurrentRuns: 1);

        var result = await coalescing.GenerateAsync(["a", "b", "c"]).WaitAsync(Deadline);

        Assert.Equal([["a", "b", "c"]], inner.Calls);
        Assert.Equal(GatedGenerator.VectorOf("c"), result[2].Vector.ToArray());
    }

    [Theory]
    [InlineData(0, 0, "maxBatchSize")]
    [InlineData(1025, 0, "maxBatchSize")]
    [InlineData(20, -1, "maxConcurrentRuns")]
    public void Constructor_RefusesLimitsOutOfRange_NamingThem(int maxBatchSize, int maxConcurrentRuns, string field)
    {
        var error = Assert.ThrowsAny<ArgumentOutOfRangeException>(() => new CoalescingEmbeddingGenerator(new GatedGenerator(), maxBatchSize, maxConcurrentRuns));
        Assert.Equal(field, error.ParamName);
    }

    [Fact]
    public async Task MiniLm_ConcurrentSingles_EqualSingleRuns()
    {
        // Loaded first, so the deadline below covers only the requests. Not disposed: the wrapper would dispose the
        // fixture's model, which the class shares.
        fixture.Embedder.Load();
        var coalescing = new CoalescingEmbeddingGenerator(fixture.Embedder, maxBatchSize: 20, maxConcurrentRuns: 1);
        string[] texts = ["restart the web server", "rotate the TLS certificate before it expires", "a", "book a table for two at an italian restaurant tonight please"];

        var together = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => coalescing.GenerateAsync([texts[i % texts.Length]]))).WaitAsync(Deadline);

        for (int i = 0; i < together.Length; i++)
        {
            var alone = (await fixture.Embedder.GenerateAsync([texts[i % texts.Length]]))[0].Vector.ToArray();
            var got = together[i][0].Vector.ToArray();
            Assert.Equal(alone.Length, got.Length);
            for (int d = 0; d < alone.Length; d++)
            {
                Assert.Equal(alone[d], got[d], 4);
            }
        }
    }

    /// <summary>
    /// A generator whose first run waits for <see cref="Release"/> (so the test can queue requests behind it), that records
    /// every run's texts, and fails a run holding <see cref="Bad"/>.
    /// </summary>
    private sealed class GatedGenerator : IEmbeddingGenerator<string, Embedding<float>>
    {
        public const string Bad = "bad text";
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly ConcurrentQueue<List<string>> _calls = new();
        private int _running;
        private int _mostAtOnce;

        public bool Open { get; init; }

        public TimeSpan Delay { get; init; }

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<List<string>> Calls => [.. _calls];

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public static float[] VectorOf(string text) => [text.Length, text.GetHashCode(StringComparison.Ordinal)];

        public void Release() => _gate.TrySetResult();

        public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
            IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var texts = values.ToList();
            int now = Interlocked.Increment(ref _running);
            InterlockedMax(ref _mostAtOnce, now);
            try
            {
                _calls.Enqueue(texts);
                Started.TrySetResult();
                if (!Open)
                {
                    await _gate.Task.WaitAsync(cancellationToken);
                }

                if (Delay > TimeSpan.Zero)
                {
                    await Task.Delay(Delay, cancellationToken);
                }

                if (texts.Contains(Bad))
                {
                    throw new InvalidDataException($"cannot embed '{Bad}'");
                }

                return new GeneratedEmbeddings<Embedding<float>>(texts.Select(t => new Embedding<float>(VectorOf(t))));
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }

        private static void InterlockedMax(ref int target, int value)
        {
            int seen;
            while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
            {
            }
        }
    }
}
