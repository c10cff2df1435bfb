using MemRL.Errors;
using MemRL.Index;

namespace MemRL.Index.Tests;

public sealed class HnswIndexTests
{
    [Theory]
    [InlineData(2, 2000, 11)]
    [InlineData(3, 2000, 12)]
    [InlineData(17, 3000, 13)]
    [InlineData(384, 2000, 14)]
    [InlineData(1536, 600, 15)]
    public void Search_ReachesHighRecallAgainstBruteForce(int dimension, int count, int seed)
    {
        var vectors = TestData.Clustered(count, dimension, seed);
        var index = TestData.Build(vectors);
        var items = Enumerable.Range(0, count).ToDictionary(i => (long)i, i => vectors[i]);
        var random = new Random(seed + 1);
        double hits = 0;
        const int queries = 60;
        for (int q = 0; q < queries; q++)
        {
            var query = TestData.Clustered(1, dimension, random.Next())[0];
            var truth = TestData.BruteForce(items, query, 10).ToHashSet();
            hits += TestData.Search(index, query, 10, 128).Count(n => truth.Contains(n.Id));
        }

        double recall = hits / (queries * 10.0);
        Assert.True(recall >= 0.95, $"recall@10 is {recall:F3} at d={dimension}, n={count}; expected at least 0.95.");
        Assert.Empty(index.FindInvariantViolations());
    }

    [Fact]
    public void Search_AfterDeletingHalf_ReturnsOnlyLiveIds_WithHighRecall()
    {
        var vectors = TestData.Clustered(3000, 32, 21);
        var index = TestData.Build(vectors);
        for (int i = 0; i < vectors.Length; i += 2)
        {
            Assert.True(index.Remove(i));
        }

        var live = Enumerable.Range(0, vectors.Length).Where(i => i % 2 == 1).ToDictionary(i => (long)i, i => vectors[i]);
        var random = new Random(22);
        double hits = 0;
        for (int q = 0; q < 60; q++)
        {
            var query = TestData.Clustered(1, 32, random.Next())[0];
            var found = TestData.Search(index, query, 10, 64);
            Assert.All(found, n => Assert.True(n.Id % 2 == 1, $"deleted id {n.Id} was returned."));
            Assert.Equal(10, found.Length);
            var truth = TestData.BruteForce(live, query, 10).ToHashSet();
            hits += found.Count(n => truth.Contains(n.Id));
        }

        Assert.True(hits / 600 >= 0.95, $"recall@10 over live ids is {hits / 600:F3}; expected at least 0.95.");
        Assert.Equal(1500, index.Count);
        Assert.Empty(index.FindInvariantViolations());
    }

    // A filter applies inside the traversal: the k nearest accepted items are found even when the unfiltered k nearest
    // are all refused (a post-filter would return fewer than k, or nothing).
    [Theory]
    [InlineData(2)]
    [InlineData(10)]
    [InlineData(50)]
    public void Search_WithAFilter_FindsTheNearestAcceptedItems_NotAPostFilteredFew(int percentAccepted)
    {
        var vectors = TestData.Clustered(3000, 32, 31);
        var index = TestData.Build(vectors);
        bool Accept(long id) => id * 7919 % 100 < percentAccepted;
        var accepted = Enumerable.Range(0, vectors.Length).Where(i => Accept(i)).ToDictionary(i => (long)i, i => vectors[i]);
        var random = new Random(32);
        double hits = 0;
        for (int q = 0; q < 40; q++)
        {
            var query = TestData.Clustered(1, 32, random.Next())[0];
            var found = TestData.Search(index, query, 10, 64, accept: Accept);
            Assert.All(found, n => Assert.True(Accept(n.Id), $"refused id {n.Id} was returned."));
            Assert.Equal(10, found.Length);
            var truth = TestData.BruteForce(accepted, query, 10);
            hits += found.Count(n => truth.Contains(n.Id));
            Assert.Equal(truth, TestData.Search(index, query, 10, 64, SearchMode.Exact, Accept).Select(n => n.Id));
        }

        Assert.True(hits / 400 >= 0.9, $"filtered recall@10 is {hits / 400:F3} at {percentAccepted} % accepted; expected at least 0.9.");
    }

