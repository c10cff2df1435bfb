using MemRL.Errors;

namespace MemRL.Cluster.Tests.Fixtures;

/// <summary>Asserts an argument error's parts (DESIGN §5), which travel between silos as exception data, not its wording.</summary>
internal static class FieldAssert
{
    public static FieldErrorParts Parts(Exception error, string field, string? actual = null, string? reason = null)
    {
        Assert.True(FieldError.TryRead(error, out var parts), $"no field-error parts on {error.GetType().Name}: {error.Message}");
        Assert.Equal(field, parts.Field);
        Assert.False(string.IsNullOrEmpty(parts.Expected), "expected must be a phrase");
        if (actual is not null)
        {
            Assert.Equal(actual, parts.Actual);
        }

        if (reason is not null)
        {
            Assert.Equal(reason, parts.Reason);
        }

        return parts;
    }
}
