using System.Security.Cryptography;
using System.Text;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Client;

/// <summary>One write of a batch (<see cref="BankClient.WriteBatchAsync"/>); the members are those of a single write.</summary>
/// <param name="OperationId">The item's own idempotency key; null derives one from the batch's key and the item's index.</param>
public sealed record BatchWriteItem(
    float[] Intent, string IntentText, string Experience, bool Success, string? OperationId = null, string? RecallToken = null,
    string? EmbedderId = null, ScopeFields? Scope = null, IReadOnlyDictionary<string, string>? Metadata = null, double? TtlSeconds = null);

/// <summary>What one item of a batch wrote, in the batch's order.</summary>
/// <param name="Index">The item's position in the batch.</param>
/// <param name="OperationId">The operation id it was applied under (its own, or the one derived from the batch key).</param>
public sealed record BatchWriteResult(int Index, string OperationId, string MemoryId, bool CreatedKey, double Q);

/// <summary>The answer to a batch: one result per item, in order.</summary>
public sealed record BatchWriteResponse(string BatchKey, IReadOnlyList<BatchWriteResult> Results);

/// <summary>The rules of a batch that do not depend on the bank: its size, the item ids, and how errors name an item.</summary>
public static class BatchWrites
{
    /// <summary>Most items in one batch: a batch is one request (its body and answer are held whole), so a load is a
    /// sequence of batches.</summary>
    public const int MaxItems = 1000;

    /// <summary>
    /// The operation id of item <paramref name="index"/> of the batch keyed <paramref name="batchKey"/>: a digest of the key
    /// (so any key up to the id limit gives an id within it) and the index. The same batch sent again maps every item to
    /// the same id, so the items it applied return their first results and the rest apply: an interrupted batch resumes.
    /// </summary>
    public static string ItemOperationId(string batchKey, int index)
    {
        ArgumentNullException.ThrowIfNull(batchKey);
        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(batchKey));
        return $"batch-{Convert.ToHexStringLower(digest.AsSpan(0, 16))}-{index}";
    }

    /// <summary>Throws unless the batch holds 1 to <see cref="MaxItems"/> items.</summary>
    public static void ValidateCount(int count, string field = "items")
    {
        if (count is < 1 or > MaxItems)
        {
            throw FieldError.OutOfRange(field, $"1 to {MaxItems} items (send a larger load as several batches)", count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// Runs <paramref name="check"/> on item <paramref name="index"/>; a field error it raises is raised again naming the item
    /// (<c>items[3].intent</c>), with the same expected value, actual value and reason.
    /// </summary>
    public static void CheckItem(int index, Action check, string field = "items")
    {
        ArgumentNullException.ThrowIfNull(check);
        try
        {
            check();
        }
        catch (ArgumentException e) when (FieldError.TryRead(e, out var parts))
        {
            string named = $"{field}[{index}].{parts.Field}";
            throw e is ArgumentNullException
                ? FieldError.Missing(named, parts.Expected)
                : FieldError.Invalid(named, parts.Expected, parts.Actual, parts.Reason);
        }
    }
}
