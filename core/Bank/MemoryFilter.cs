using MemRL.Errors;

namespace MemRL.Core.Bank;

/// <summary>One field of a filter: the memory's value must be one of <paramref name="Values"/>.</summary>
/// <param name="Field">A scope field (<c>userId</c>, <c>agentId</c>, <c>sessionId</c>, <c>runId</c>) or <c>metadata.&lt;key&gt;</c>.</param>
public sealed record FilterField(string Field, IReadOnlyList<string> Values);

/// <summary>
/// Which memories a recall, a listing or a delete by scope sees: fields combined with AND, each an equality or a set
/// membership. OR across fields, NOT and ranges are not supported (docs/scopes.md). Decided per memory; a key takes part
/// in Phase A when at least one of its memories matches, with only its matching memories (before the per-key cap).
/// </summary>
public sealed class MemoryFilter
{
    /// <summary>Most fields per filter.</summary>
    public const int MaxFields = 16;

    /// <summary>Most values per field.</summary>
    public const int MaxValues = 64;

    private const string MetadataPrefix = "metadata.";

    private readonly FilterField[] _fields;
    // Per field, how to read the memory's value: a scope field's index, or -1 and the metadata key.
    private readonly (int Scope, string? MetadataKey, HashSet<string> Values)[] _tests;

    private MemoryFilter(FilterField[] fields)
    {
        _fields = fields;
        _tests = new (int, string?, HashSet<string>)[fields.Length];
        for (int i = 0; i < fields.Length; i++)
        {
            var field = fields[i];
            int scope = ScopeIndex(field.Field);
            _tests[i] = (scope, scope < 0 ? field.Field[MetadataPrefix.Length..] : null, new HashSet<string>(field.Values, StringComparer.Ordinal));
        }
    }

    /// <summary>The fields, sorted by name (ordinal), each with its distinct values sorted: the canonical form.</summary>
    public IReadOnlyList<FilterField> Fields => _fields;

    /// <summary>True when some field is a scope field (a delete by scope needs one).</summary>
    public bool HasScopeField => _tests.Any(t => t.Scope >= 0);

    /// <summary>
    /// A validated filter; null when <paramref name="fields"/> is null or empty (no filter). Errors name
    /// <c>{prefix}.{field}</c> (<c>{field}</c> when the prefix is empty, as for query parameters): an unknown field, an
    /// empty or oversized set, a value outside the field's limits.
    /// </summary>
    public static MemoryFilter? Create(IEnumerable<FilterField>? fields, string prefix = "filter")
    {
        if (fields is null)
        {
            return null;
        }

        var list = fields.ToList();
        if (list.Count == 0)
        {
            return null;
        }

        if (list.Count > MaxFields)
        {
            throw FieldError.Invalid(prefix.Length == 0 ? "filter" : prefix, $"at most {MaxFields} fields", $"{list.Count} fields");
        }

        var canonical = new List<FilterField>(list.Count);
        foreach (var field in list)
        {
            if (field?.Field is not { } name)
            {
                throw FieldError.Missing(prefix.Length == 0 ? "filter" : prefix, "a field name");
            }

            string path = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (ScopeIndex(name) < 0)
            {
                if (!name.StartsWith(MetadataPrefix, StringComparison.Ordinal))
                {
                    throw FieldError.Invalid(path, "one of userId, agentId, sessionId, runId or metadata.<key>", FieldError.Quote(name));
                }

                MemoryMetadata.ValidateKey(name[MetadataPrefix.Length..], prefix.Length == 0 ? "metadata" : prefix + ".metadata");
            }

            if (field.Values is not { Count: > 0 and <= MaxValues } values)
            {
                throw FieldError.Invalid(path, $"a value or a list of 1 to {MaxValues} values", $"{field.Values?.Count ?? 0} values");
            }

            foreach (string? value in values)
            {
                if (value is null)
                {
                    throw FieldError.Invalid(path, "string values (an absent field is not a value: leave the field out)", "null");
                }

                if (ScopeIndex(name) >= 0)
                {
                    MemoryScope.ValidateValue(value, path);
                }
                else
                {
                    MemoryMetadata.ValidateValue(value, path);
                }
            }

            var distinct = values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
            canonical.Add(new FilterField(name, distinct));
        }

        canonical.Sort(static (a, b) => string.CompareOrdinal(a.Field, b.Field));
        for (int i = 1; i < canonical.Count; i++)
        {
            if (canonical[i].Field == canonical[i - 1].Field)
            {
                throw FieldError.Invalid(prefix.Length == 0 ? canonical[i].Field : $"{prefix}.{canonical[i].Field}", "each field once (a list of values is a set membership)", "a repeated field");
            }
        }

        return new MemoryFilter([.. canonical]);
    }

    /// <summary>Whether a memory of <paramref name="scope"/> with <paramref name="metadata"/> passes every field.</summary>
    public bool Matches(MemoryScope scope, MemoryMetadata metadata)
    {
        foreach (var (index, metadataKey, values) in _tests)
        {
            string? value = index switch
            {
                0 => scope.UserId,
                1 => scope.AgentId,
                2 => scope.SessionId,
                3 => scope.RunId,
                _ => metadata.ValueOf(metadataKey!),
            };
            if (value is null || !values.Contains(value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="memory"/> passes.</summary>
    public bool Matches(MemoryRecord memory) => Matches(memory.Scope, memory.Metadata);

    /// <summary>Whether any memory of <paramref name="key"/> passes: the key takes part in a filtered Phase A.</summary>
    public bool MatchesAny(IntentKey key)
    {
        foreach (var memory in key.Memories)
        {
            if (Matches(memory))
            {
                return true;
            }
        }

        return false;
    }

    private static int ScopeIndex(string field) => field switch
    {
        "userId" => 0,
        "agentId" => 1,
        "sessionId" => 2,
        "runId" => 3,
        _ => -1,
    };
}
