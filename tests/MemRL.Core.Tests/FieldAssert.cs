using MemRL.Errors;

namespace MemRL.Core.Tests;

/// <summary>Asserts an argument error's parts (DESIGN §5), not its wording.</summary>
internal static class FieldAssert
{
    public static FieldErrorParts Parts(Exception error, string field, string? actual = null)
    {
        Assert.True(FieldError.TryRead(error, out var parts), $"no field-error parts on: {error.Message}");
        Assert.Equal(field, parts.Field);
        Assert.False(string.IsNullOrEmpty(parts.Expected), "expected must be a phrase");
        if (actual is not null)
        {
            Assert.Equal(actual, parts.Actual);
        }

        return parts;
    }
}
