namespace MemRL.Grains;

/// <summary>Bank names and shard grain keys.</summary>
public static class BankNames
{
    /// <summary>Throws unless the bank name is valid (see <see cref="GrainInterfaces.WireValidation.BankName"/>).</summary>
    public static void Validate(string? bank, string paramName = "bank") => GrainInterfaces.WireValidation.BankName(bank, paramName);

    /// <summary>The key of shard <paramref name="shard"/> of <paramref name="bank"/>.</summary>
    public static string ShardKey(string bank, int shard) => GrainInterfaces.ShardKeys.Of(bank, shard);

    /// <summary>Splits a shard key.</summary>
    public static (string Bank, int Shard) ParseShardKey(string key)
    {
        int slash = key.LastIndexOf('/');
        return (key[..slash], int.Parse(key.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture));
    }
}
