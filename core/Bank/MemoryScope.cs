using System.Globalization;
using System.Text;
using MemRL.Errors;

namespace MemRL.Core.Bank;

/// <summary>
/// Who a memory belongs to: the four well-known scopes of mem0, Zep and LangGraph's store, each optional. Keys merge
/// only between memories of equal scope unless the bank opts in (<see cref="MemRLOptions.MergeAcrossScopes"/>), so user
/// B's write never joins user A's key and is found through A's vector (docs/scopes.md).
/// </summary>
public sealed record MemoryScope(string? UserId = null, string? AgentId = null, string? SessionId = null, string? RunId = null)
{
    /// <summary>Longest scope value, in UTF-16 characters.</summary>
    public const int MaxValueLength = 128;

    /// <summary>The scope of a memory written without one.</summary>
    public static MemoryScope None { get; } = new();

    /// <summary>The scope field names, as the API spells them.</summary>
    public static IReadOnlyList<string> FieldNames { get; } = ["userId", "agentId", "sessionId", "runId"];

    /// <summary>True when no field is set.</summary>
    public bool IsEmpty => UserId is null && AgentId is null && SessionId is null && RunId is null;

    /// <summary>The value of the field named <paramref name="field"/> (one of <see cref="FieldNames"/>).</summary>
    public string? ValueOf(string field) => field switch
    {
        "userId" => UserId,
        "agentId" => AgentId,
        "sessionId" => SessionId,
        "runId" => RunId,
        _ => throw FieldError.Invalid(nameof(field), "userId, agentId, sessionId or runId", FieldError.Quote(field)),
    };

    /// <summary>Checks every field's limits; <paramref name="prefix"/> names the object in errors (e.g. "scope").</summary>
    public MemoryScope Validated(string prefix)
    {
        foreach (string field in FieldNames)
        {
            if (ValueOf(field) is { } value)
            {
                ValidateValue(value, prefix.Length == 0 ? field : $"{prefix}.{field}");
            }
        }

        return this;
    }

    /// <summary>A scope value: 1 to <see cref="MaxValueLength"/> characters, no control characters.</summary>
    public static void ValidateValue(string value, string field)
    {
        if (value.Length is 0 or > MaxValueLength)
        {
            throw FieldError.Invalid(field, $"1 to {MaxValueLength} characters", $"{value.Length} characters");
        }

        MemoryMetadata.RejectControlCharacters(value, field);
    }
}

/// <summary>
/// Free string key–values a memory carries from its write on (never changed by recall or reward). Kept sorted by key
/// (ordinal), so equal metadata encodes to equal bytes and is compared in one pass.
/// </summary>
public sealed class MemoryMetadata
{
    /// <summary>Most entries per memory.</summary>
    public const int MaxEntries = 16;

    /// <summary>Longest key, in characters (of <c>[A-Za-z0-9_.-]</c>).</summary>
    public const int MaxKeyLength = 64;

    /// <summary>Longest value, in UTF-16 characters.</summary>
    public const int MaxValueLength = 256;

    /// <summary>Most UTF-8 bytes of all keys and values together.</summary>
    public const int MaxTotalBytes = 4096;

    private readonly KeyValuePair<string, string>[] _entries;

    private MemoryMetadata(KeyValuePair<string, string>[] sortedEntries) => _entries = sortedEntries;

    /// <summary>No metadata.</summary>
    public static MemoryMetadata Empty { get; } = new([]);

    /// <summary>The entries, by key (ordinal).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Entries => _entries;

    /// <summary>Number of entries.</summary>
    public int Count => _entries.Length;

    /// <summary>The value of <paramref name="key"/>, or null.</summary>
    public string? ValueOf(string key)
    {
        int lo = 0, hi = _entries.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int order = string.CompareOrdinal(_entries[mid].Key, key);
            if (order == 0)
            {
                return _entries[mid].Value;
            }

            if (order < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return null;
    }

    /// <summary>Validated metadata from a map; null or empty gives <see cref="Empty"/>. Errors name <c>{prefix}.{key}</c>.</summary>
    public static MemoryMetadata From(IEnumerable<KeyValuePair<string, string>>? entries, string prefix = "metadata")
    {
        if (entries is null)
        {
            return Empty;
        }

        var list = entries.ToList();
        if (list.Count == 0)
        {
            return Empty;
        }

        if (list.Count > MaxEntries)
        {
            throw FieldError.Invalid(prefix, $"at most {MaxEntries} entries", $"{list.Count} entries");
        }

        int bytes = 0;
        foreach (var (key, value) in list)
        {
            ValidateKey(key, prefix);
            if (value is null)
            {
                throw FieldError.Missing($"{prefix}.{key}", "a string value");
            }

            ValidateValue(value, $"{prefix}.{key}");
            bytes += Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value);
        }

        if (bytes > MaxTotalBytes)
        {
            throw FieldError.Invalid(prefix, $"at most {MaxTotalBytes} UTF-8 bytes of keys and values", $"{bytes} bytes");
        }

        var sorted = list.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        for (int i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Key == sorted[i - 1].Key)
            {
                throw FieldError.Invalid($"{prefix}.{sorted[i].Key}", "each key once", "a repeated key");
            }
        }

        return new MemoryMetadata(sorted);
    }

    /// <summary>A metadata key: 1 to <see cref="MaxKeyLength"/> characters of <c>[A-Za-z0-9_.-]</c>.</summary>
    public static void ValidateKey(string? key, string prefix)
    {
        if (string.IsNullOrEmpty(key) || key.Length > MaxKeyLength || !key.All(IsKeyChar))
        {
            throw FieldError.Invalid($"{prefix}.{Clip(key)}", $"a key of 1 to {MaxKeyLength} characters of A-Z, a-z, 0-9, '_', '.', '-'",
                key is null ? "null" : $"{FieldError.Quote(key)} ({key.Length} characters)");
        }
    }

    /// <summary>A metadata value: at most <see cref="MaxValueLength"/> characters, no control characters.</summary>
    public static void ValidateValue(string value, string field)
    {
        if (value.Length > MaxValueLength)
        {
            throw FieldError.Invalid(field, $"at most {MaxValueLength} characters", $"{value.Length} characters");
        }

        RejectControlCharacters(value, field);
    }

    internal static void RejectControlCharacters(string value, string field)
    {
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsControl(value[i]))
            {
                throw FieldError.Invalid(field, "text without control characters",
                    string.Create(CultureInfo.InvariantCulture, $"U+{(int)value[i]:X4} at index {i}"));
            }
        }
    }

    /// <summary>Equal entries (ordinal).</summary>
    public bool SameAs(MemoryMetadata other) =>
        _entries.Length == other._entries.Length && _entries.AsSpan().SequenceEqual(other._entries);

    private static bool IsKeyChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-';

    private static string Clip(string? key) => key is null ? "" : key.Length > MaxKeyLength ? key[..MaxKeyLength] + "…" : key;
}
