using System.Globalization;

namespace MemRL.Core;

/// <summary>Range checks whose messages name the field, the allowed range and the actual value.</summary>
internal static class RangeCheck
{
    public static void Closed(List<(string, string)> errors, string name, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            errors.Add((name, $"{name} is {Format(value)}; expected a number in [{Format(min)}, {Format(max)}]."));
        }
    }

    public static void Closed(List<(string, string)> errors, string name, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            errors.Add((name, $"{name} is {value}; expected an integer in [{min}, {max}]."));
        }
    }

    public static void Finite(List<(string, string)> errors, string name, double value)
    {
        if (!double.IsFinite(value))
        {
            errors.Add((name, $"{name} is {Format(value)}; expected a finite number."));
        }
    }

    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
