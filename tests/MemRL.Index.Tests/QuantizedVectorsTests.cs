using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using MemRL.Index;

namespace MemRL.Index.Tests;

public sealed class QuantizedVectorsTests
{
    [Fact]
    public void DotKernels_AgreeExactlyWithAScalarIntegerSum_ForEveryLengthUpTo300_AndAtTheExtremes()
    {
        var random = new Random(5);
        for (int dimension = 1; dimension <= 300; dimension++)
        {
            var codes = new QuantizedVectors(dimension, 4);
            int stride = codes.Stride;
            Assert.Equal(0, stride % 64);
            for (int trial = 0; trial < 3; trial++)
            {
                var query = new byte[stride];
                var code = new sbyte[stride];
                for (int i = 0; i < dimension; i++)
                {
                    // Trial 2 is all extremes: the largest products the kernels can meet, where an overflow would show.
                    query[i] = trial == 2 ? (byte)255 : (byte)random.Next(1, 256);
                    code[i] = trial == 2 ? (sbyte)(i % 2 == 0 ? 127 : -127) : (sbyte)random.Next(-127, 128);
                }

                for (int i = dimension; i < stride; i++)
                {
                    query[i] = 128;
                }

                long expected = 0;
                int sum = 0;
                for (int i = 0; i < dimension; i++)
                {
                    expected += (query[i] - 128) * code[i];
                    sum += code[i];
                }

                ref byte q = ref MemoryMarshal.GetArrayDataReference(query);
                ref sbyte c = ref MemoryMarshal.GetArrayDataReference(code);
                Assert.Equal(expected, QuantizedVectors.DotPortable(ref q, ref c, stride) - (128 * sum));
                if (AvxVnni.IsSupported)
                {
                    Assert.Equal(expected, QuantizedVectors.DotVnni(ref q, ref c, stride) - (128 * sum));
                }

                Assert.Equal(expected, QuantizedVectors.Dot(ref q, ref c, stride, sum));
            }
        }
    }

    [Theory]
    [InlineData(7)]
    [InlineData(128)]
    [InlineData(768)]
    public void Similarity_ApproximatesTheFloatKernel_ToWellUnderTheGapBetweenNeighbours(int dimension)
    {
        var vectors = TestData.Clustered(200, dimension, 11);
        var codes = new QuantizedVectors(dimension, 2);
        var query = new byte[codes.Stride];
        var unit = new float[dimension];
        var other = new float[dimension];
        double worst = 0;
        for (int i = 1; i < vectors.Length; i++)
        {
            VectorMath.TryNormalize(vectors[i], other);
            codes.Set(0, other);
            VectorMath.TryNormalize(vectors[i - 1], unit);
            float scale = codes.EncodeQuery(unit, query);
            float approximate = codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0);
            worst = Math.Max(worst, Math.Abs(approximate - VectorMath.Dot(unit, other)));
        }

        // Per-vector absmax scaling: a step of max|x|/127 per element, so the error shrinks like 1/sqrt(dimension).
        Assert.InRange(worst, 0, dimension < 16 ? 0.05 : 0.01);
    }

    [Fact]
    public void Codes_OfAZeroVector_AreZero_AndItsSimilarityIsZero()
    {
        var codes = new QuantizedVectors(20, 1);
        codes.Set(0, new float[20]);
        var query = new byte[codes.Stride];
        float scale = codes.EncodeQuery(Enumerable.Repeat(0.5f, 20).ToArray(), query);
        Assert.Equal(0f, codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0));
    }

    [Fact]
    public void Codes_OfASubnormalVector_KeepItsDirection()
    {
        // 127 / max|x| is infinite here; multiplying by it would turn every element into ±127 (or NaN for zeros).
        var tiny = new float[] { 1e-40f, -5e-41f, 0f, 2.5e-41f };
        var codes = new QuantizedVectors(4, 1);
        codes.Set(0, tiny);
        var query = new byte[codes.Stride];
        float scale = codes.EncodeQuery([1f, 0f, 0f, 0f], query);
        float similarity = codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0);
        // The scales are subnormal too, so the product keeps only a few bits; the float re-rank restores the exact value.
        Assert.InRange(similarity, 0.5e-40f, 2e-40f);
        scale = codes.EncodeQuery([0f, 1f, 0f, 0f], query);
        Assert.InRange(codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0), -0.75e-40f, -0.25e-40f);
        scale = codes.EncodeQuery([0f, 0f, 1f, 0f], query);
        Assert.Equal(0f, codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0));
    }

    [Fact]
    public void Resize_KeepsTheCodesOfExistingNodes()
    {
        var vectors = TestData.Clustered(3, 100, 21);
        var codes = new QuantizedVectors(100, 2);
        var unit = new float[100];
        VectorMath.TryNormalize(vectors[0], unit);
        codes.Set(0, unit);
        var query = new byte[codes.Stride];
        VectorMath.TryNormalize(vectors[1], unit);
        float scale = codes.EncodeQuery(unit, query);
        float before = codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0);
        codes.Resize(64, 1);
        Assert.Equal(before, codes.Similarity(ref MemoryMarshal.GetArrayDataReference(query), scale, 0));
    }
}
