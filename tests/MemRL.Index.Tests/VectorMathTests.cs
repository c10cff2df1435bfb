using MemRL.Errors;
using MemRL.Index;

namespace MemRL.Index.Tests;

public sealed class VectorMathTests
{
    // Every width's kernel runs on every machine: where the hardware lacks a width, .NET executes its vector operations in
    // software, slower but with the same arithmetic. So an x64 CI machine checks the 128-bit path an Arm64 node uses.
    [Fact]
    public void DotKernels_OfEveryWidth_AgreeWithEachOtherAndWithDoubleSums_ForEveryLengthUpTo256()
    {
        var random = new Random(20261201);
        for (int length = 1; length <= 256; length++)
        {
            float[] a = RandomVector(random, length);
            float[] b = RandomVector(random, length);
            double exact = 0;
            double magnitude = 0;
            for (int i = 0; i < length; i++)
            {
                exact += (double)a[i] * b[i];
                magnitude += Math.Abs((double)a[i] * b[i]);
            }

            var results = new (string Width, float Value)[]
            {
                ("scalar", VectorMath.DotTail(ref a[0], ref b[0], 0, length, 0f)),
                ("128", VectorMath.Dot128(ref a[0], ref b[0], length)),
                ("256", VectorMath.Dot256(ref a[0], ref b[0], length)),
                ("512", VectorMath.Dot512(ref a[0], ref b[0], length)),
                ("dispatched", VectorMath.Dot(a, b)),
            };
            // SIMD reorders the float sum, each width its own way: rounding proportional to the summed magnitude, nothing more.
            double tolerance = (1e-6 * magnitude) + 1e-7;
            foreach (var (width, value) in results)
            {
                Assert.True(Math.Abs(value - exact) <= tolerance, $"length {length}: the {width} kernel gives {value}, the exact sum is {exact} (tolerance {tolerance}).");
            }

            // Below the narrowest vector the kernels are the scalar loop itself: equal to the bit.
            if (length < 4)
            {
                Assert.All(results, r => Assert.Equal(results[0].Value, r.Value));
            }
        }
    }

    [Fact]
    public void TryNormalize_GivesUnitLength_AndCosineEqualsDot()
    {
        var random = new Random(7);
        for (int length = 1; length <= 256; length++)
        {
            float[] a = RandomVector(random, length);
            float[] b = RandomVector(random, length);
            var na = new float[length];
            var nb = new float[length];
            Assert.True(VectorMath.TryNormalize(a, na));
            Assert.True(VectorMath.TryNormalize(b, nb));
            Assert.Equal(1.0, VectorMath.Norm(na), 5);
            Assert.Equal(ScalarCosine.Of(a, b), VectorMath.Dot(na, nb), 5);
        }
    }

    [Fact]
    public void TryNormalize_ReturnsFalse_ForZeroVector()
    {
        Assert.False(VectorMath.TryNormalize(new float[8], new float[8]));
    }

    [Fact]
    public void Dot_Throws_WhenLengthsDiffer()
    {
        var error = Assert.Throws<ArgumentException>(() => VectorMath.Dot(new float[3], new float[4]));
        Assert.Contains("3", error.Message);
        Assert.Contains("4", error.Message);
    }

    [Theory]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void ThrowIfInvalid_RejectsNonFiniteElements_NamingTheElement(float bad, string actual)
    {
        var v = new float[] { 1, 2, bad };
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(v, 3, "vector"));
        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal("vector[2]", parts.Field);
        Assert.Equal("a finite number", parts.Expected);
        Assert.Equal(actual, parts.Actual);
        Assert.Equal("vector[2]", error.ParamName);
    }

    [Fact]
    public void ThrowIfInvalid_RejectsWrongDimension_NamingBoth()
    {
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(new float[384], 768, "vector"));
        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal("vector", parts.Field);
        Assert.Contains("768", parts.Expected, StringComparison.Ordinal);
        Assert.Contains("384", parts.Actual, StringComparison.Ordinal);
        Assert.Equal($"vector is {parts.Actual}; expected {parts.Expected}.", error.Message[..error.Message.IndexOf(" (Parameter", StringComparison.Ordinal)]);
    }

    [Fact]
    public void ThrowIfInvalid_RejectsZeroVector()
    {
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(new float[4], 4, "vector"));
        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal("vector", parts.Field);
        Assert.Equal("the zero vector", parts.Actual);
    }

    [Theory]
    [InlineData(1e38f)]
    [InlineData(-1e38f)]
    [InlineData(1e-30f)]
    [InlineData(1e-44f)]
    public void ThrowIfInvalid_AcceptsFiniteVectorsWhoseFloatNormOverflowsOrUnderflows(float element)
    {
        var v = Enumerable.Repeat(element, 64).ToArray();
        float norm = VectorMath.Norm(v);
        Assert.True(norm == 0f || float.IsInfinity(norm), $"the case needs a norm that overflows or underflows; got {norm}");
        VectorValidation.ThrowIfInvalid(v, 64, "vector");
    }

    [Theory]
    [InlineData(1e38f)]
    [InlineData(3e38f)]
    [InlineData(1e-30f)]
    public void TryNormalize_RescalesVectorsWhosePlainNormIsZeroOrInfinite(float scale)
    {
        var random = new Random(31);
        for (int length = 1; length <= 64; length++)
        {
            float[] unitBox = RandomVector(random, length);
            float largest = unitBox.Max(Math.Abs);
            for (int i = 0; i < length; i++)
            {
                unitBox[i] /= largest;
            }

            float[] huge = unitBox.Select(x => x * scale).ToArray();
            var expected = new float[length];
            var actual = new float[length];
            Assert.True(VectorMath.TryNormalize(unitBox, expected));
            Assert.True(VectorMath.TryNormalize(huge, actual), $"length {length}, scale {scale}");
            Assert.Equal(1.0, VectorMath.Norm(actual), 5);
            for (int i = 0; i < length; i++)
            {
                Assert.Equal(expected[i], actual[i], 1e-6f);
            }
        }
    }

    [Fact]
    public void TryNormalize_RescalesInPlace()
    {
        float[] v = [1e38f, -1e38f, 0f, 1e38f];
        Assert.True(VectorMath.TryNormalize(v, v));
        Assert.Equal(1.0, VectorMath.Norm(v), 5);
        Assert.Equal(-v[0], v[1]);
    }

    [Fact]
    public void TryNormalize_IsBitIdenticalToThePlainFormula_ForOrdinaryVectors()
    {
        // Replaying a bank's log must rebuild the same unit vectors: the rescaling path must not touch vectors whose
        // plain norm is finite and positive, including large and small ones still inside that range.
        var random = new Random(47);
        foreach (float scale in new[] { 1f, 1e-3f, 1e3f, 1e15f, 1e-15f })
        {
            for (int length = 1; length <= 256; length++)
            {
                float[] v = RandomVector(random, length).Select(x => x * scale).ToArray();
                var plain = new float[length];
                System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), plain);
                var unit = new float[length];
                Assert.True(VectorMath.TryNormalize(v, unit));
                Assert.Equal(plain.Select(BitConverter.SingleToInt32Bits), unit.Select(BitConverter.SingleToInt32Bits));
            }
        }
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void TryNormalize_ReturnsFalse_ForNonFiniteElements(float bad)
    {
        Assert.False(VectorMath.TryNormalize([1f, bad, 2f], new float[3]));
    }

    private static float[] RandomVector(Random random, int length)
    {
        var v = new float[length];
        for (int i = 0; i < length; i++)
        {
            v[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return v;
    }
}
