using MemRL.Errors;

namespace MemRL.Core;

/// <summary>
/// Range checks that collect every violation as field-error parts, so one exception can list them all (a caller fixing
/// a configuration sees every mistake at once) while its data carries the first one's parts.
/// </summary>
public static class RangeCheck
{
    public static void Closed(List<FieldErrorParts> errors, string field, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            errors.Add(new FieldErrorParts(field, $"a number in [{FieldError.Format(min)}, {FieldError.Format(max)}]", FieldError.Format(value), null));
        }
    }

    public static void Closed(List<FieldErrorParts> errors, string field, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add(new FieldErrorParts(field, $"an integer in [{min}, {max}]", FieldError.Format(value), null));
        }
    }

    public static void Finite(List<FieldErrorParts> errors, string field, double value)
    {
        if (!double.IsFinite(value))
        {
            errors.Add(new FieldErrorParts(field, "a finite number", FieldError.Format(value), null));
        }
    }

    /// <summary>The house sentence of one error: "{field} is {actual}; expected {expected}."</summary>
    public static string Sentence(FieldErrorParts error) =>
        $"{error.Field} is {error.Actual ?? "invalid"}; expected {error.Expected}.";

    /// <summary>Throws one exception listing every error, with the first one's parts as its data; returns when there are none.</summary>
    public static void ThrowIfAny(IReadOnlyList<FieldErrorParts> errors)
    {
        if (errors.Count == 0)
        {
            return;
        }

        var first = errors[0];
        throw FieldError.OutOfRange(first.Field, first.Expected, first.Actual, first.Reason, string.Join(" ", errors.Select(Sentence)));
    }

    /// <summary>A .NET member name as the JSON member it binds to, behind an optional path: ("options.", "K1") → "options.k1".</summary>
    public static string Field(string prefix, string member) => string.Concat(prefix, member[..1].ToLowerInvariant(), member[1..]);
}
