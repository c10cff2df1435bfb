namespace MemRL.Index;

/// <summary>Checks a caller's vector before it reaches an index or a bank; messages name the field, the expected and the actual value.</summary>
public static class VectorValidation
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> unless <paramref name="vector"/> has <paramref name="expectedDimension"/>
    /// finite elements and, when <paramref name="requireNonZero"/>, a non-zero norm.
    /// </summary>
    public static void ThrowIfInvalid(ReadOnlySpan<float> vector, int expectedDimension, string paramName, bool requireNonZero = true)
    {
        if (vector.Length != expectedDimension)
        {
            throw new ArgumentException(
                $"{paramName} has {vector.Length} dimensions; expected {expectedDimension}.", paramName);
        }

        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw new ArgumentException(
                    $"{paramName}[{i}] is {vector[i]}; every element must be a finite number.", paramName);
            }
        }

        if (requireNonZero && !(VectorMath.Norm(vector) > 0f))
        {
            throw new ArgumentException(
                $"{paramName} is the zero vector; cosine similarity needs a vector with non-zero length.", paramName);
        }
    }
}