    [Fact]
    public void SearchAmong_EqualsTheExactSearchOfThoseIds_BitForBit()
    {
        var vectors = TestData.Clustered(1000, 24, 34);
        var index = TestData.Build(vectors);
        Assert.True(index.Remove(5));
        var among = new long[] { 5, 7, 11, 300, 301, 302, 999, 12345 };
        var context = index.CreateSearchContext();
        var destination = new Neighbor[4];

        int n = index.SearchAmong(vectors[300], among, 4, context, destination, accept: static id => id != 301);

        var expected = TestData.Search(index, vectors[300], 4, 4, SearchMode.Exact, accept: id => id != 301 && among.Contains(id));
        Assert.Equal(expected, destination[..n]);
        Assert.Equal(300, destination[0].Id);
        Assert.Equal(0, index.SearchAmong(vectors[0], [], 4, context, destination));
    }

    [Theory]
    [InlineData(SearchMode.Exact)]
    [InlineData(SearchMode.Approximate)]
    public void Search_WithAFilterThatRefusesEverything_ReturnsNothing(SearchMode mode)
    {
        var vectors = TestData.Clustered(500, 8, 33);
        var index = TestData.Build(vectors);

        Assert.Empty(TestData.Search(index, vectors[0], 5, 16, mode, static _ => false));
        Assert.Single(TestData.Search(index, vectors[0], 5, 16, mode, static id => id == 123));
    }

    [Fact]
    public void Remove_PastCompactionThreshold_RebuildsFromLiveNodes_AndKeepsAnswering()
    {
        var vectors = TestData.Clustered(1000, 16, 31);
        var index = TestData.Build(vectors);
        for (int i = 0; i < 700; i++)
        {
            index.Remove(i);
        }

        Assert.True(index.NodeCount < 1000, "tombstones past the threshold were not compacted.");
        Assert.Equal(300, index.Count);
        Assert.Empty(index.FindInvariantViolations());
        var live = Enumerable.Range(700, 300).ToDictionary(i => (long)i, i => vectors[i]);
        var query = vectors[850];
        Assert.Equal(TestData.BruteForce(live, query, 5), TestData.Search(index, query, 5, 50, SearchMode.Exact).Select(n => n.Id));
        Assert.Equal(850, TestData.Search(index, query, 1, 50)[0].Id);
    }

    [Fact]
    public void Graph_KeepsInvariants_UnderInterleavedInsertsAndDeletes()
    {
        var vectors = TestData.Clustered(2500, 24, 41);
        var index = new HnswIndex(new HnswOptions { Dimension = 24, M = 8, EfConstruction = 64, CompactionThreshold = 0.3 });
        var random = new Random(42);
        var present = new List<long>();
        for (int i = 0; i < vectors.Length; i++)
        {
            index.Add(i, vectors[i]);
            present.Add(i);
            if (random.NextDouble() < 0.4)
            {
                int at = random.Next(present.Count);
                Assert.True(index.Remove(present[at]));
                present.RemoveAt(at);
            }

            if (i % 500 == 0)
            {
                Assert.Empty(index.FindInvariantViolations());
            }
        }

        Assert.Empty(index.FindInvariantViolations());
        Assert.Equal(present.Count, index.Count);
        Assert.All(present, id => Assert.True(index.Contains(id)));
    }

    [Fact]
    public void SameInserts_GiveTheSameGraph_ByteForByte()
    {
        var vectors = TestData.Clustered(1500, 20, 51);
        Assert.Equal(Saved(TestData.Build(vectors, seed: 9)), Saved(TestData.Build(vectors, seed: 9)));
        Assert.NotEqual(Saved(TestData.Build(vectors, seed: 9)), Saved(TestData.Build(vectors, seed: 10)));
    }

    [Fact]
    public void SaveAndLoad_AnswerIdentically_IncludingTombstones()
    {
        var vectors = TestData.Clustered(2000, 48, 61);
        var index = TestData.Build(vectors);
        for (int i = 0; i < 300; i++)
        {
            index.Remove(i * 3);
        }

        using var stream = new MemoryStream();
        index.Save(stream);
        stream.Position = 0;
        var loaded = HnswIndex.Load(stream);

        Assert.Equal(index.Count, loaded.Count);
        Assert.Empty(loaded.FindInvariantViolations());
        var random = new Random(62);
        for (int q = 0; q < 50; q++)
        {
            var query = TestData.Clustered(1, 48, random.Next())[0];
            Assert.Equal(TestData.Search(index, query, 10, 40), TestData.Search(loaded, query, 10, 40));
        }

        Assert.Equal(Saved(index), Saved(loaded));
    }

