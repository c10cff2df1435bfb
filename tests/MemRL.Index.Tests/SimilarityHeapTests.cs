namespace MemRL.Index.Tests;

/// <summary>The search heaps pack (similarity, node) into one integer key; they must order exactly as the floats do.</summary>
public sealed class SimilarityHeapTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void PushPopAndReplaceTop_AgreeWithASortedReference_ForMixedSignsAndTies(bool maxOnTop)
    {
        var random = new Random(maxOnTop ? 11 : 12);
        // Negative, zero, positive, extreme and repeated similarities (cosine and inner product both give all of these).
        float[] pool = [-1f, -0.5f, -1e-30f, 0f, 1e-30f, 0.25f, 0.5f, 1f, 3.5f, -3.5f, float.MaxValue, float.MinValue];
        var heap = new SimilarityHeap(maxOnTop);
        var reference = new List<(float Similarity, int Node)>();
        for (int step = 0; step < 5000; step++)
        {
            int op = random.Next(4);
            if (op < 2 || reference.Count == 0)
            {
                float similarity = random.Next(3) == 0 ? pool[random.Next(pool.Length)] : (float)((random.NextDouble() * 4) - 2);
                int node = random.Next(1000);
                heap.Push(similarity, node);
                reference.Add((similarity, node));
            }
            else if (op == 2)
            {
                AssertTop(heap, reference, maxOnTop);
                heap.Pop();
                reference.Remove(Top(reference, maxOnTop));
            }
            else
            {
                float similarity = (float)((random.NextDouble() * 4) - 2);
                int node = random.Next(1000);
                AssertTop(heap, reference, maxOnTop);
                heap.ReplaceTop(similarity, node);
                reference.Remove(Top(reference, maxOnTop));
                reference.Add((similarity, node));
            }

            Assert.Equal(reference.Count, heap.Count);
        }

        var copied = new (float Similarity, int Node)[heap.Count];
        heap.CopyTo(copied);
        Assert.Equal(reference.Order(), copied.Order());
    }

    // The heap's order: similarity first; equal similarities by node, larger node nearer the top in both directions.
    private static (float Similarity, int Node) Top(List<(float Similarity, int Node)> items, bool maxOnTop) => maxOnTop
        ? items.OrderByDescending(i => i.Similarity).ThenByDescending(i => i.Node).First()
        : items.OrderBy(i => i.Similarity).ThenByDescending(i => i.Node).First();

    private static void AssertTop(SimilarityHeap heap, List<(float Similarity, int Node)> reference, bool maxOnTop)
    {
        var expected = Top(reference, maxOnTop);
        Assert.Equal(expected.Similarity, heap.TopSimilarity);
        Assert.Equal(expected.Node, heap.TopNode);
    }
}
