using MemRL.Index;

namespace MemRL.Index.Tests;

public sealed class VectorMathTests
{
    [Fact]
    public void Dot_AgreesWithScalarReference_ForEveryLengthUpTo256()
    {
        var random = new Random(20260124);
        for (int length = 1; length <= 256; length++)
        {
            float[] a = RandomVector(random, length);
            float[] b = RandomVector(random, length);
            double expected = 0;
            double magnitude = 0;
            for (int i = 0; i < length; i++)
            {
                expected += (double)a[i] * b[i];
                magnitude += Math.Abs((double)a[i] * b[i]);
            }

            float actual = VectorMath.Dot(a, b);
            // SIMD reorders the float sum: allow rounding proportional to the summed magnitude, nothing more.
            double tolerance = 1e-6 * magnitude + 1e-7;
            Assert.True(Math.Abs(actual - expected) <= tolerance,
                $"length {length}: SIMD dot {actual} differs from scalar {expected} by more than {tolerance}.");
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
            Assert.Equal(TestData.Cosine(a, b), VectorMath.Dot(na, nb), 5);
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
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void ThrowIfInvalid_RejectsNonFiniteElements(float bad)
    {
        var v = new float[] { 1, 2, bad };
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(v, 3, "vector"));
        Assert.Equal("vector", error.ParamName);
        Assert.Contains("vector[2]", error.Message);
    }

    [Fact]
    public void ThrowIfInvalid_RejectsWrongDimension_NamingBoth()
    {
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(new float[384], 768, "vector"));
        Assert.Contains("384", error.Message);
        Assert.Contains("768", error.Message);
    }

    [Fact]
    public void ThrowIfInvalid_RejectsZeroVector()
    {
        var error = Assert.Throws<ArgumentException>(() => VectorValidation.ThrowIfInvalid(new float[4], 4, "vector"));
        Assert.Contains("zero vector", error.Message);
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
