namespace MemRL.Grains;

/// <summary>Operation ids: the idempotency keys of mutating calls.</summary>
public static class OperationIds
{
    /// <summary>Throws unless the operation id is valid (see <see cref="GrainInterfaces.WireValidation.OperationId"/>).</summary>
    public static void Validate(string? operationId, string field = GrainInterfaces.WireValidation.OperationIdField) => GrainInterfaces.WireValidation.OperationId(operationId, field);

    /// <summary>The virtual slot a new key written by this operation lands in: spread evenly, and the same on a retry.</summary>
    public static int SlotOf(string operationId)
    {
        // FNV-1a: stable across processes and runtimes, unlike string.GetHashCode.
        uint hash = 2166136261;
        foreach (char c in operationId)
        {
            hash = (hash ^ c) * 16777619;
        }

        return (int)(hash % GrainInterfaces.BankLimits.VirtualSlots);
    }
}
