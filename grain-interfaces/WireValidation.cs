using System.Buffers;
using MemRL.Errors;

namespace MemRL.GrainInterfaces;

/// <summary>Checks shared by the client (before the network hop) and the grains (at the boundary).</summary>
public static class WireValidation
{
    private static readonly SearchValues<char> BankNameChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    /// <summary>Throws unless <paramref name="bank"/> is 1..128 characters of letters, digits, '-', '_' or '.'.</summary>
    /// <param name="bank">The name.</param>
    /// <param name="field">The field as the caller spells it: the path parameter <c>bank</c>, or <c>name</c> in a create body.</param>
    public static void BankName(string? bank, string field = "bank")
    {
        string expected = $"1 to {BankLimits.MaxBankNameLength} letters, digits, '-', '_' or '.'";
        if (bank is null)
        {
            throw FieldError.Missing(field, expected);
        }

        if (bank.Length == 0 || bank.Length > BankLimits.MaxBankNameLength || bank.AsSpan().ContainsAnyExcept(BankNameChars))
        {
            throw FieldError.Invalid(field, expected, FieldError.Quote(bank));
        }
    }

    /// <summary>The HTTP name of an operation id, which is the field its errors name whichever layer finds them.</summary>
    public const string OperationIdField = "Idempotency-Key";

    /// <summary>Throws unless <paramref name="operationId"/> is 1..200 printable characters.</summary>
    public static void OperationId(string? operationId, string field = OperationIdField)
    {
        if (string.IsNullOrEmpty(operationId) || operationId.Length > BankLimits.MaxOperationIdLength || operationId.Any(char.IsControl))
        {
            throw FieldError.Invalid(field, $"1 to {BankLimits.MaxOperationIdLength} printable characters", FieldError.Quote(operationId));
        }
    }

    /// <summary>Throws unless <paramref name="vector"/> is non-empty, finite and not all zeros (the bank checks the dimension).</summary>
    /// <param name="vector">The vector.</param>
    /// <param name="field">The field as the caller spells it (<c>query</c>, <c>intent</c>).</param>
    public static void Vector(float[]? vector, string field)
    {
        if (vector is null)
        {
            throw FieldError.Missing(field, "an embedding vector");
        }

        if (vector.Length == 0)
        {
            throw FieldError.Invalid(field, "an embedding vector", "an empty vector");
        }

        bool nonZero = false;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw FieldError.Invalid($"{field}[{i}]", "a finite number", FieldError.Format(vector[i]));
            }

            nonZero |= vector[i] != 0;
        }

        if (!nonZero)
        {
            throw FieldError.Invalid(field, "a vector with at least one non-zero element (cosine similarity needs a direction)", "the zero vector");
        }
    }

    /// <summary>Throws unless <paramref name="value"/> is finite.</summary>
    public static void Finite(double value, string field)
    {
        if (!double.IsFinite(value))
        {
            throw FieldError.OutOfRange(field, "a finite number", FieldError.Format(value));
        }
    }
}
