using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using MemRL.Errors;

namespace MemRL.GrainInterfaces;

/// <summary>
/// A memory's identity: the bank incarnation (so ids of a deleted and re-created bank are rejected), the virtual slot
/// (which routes to a shard without lookup) and the bank-wide sequence (never issued twice). Opaque to clients as the
/// string <c>{incarnation:x8}-{slot:x4}-{sequence:x}</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("memrl.MemoryId")]
public readonly record struct MemoryId([property: Id(0)] uint Incarnation, [property: Id(1)] int Slot, [property: Id(2)] long Sequence)
{
    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Incarnation:x8}-{Slot:x4}-{Sequence:x}");

    /// <summary>Parses the string form; false for anything else.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out MemoryId id)
    {
        id = default;
        if (text is null || text.Length > 40)
        {
            return false;
        }

        var parts = text.Split('-');
        if (parts.Length != 3 || parts[0].Length != 8 || parts[1].Length != 4 || parts[2].Length is 0 or > 16
            || !uint.TryParse(parts[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint incarnation)
            || !int.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int slot)
            || !long.TryParse(parts[2], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long sequence)
            || slot >= BankLimits.VirtualSlots || sequence < 0)
        {
            return false;
        }

        id = new MemoryId(incarnation, slot, sequence);
        return true;
    }

    /// <summary>Parses the string form or throws an <see cref="ArgumentException"/> naming <paramref name="field"/>.</summary>
    /// <param name="text">The string form.</param>
    /// <param name="field">The field as the caller spells it (<c>memoryId</c>, <c>memoryIds[2]</c>).</param>
    public static MemoryId Parse(string? text, string field)
    {
        const string expected = "a memory id of the form 'xxxxxxxx-xxxx-x…' (hex) as returned by recall or write";
        return TryParse(text, out var id) ? id
            : text is null ? throw FieldError.Missing(field, expected)
            : throw FieldError.Invalid(field, expected, FieldError.Quote(text));
    }
}
