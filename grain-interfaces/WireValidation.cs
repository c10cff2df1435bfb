using System.Buffers;

namespace MemRL.GrainInterfaces;

/// <summary>Checks shared by the client (before the network hop) and the grains (at the boundary).</summary>
public static class WireValidation
{
    private static readonly SearchValues<char> BankNameChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    /// <summary>Throws unless <paramref name="bank"/> is 1..128 characters of letters, digits, '-', '_' or '.'.</summary>
    public static void BankName(string? bank, string paramName = "bank")
    {
        if (string.IsNullOrEmpty(bank) || bank.Length > BankLimits.MaxBankNameLength || bank.AsSpan().ContainsAnyExcept(BankNameChars))
        {
            throw new ArgumentException(
                $"{paramName} is '{bank}'; expected 1 to {BankLimits.MaxBankNameLength} letters, digits, '-', '_' or '.'.", paramName);
        }
    }

    /// <summary>Throws unless <paramref name="operationId"/> is 1..200 printable characters.</summary>
    public static void OperationId(string? operationId, string paramName = "OperationId")
    {
        if (string.IsNullOrEmpty(operationId) || operationId.Length > BankLimits.MaxOperationIdLength || operationId.Any(char.IsControl))
        {
            throw new ArgumentException(
                $"{paramName} is '{operationId}'; expected 1 to {BankLimits.MaxOperationIdLength} printable characters.", paramName);
        }
    }

    /// <summary>Throws unless <paramref name="vector"/> is non-empty, finite and not all zeros (the bank checks the dimension).</summary>
    public static void Vector(float[]? vector, string paramName)
    {
        if (vector is null || vector.Length == 0)
        {
            throw new ArgumentException($"{paramName} is empty; expected an embedding vector.", paramName);
        }

        bool nonZero = false;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw new ArgumentException($"{paramName}[{i}] is {vector[i]}; every element must be a finite number.", paramName);
            }

            nonZero |= vector[i] != 0;
        }

        if (!nonZero)
        {
            throw new ArgumentException($"{paramName} is the zero vector; cosine similarity needs a vector with non-zero length.", paramName);
        }
    }

    /// <summary>Throws unless <paramref name="value"/> is finite.</summary>
    public static void Finite(double value, string paramName)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(paramName, $"{paramName} is {value}; expected a finite number.");
        }
    }
}
