using MemRL.Errors;

namespace MemRL.Index;

/// <summary>Checks a caller's vector before it reaches an index or a bank; errors name the field, the expected and the actual value.</summary>
public static class VectorValidation
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="vector"/> has <paramref name="expectedDimension"/>
    /// finite elements and, when <paramref name="requireNonZero"/>, at least one non-zero element.
    /// </summary>
    /// <remarks>Any finite vector that is not all zeros normalises (see <see cref="VectorMath.TryNormalize"/>), so the
    /// check looks at elements, not at the float norm, which overflows for elements near 1e38 and underflows near 1e-30.</remarks>
    /// <param name="field">The field as the caller spells it (the JSON member, such as <c>query</c> or <c>intent</c>).</param>
    public static void ThrowIfInvalid(ReadOnlySpan<float> vector, int expectedDimension, string field, bool requireNonZero = true)
    {
        if (vector.Length != expectedDimension)
        {
            throw FieldError.Invalid(field, $"a vector of {expectedDimension} elements", $"a vector of {vector.Length} elements");
        }

        ThrowIfInvalidElements(vector, field, requireNonZero);
    }

    /// <summary>
    /// The element checks of <see cref="ThrowIfInvalid"/> alone, for a caller that does not know the dimension (the .NET
    /// client, before the network hop): every element finite and, when <paramref name="requireNonZero"/>, one non-zero.
    /// </summary>
    public static void ThrowIfInvalidElements(ReadOnlySpan<float> vector, string field, bool requireNonZero = true)
    {
        bool nonZero = false;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw FieldError.Invalid($"{field}[{i}]", "a finite number", FieldError.Format(vector[i]));
            }

            nonZero |= vector[i] != 0f;
        }

        if (requireNonZero && !nonZero)
        {
            throw FieldError.Invalid(field, "a vector with at least one non-zero element (cosine similarity needs a direction)", "the zero vector");
        }
    }
}