    [Fact]
    public void Load_RejectsCorruptTruncatedAndForeignStreams()
    {
        var bytes = Saved(TestData.Build(TestData.Clustered(300, 8, 71)));

        var flipped = (byte[])bytes.Clone();
        flipped[bytes.Length / 2] ^= 0x40;
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => HnswIndex.Load(new MemoryStream(flipped))).Message);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => HnswIndex.Load(new MemoryStream(bytes[..(bytes.Length - 40)]))).Message);
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => HnswIndex.Load(new MemoryStream(new byte[200]))).Message);

        var otherVersion = (byte[])bytes.Clone();
        otherVersion[8] = 99;
        var error = Assert.Throws<InvalidDataException>(() => HnswIndex.Load(new MemoryStream(otherVersion)));
        Assert.Contains("format version 99", error.Message);
    }

    [Fact]
    public void ConcurrentSearches_WithOwnContexts_MatchSequentialOnes()
    {
        var vectors = TestData.Clustered(3000, 32, 81);
        var index = TestData.Build(vectors);
        var queries = TestData.Clustered(200, 32, 82);
        var sequential = queries.Select(q => TestData.Search(index, q, 10, 48)).ToArray();
        var parallel = new Neighbor[queries.Length][];

        Parallel.For(0, queries.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            () => index.CreateSearchContext(),
            (q, _, context) =>
            {
                var results = new Neighbor[10];
                int n = index.Search(queries[q], 10, 48, context, results, SearchMode.Approximate);
                parallel[q] = results[..n];
                return context;
            },
            _ => { });

        for (int q = 0; q < queries.Length; q++)
        {
            Assert.Equal(sequential[q], parallel[q]);
        }
    }

    [Fact]
    public void Similarities_AreBitIdenticalToTheSharedKernel_InBothModes()
    {
        var vectors = TestData.Clustered(3000, 40, 91);
        var index = TestData.Build(vectors);
        var query = TestData.Clustered(1, 40, 92)[0];
        var unitQuery = new float[40];
        VectorMath.TryNormalize(query, unitQuery);
        var stored = new float[40];
        foreach (var mode in new[] { SearchMode.Exact, SearchMode.Approximate })
        {
            foreach (var n in TestData.Search(index, query, 10, 64, mode))
            {
                Assert.True(index.TryGetVector(n.Id, stored));
                Assert.Equal(BitConverter.SingleToInt32Bits(VectorMath.Dot(unitQuery, stored)), BitConverter.SingleToInt32Bits(n.Similarity));
            }
        }
    }

    [Fact]
    public void Approximate_WithTheBeamAsWideAsTheIndex_ReturnsTheExactAnswer_BothWalks()
    {
        // The 8-bit walk's order is approximate; with every node in the beam, only the float re-rank can make the answer
        // exact, in order and to the last bit.
        var vectors = TestData.Clustered(600, 96, 93);
        var index = TestData.Build(vectors);
        var random = new Random(94);
        foreach (bool quantized in new[] { true, false })
        {
            index.QuantizedTraversal = quantized;
            for (int q = 0; q < 20; q++)
            {
                var query = TestData.Clustered(1, 96, random.Next())[0];
                Assert.Equal(TestData.Search(index, query, 10, 10, SearchMode.Exact), TestData.Search(index, query, 10, 600));
            }
        }
    }

    [Fact]
    public void Exact_BreaksTiesOnTheLowerId()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 3 });
        index.Add(30, [1, 0, 0]);
        index.Add(10, [1, 0, 0]);
        index.Add(20, [1, 0, 0]);
        index.Add(5, [0, 1, 0]);

        Assert.Equal([10L, 20L], TestData.Search(index, [1, 0, 0], 2, 2, SearchMode.Exact).Select(n => n.Id));
    }

    [Fact]
    public void Search_AllocatesNothing_AfterWarmUp()
    {
        var vectors = TestData.Clustered(3000, 64, 101);
        var index = TestData.Build(vectors);
        var context = index.CreateSearchContext();
        var results = new Neighbor[10];
        // Warm-up long enough for tiered compilation to settle (the JIT's own allocations are not the search's).
        for (int i = 0; i < 2000; i++)
        {
            index.Search(vectors[i % 100], 10, 64, context, results, SearchMode.Approximate);
            index.Search(vectors[i % 100], 10, 64, context, results, SearchMode.Exact);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            index.Search(vectors[i], 10, 64, context, results, SearchMode.Approximate);
            index.Search(vectors[i], 10, 64, context, results, SearchMode.Exact);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void InnerProductMetric_KeepsVectorsAsGiven()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 2, Metric = SimilarityMetric.InnerProduct });
        index.Add(1, [3, 0]);
        index.Add(2, [1, 1]);

        var found = TestData.Search(index, [1, 0], 2, 2, SearchMode.Exact);

        Assert.Equal(new Neighbor(1, 3), found[0]);
        Assert.Equal(new Neighbor(2, 1), found[1]);
    }

    [Fact]
    public void BadArguments_AreRejected_NamingTheValues()
    {
        var index = new HnswIndex(new HnswOptions { Dimension = 4 });
        index.Add(1, [1, 2, 3, 4]);
        var context = index.CreateSearchContext();
        var results = new Neighbor[4];

        AssertField("vector", "a vector of 3 elements", Assert.Throws<ArgumentException>(() => index.Add(2, [1, 2, 3])));
        AssertField("vector[1]", "NaN", Assert.Throws<ArgumentException>(() => index.Add(2, [1, float.NaN, 3, 4])));
        AssertField("vector", "the zero vector", Assert.Throws<ArgumentException>(() => index.Add(2, [0, 0, 0, 0])));
        AssertField("id", "1", Assert.Throws<ArgumentException>(() => index.Add(1, [4, 3, 2, 1])));
        AssertField("k", "0", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search([1, 0, 0, 0], 0, 10, context, results)));
        Assert.Contains("ef is 2; expected at least k (3)", Assert.Throws<ArgumentOutOfRangeException>(() => index.Search([1, 0, 0, 0], 3, 2, context, results)).Message);
        AssertField("query[2]", "Infinity", Assert.Throws<ArgumentException>(() => index.Search([1, 0, float.PositiveInfinity, 0], 1, 10, context, results)));
        AssertField("M", "1", Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new HnswOptions { Dimension = 4, M = 1 })));
        AssertField("Dimension", "0", Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new HnswOptions { Dimension = 0 })));
        Assert.False(index.Remove(99));
        Assert.False(index.TryGetVector(99, new float[4]));
        Assert.Equal(1, index.Count);
    }

    private static byte[] Saved(HnswIndex index)
    {
        using var stream = new MemoryStream();
        index.Save(stream);
        return stream.ToArray();
    }

    [Theory]
    [InlineData(1e38f)]
    [InlineData(1e-30f)]
    public void Search_WithVectorsWhosePlainNormOverflowsOrUnderflows_AnswersAsTheScaledDownVectors(float scale)
    {
        // Elements scaled into [-1, 1] first, so scale × element stays finite.
        var vectors = TestData.Clustered(300, 24, 57).Select(ToUnitBox).ToArray();
        var queries = TestData.Clustered(20, 24, 58).Select(ToUnitBox).ToArray();
        var plain = TestData.Build(vectors);
        var scaled = TestData.Build(vectors.Select(v => Scale(v, scale)).ToArray());
        foreach (var mode in new[] { SearchMode.Exact, SearchMode.Approximate })
        {
            foreach (var query in queries)
            {
                var expected = TestData.Search(plain, query, 10, 64, mode);
                Assert.Equal(expected.Select(n => n.Id), TestData.Search(scaled, Scale(query, scale), 10, 64, mode).Select(n => n.Id));
                Assert.Equal(expected.Select(n => n.Id), TestData.Search(plain, Scale(query, scale), 10, 64, mode).Select(n => n.Id));
            }
        }
    }

    [Fact]
    public void Search_NeverAnswersThePreviousQuery_WhenTheNextOneNeedsRescaling()
    {
        // The query buffer is reused between searches: a normalisation that failed silently would search again with
        // the previous query's vector.
        var index = new HnswIndex(new HnswOptions { Dimension = 3 });
        index.Add(1, [1, 0, 0]);
        index.Add(2, [0, 1, 0]);
        var context = index.CreateSearchContext();
        var results = new Neighbor[1];
        Assert.Equal(1, index.Search([1, 0, 0], 1, 4, context, results));
        Assert.Equal(1L, results[0].Id);
        Assert.Equal(1, index.Search([0, 1e38f, 0], 1, 4, context, results));
        Assert.Equal(2L, results[0].Id);
        Assert.Equal(1, index.Search([1e-30f, 0, 0], 1, 4, context, results));
        Assert.Equal(1L, results[0].Id);
    }

    private static void AssertField(string field, string actual, ArgumentException error)
    {
        Assert.True(FieldError.TryRead(error, out var parts), $"no field-error parts on: {error.Message}");
        Assert.Equal(field, parts.Field);
        Assert.Equal(actual, parts.Actual);
        Assert.False(string.IsNullOrEmpty(parts.Expected));
    }

    private static float[] ToUnitBox(float[] v)
    {
        float largest = v.Max(Math.Abs);
        return v.Select(x => x / largest).ToArray();
    }

    private static float[] Scale(float[] v, float scale) => v.Select(x => x * scale).ToArray();
}
