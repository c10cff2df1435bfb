using System.Buffers;
using System.Security.Claims;
using MemRL.Errors;
using MemRL.GrainInterfaces;

namespace MemRL.Api;

/// <summary>
/// Tenant isolation by construction: the cluster sees a bank as <c>{tenant}.{bank}</c>, and the tenant part comes only
/// from the caller's key, never from the request. Tenant ids have no '.', so the first '.' splits the name and no
/// (tenant, bank) pair can spell another tenant's bank. Memory ids carry their bank's incarnation and recall tokens
/// their bank's name, so neither reaches past the caller's own banks either (the cluster checks both).
/// </summary>
public static class Tenants
{
    /// <summary>Longest tenant id.</summary>
    public const int MaxTenantLength = 32;

    /// <summary>Longest bank name a tenant may use: the cluster's limit less the tenant prefix.</summary>
    public const int MaxBankNameLength = BankLimits.MaxBankNameLength - MaxTenantLength - 1;

    /// <summary>The claim that carries the caller's tenant.</summary>
    public const string TenantClaim = "memrl:tenant";

    /// <summary>The claim present when the caller's key is a local key (the embedded default's own tenant).</summary>
    public const string LocalClaim = "memrl:local";

    /// <summary>The claim present when the caller's key may write.</summary>
    public const string WriterClaim = "memrl:writer";

    private static readonly SearchValues<char> TenantChars = SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789-");
    private static readonly SearchValues<char> BankChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    /// <summary>True for 1 to 32 lower-case letters, digits or '-'.</summary>
    public static bool IsValidTenant(string? tenant) =>
        !string.IsNullOrEmpty(tenant) && tenant.Length <= MaxTenantLength && !tenant.AsSpan().ContainsAnyExcept(TenantChars);

    /// <summary>What a bank name must be, as an error's expected value.</summary>
    public static readonly string BankNameRule = $"1 to {MaxBankNameLength} letters, digits, '-', '_' or '.', other than '.' and '..'";

    /// <summary>
    /// True for a bank name a tenant may use (<see cref="BankNameRule"/>). Not "." or "..": no path can address them
    /// (the API refuses dot segments), so such a bank could be made and never used or deleted.
    /// </summary>
    public static bool IsValidBankName(string? bank) =>
        !string.IsNullOrEmpty(bank) && bank.Length <= MaxBankNameLength && !bank.AsSpan().ContainsAnyExcept(BankChars) && bank is not ("." or "..");

    /// <summary>The cluster's name for <paramref name="bank"/> of <paramref name="tenant"/>; throws naming the field when the name is bad.</summary>
    /// <param name="tenant">The caller's tenant.</param>
    /// <param name="bank">The tenant's bank name.</param>
    /// <param name="field">Where the caller gave the name: the path parameter <c>bank</c>, or <c>name</c> in a create body.</param>
    public static string ClusterBankName(string tenant, string? bank, string field = "bank")
    {
        if (!IsValidBankName(bank))
        {
            throw bank is null ? FieldError.Missing(field, BankNameRule) : FieldError.Invalid(field, BankNameRule, FieldError.Quote(bank));
        }

        return $"{tenant}.{bank}";
    }

    /// <summary>The tenant the authenticated caller acts for.</summary>
    public static string TenantOf(ClaimsPrincipal user) =>
        user.FindFirstValue(TenantClaim) ?? throw new InvalidOperationException("The request was not authenticated with an API key.");
}
