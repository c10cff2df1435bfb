using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace MemRL.Errors;

/// <summary>
/// Bad input as data (DESIGN §5): every argument error names the field, the expected and the actual value, and where
/// the kind matters a reason code. They stay in the <see cref="ArgumentException"/> family and keep the parts in
/// <see cref="Exception.Data"/> under fixed keys: the BCL types need no serializer of their own, and Orleans' exception
/// codec carries <c>Data</c> between silos (tested on a two-silo cluster), so the HTTP API maps an error raised on any
/// silo without reading its message.
/// </summary>
public static class FieldError
{
    /// <summary>Data key of the field's name, as the caller spells it (the JSON member, header or query name).</summary>
    public const string FieldKey = "memrl.field";

    /// <summary>Data key of what the field must be.</summary>
    public const string ExpectedKey = "memrl.expected";

    /// <summary>Data key of what the field was: the bare value as text (a value quoted for the sentence is stored without
    /// its quotes); absent when the value is not worth repeating, such as a secret.</summary>
    public const string ActualKey = "memrl.actual";

    /// <summary>Data key of the reason code, present where a caller must tell kinds apart (see <see cref="Reasons"/>).</summary>
    public const string ReasonKey = "memrl.reason";

    /// <summary>Longest actual value repeated back; longer ones are cut with an ellipsis (a 1 MiB field is not echoed).</summary>
    public const int MaxActualLength = 200;

    /// <summary>
    /// An <see cref="ArgumentException"/> whose message is the house form "{field} is {actual}; expected {expected}." and
    /// whose data carries the parts.
    /// </summary>
    public static ArgumentException Invalid(string field, string expected, string? actual, string? reason = null, string? message = null) =>
        Attach(new ArgumentException(message ?? Sentence(field, expected, actual), field), field, expected, actual, reason);

    /// <summary>As <see cref="Invalid"/>, for a value outside its range.</summary>
    public static ArgumentOutOfRangeException OutOfRange(string field, string expected, string? actual, string? reason = null, string? message = null) =>
        Attach(new ArgumentOutOfRangeException(field, message ?? Sentence(field, expected, actual)), field, expected, actual, reason);

    /// <summary>As <see cref="Invalid"/>, for a required field that is missing.</summary>
    public static ArgumentNullException Missing(string field, string expected) =>
        Attach(new ArgumentNullException(field, $"{field} is missing; expected {expected}."), field, expected, null, Reasons.Missing);

    /// <summary>Adds the parts to an exception made elsewhere; returns it for <c>throw</c>.</summary>
    public static T Attach<T>(T exception, string field, string expected, string? actual, string? reason = null)
        where T : Exception
    {
        exception.Data[FieldKey] = field;
        exception.Data[ExpectedKey] = expected;
        if (actual is not null)
        {
            // The data holds the bare value as the caller sent it; quotes belong to the sentence only.
            exception.Data[ActualKey] = Clip(actual.Length >= 2 && actual[0] == '\'' && actual[^1] == '\'' ? actual[1..^1] : actual);
        }

        if (reason is not null)
        {
            exception.Data[ReasonKey] = reason;
        }

        return exception;
    }

    /// <summary>The parts of an error made by this class (or carrying its keys); false for any other exception.</summary>
    public static bool TryRead(Exception exception, [NotNullWhen(true)] out FieldErrorParts? parts)
    {
        ArgumentNullException.ThrowIfNull(exception);
        IDictionary data = exception.Data;
        if (data[FieldKey] is string field && data[ExpectedKey] is string expected)
        {
            parts = new FieldErrorParts(field, expected, data[ActualKey] as string, data[ReasonKey] as string);
            return true;
        }

        parts = null;
        return false;
    }

    /// <summary>The reason code of <paramref name="exception"/>, or null.</summary>
    public static string? ReasonOf(Exception exception) => exception.Data[ReasonKey] as string;

    /// <summary>A number as the house writes it in messages: round-trip form, invariant culture.</summary>
    public static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A text value quoted as the house writes it in messages.</summary>
    public static string Quote(string? value) => value is null ? "null" : $"'{Clip(value)}'";

    private static string Sentence(string field, string expected, string? actual) =>
        actual is null ? $"{field} is invalid; expected {expected}." : $"{field} is {actual}; expected {expected}.";

    private static string Clip(string value) => value.Length <= MaxActualLength ? value : string.Concat(value.AsSpan(0, MaxActualLength), "…");
}

/// <summary>What <see cref="FieldError.TryRead"/> finds.</summary>
public sealed record FieldErrorParts(string Field, string Expected, string? Actual, string? Reason);

/// <summary>Reason codes: stable strings a client may branch on (they appear as <c>reason</c> in problem details).</summary>
public static class Reasons
{
    /// <summary>A required field is absent.</summary>
    public const string Missing = "missing";

    /// <summary>A recall token that was valid and has expired.</summary>
    public const string TokenExpired = "token-expired";

    /// <summary>A recall token that is forged, malformed, undecodable or of another bank.</summary>
    public const string TokenInvalid = "token-invalid";

    /// <summary>A list cursor that is undecodable or of another bank.</summary>
    public const string CursorInvalid = "cursor-invalid";

    /// <summary>A change whose result would leave the finite range (a Q value, a vector norm).</summary>
    public const string NotFinite = "not-finite";

    /// <summary>A second reward of the same (recall, memory) with another value.</summary>
    public const string RewardConflict = "reward-conflict";

    /// <summary>A JSON member the endpoint does not know.</summary>
    public const string UnknownMember = "unknown-member";

    /// <summary>The storage service kept refusing for load after the retries with backoff (HTTP 503 with Retry-After).</summary>
    public const string StorageOverloaded = "storage-overloaded";

    /// <summary>A bank export stream that ends before its trailer.</summary>
    public const string ExportTruncated = "export-truncated";

    /// <summary>A bank export stream that fails a CRC or whose frames do not decode.</summary>
    public const string ExportCorrupted = "export-corrupted";

    /// <summary>A bank export stream of a format version newer than this build reads.</summary>
    public const string ExportVersion = "export-version";

    /// <summary>A bank export stream whose dimension is not the one the import asked for.</summary>
    public const string ExportDimension = "export-dimension";
}
