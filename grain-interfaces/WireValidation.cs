using System.Buffers;
using MemRL.Errors;
using MemRL.Index;

namespace MemRL.GrainInterfaces;

/// <summary>
/// Checks of requests shared by the client (before the network hop), the HTTP API and the grains (at the boundary): one
/// copy of each rule, so a mistake is named the same wherever it is found. Option ranges are MemRL.Core's
/// (<see cref="MemRL.Core.MemRLOptions"/>, <see cref="MemRL.Core.Recall.RecallOverrides"/>), rewards its <see cref="MemRL.Core.QRule"/>.
/// </summary>
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

        // The bank's own check, less the dimension: one rule for a vector, whichever side of the hop finds it bad.
        VectorValidation.ThrowIfInvalidElements(vector, field);
    }

    /// <summary>What a page limit must be, as every layer's error says it.</summary>
    public static readonly string PageLimitExpected = $"an integer in [1, {BankLimits.MaxPageSize}]";

    /// <summary>Throws unless <paramref name="limit"/> is in [1, <see cref="BankLimits.MaxPageSize"/>].</summary>
    public static void PageLimit(int limit)
    {
        if (limit is < 1 or > BankLimits.MaxPageSize)
        {
            throw FieldError.OutOfRange("limit", PageLimitExpected, FieldError.Format(limit));
        }
    }

    /// <summary>A write's time to live in seconds, as a span (null: no expiry).</summary>
    /// <exception cref="ArgumentException">Not finite, or outside 1 second to 100 years; names <c>ttlSeconds</c>.</exception>
    public static TimeSpan? TimeToLive(double? ttlSeconds)
    {
        if (ttlSeconds is not { } seconds)
        {
            return null;
        }

        if (!double.IsFinite(seconds) || seconds < Core.RetentionPolicy.MinIdleWindow.TotalSeconds || seconds > Core.RetentionPolicy.MaxSpan.TotalSeconds)
        {
            throw FieldError.OutOfRange("ttlSeconds", "a number of seconds from 1 to 3155760000 (100 years)", FieldError.Format(seconds));
        }

        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>Refuses a listing state outside the enum (a cast integer from a careless caller).</summary>
    /// <exception cref="ArgumentException">Reason <c>out-of-range</c>, naming <c>state</c>.</exception>
    public static void ListState(MemoryListState state)
    {
        if (!Enum.IsDefined(state))
        {
            throw FieldError.OutOfRange("state", "active, archived or all", FieldError.Format((int)state));
        }
    }

    /// <summary>Most best and worst memories a bank insight lists (each).</summary>
    public const int MaxInsightExtremes = 50;

    /// <summary>What the number of extreme memories must be, as every layer's error says it.</summary>
    public static readonly string InsightExtremesExpected = $"an integer in [0, {MaxInsightExtremes}]";

    /// <summary>Throws unless <paramref name="extremes"/> is in [0, <see cref="MaxInsightExtremes"/>]; the field is <c>extremes</c>.</summary>
    public static void InsightExtremes(int extremes)
    {
        if (extremes is < 0 or > MaxInsightExtremes)
        {
            throw FieldError.OutOfRange("extremes", InsightExtremesExpected, FieldError.Format(extremes));
        }
    }

    /// <summary>Throws unless a write's texts are present and within <see cref="BankLimits"/> (the intent's may be empty).</summary>
    public static void WriteTexts(string? intentText, string? experience)
    {
        _ = intentText ?? throw FieldError.Missing("intentText", "the intent's text (may be empty)");
        _ = experience ?? throw FieldError.Missing("experience", "the experience text");
        TextLength(intentText, "intentText", BankLimits.MaxIntentTextLength);
        TextLength(experience, "experience", BankLimits.MaxExperienceLength);
    }

    /// <summary>An edit: at least one of the experience and the metadata, each as a write would take it.</summary>
    public static void Edit(string? experience, IReadOnlyDictionary<string, string>? metadata)
    {
        if (experience is null && metadata is null)
        {
            throw FieldError.Missing("experience", "the new experience text, or metadata to replace the memory's (at least one)");
        }

        if (experience is not null)
        {
            TextLength(experience, "experience", BankLimits.MaxExperienceLength);
        }

        if (metadata is not null)
        {
            _ = ScopeWire.ToMetadata(metadata);
        }
    }

    /// <summary>Throws unless <paramref name="text"/> has at most <paramref name="max"/> characters.</summary>
    public static void TextLength(string text, string field, int max)
    {
        if (text.Length > max)
        {
            throw FieldError.Invalid(field, $"at most {max} characters", $"{text.Length} characters");
        }
    }
}
