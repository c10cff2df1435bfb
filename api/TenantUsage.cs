using System.Collections.Concurrent;
using System.Globalization;
using MemRL.Client;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace MemRL.Api;

/// <summary>
/// Each tenant's banks, memories and text bytes, for the quotas. Read from the store in one query (no shard is asked)
/// at most every <see cref="QuotaOptions.UsageMaxAge"/> per tenant; between reads this silo adds what it accepted
/// itself, and a delete makes the next check read again. A tenant writing through several silos at once can therefore
/// go over a quota by what the other silos accept within one <see cref="QuotaOptions.UsageMaxAge"/>.
/// </summary>
internal sealed class TenantUsage(MemoryClient memory, IOptions<ApiOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Usage> _byTenant = new(StringComparer.Ordinal);
    private readonly QuotaOptions _quotas = options.Value.Quotas;

    /// <summary>The tenant's banks (tenant's names) with what each stores, read now; refreshes the cached usage too.</summary>
    public async Task<IReadOnlyList<BankUsage>> ListAsync(string tenant)
    {
        string prefix = tenant + ".";
        var banks = await memory.ListBanksAsync(prefix);
        _byTenant[tenant] = new Usage(banks.Count, banks.Sum(b => b.Memories), banks.Sum(b => b.TextBytes), time.GetUtcNow());
        return banks.Select(b => b with { Name = b.Name[prefix.Length..] }).ToList();
    }

    /// <summary>Refuses a new bank over <see cref="QuotaOptions.MaxBanks"/>.</summary>
    public async Task CheckNewBankAsync(string tenant)
    {
        var usage = await GetAsync(tenant);
        if (usage.Banks >= _quotas.MaxBanks)
        {
            throw new QuotaExceededException("banks", "MaxBanks", _quotas.MaxBanks, usage.Banks);
        }
    }

    /// <summary>Refuses a write of <paramref name="textBytes"/> over <see cref="QuotaOptions.MaxMemories"/> or <see cref="QuotaOptions.MaxTextBytes"/>.</summary>
    public async Task CheckWriteAsync(string tenant, long textBytes)
    {
        var usage = await GetAsync(tenant);
        if (usage.Memories >= _quotas.MaxMemories)
        {
            throw new QuotaExceededException("memories", "MaxMemories", _quotas.MaxMemories, usage.Memories);
        }

        if (usage.TextBytes + textBytes > _quotas.MaxTextBytes)
        {
            throw new QuotaExceededException("textBytes", "MaxTextBytes", _quotas.MaxTextBytes, usage.TextBytes, textBytes);
        }
    }

    /// <summary>Refuses an edit that makes the tenant's text <paramref name="extraBytes"/> longer when that passes <see cref="QuotaOptions.MaxTextBytes"/>
    /// (an edit adds no memory, so the memory quota does not apply).</summary>
    public async Task CheckTextGrowthAsync(string tenant, long extraBytes)
    {
        if (extraBytes <= 0)
        {
            return;
        }

        var usage = await GetAsync(tenant);
        if (usage.TextBytes + extraBytes > _quotas.MaxTextBytes)
        {
            throw new QuotaExceededException("textBytes", "MaxTextBytes", _quotas.MaxTextBytes, usage.TextBytes, extraBytes);
        }
    }

    /// <summary>Refuses an edit whose new experience text would take the tenant over <see cref="QuotaOptions.MaxTextBytes"/>:
    /// it counts what the new text adds over the memory's current one (metadata is not counted, as on a write); no new
    /// text, or a shorter one, never fails.</summary>
    public Task CheckEditAsync(string tenant, string currentExperience, string? newExperience) =>
        newExperience is null
            ? Task.CompletedTask
            : CheckTextGrowthAsync(tenant, System.Text.Encoding.UTF8.GetByteCount(newExperience) - System.Text.Encoding.UTF8.GetByteCount(currentExperience));

    /// <summary>Refuses an import whose memories or text would take the tenant over <see cref="QuotaOptions.MaxMemories"/> or <see cref="QuotaOptions.MaxTextBytes"/>.</summary>
    public async Task CheckImportAsync(string tenant, long memories, long textBytes)
    {
        var usage = await GetAsync(tenant);
        if (usage.Memories + memories > _quotas.MaxMemories)
        {
            throw new QuotaExceededException("memories", "MaxMemories", _quotas.MaxMemories, usage.Memories, memories);
        }

        if (usage.TextBytes + textBytes > _quotas.MaxTextBytes)
        {
            throw new QuotaExceededException("textBytes", "MaxTextBytes", _quotas.MaxTextBytes, usage.TextBytes, textBytes);
        }
    }

    /// <summary>Counts a bank this silo created.</summary>
    public void AddBank(string tenant) => _byTenant.AddOrUpdate(tenant, _ => Usage.Unknown, (_, u) => u with { Banks = u.Banks + 1 });

    /// <summary>Counts a memory this silo wrote.</summary>
    public void AddWrite(string tenant, long textBytes) =>
        _byTenant.AddOrUpdate(tenant, _ => Usage.Unknown, (_, u) => u with { Memories = u.Memories + 1, TextBytes = u.TextBytes + textBytes });

    /// <summary>After a delete: the next check reads the store (what a delete frees is not known here).</summary>
    public void Forget(string tenant) => _byTenant.TryRemove(tenant, out _);

    private async ValueTask<Usage> GetAsync(string tenant)
    {
        if (_byTenant.TryGetValue(tenant, out var usage) && usage != Usage.Unknown && time.GetUtcNow() - usage.ReadAt <= _quotas.UsageMaxAge)
        {
            return usage;
        }

        await ListAsync(tenant);
        return _byTenant[tenant];
    }

    private sealed record Usage(long Banks, long Memories, long TextBytes, DateTimeOffset ReadAt)
    {
        public static readonly Usage Unknown = new(0, 0, 0, DateTimeOffset.MinValue);
    }
}

/// <summary>A call that would take the tenant over a quota: 403, reason <c>quota</c>, naming the quota, limit and current value.</summary>
internal sealed class QuotaExceededException(string quota, string key, long limit, long current, long? adding = null)
    : Exception($"The tenant's {quota} quota is {limit.ToString(CultureInfo.InvariantCulture)} and it has {current.ToString(CultureInfo.InvariantCulture)}"
        + (adding is { } a ? $"; this call adds {a.ToString(CultureInfo.InvariantCulture)}." : ".")
        + $" Delete some, or raise MemRL:Api:Quotas:{key}.")
{
    /// <summary>The quota's name (banks, memories, textBytes).</summary>
    public string Quota { get; } = quota;

    /// <summary>Its configuration key under MemRL:Api:Quotas.</summary>
    public string Key { get; } = key;

    /// <summary>The limit.</summary>
    public long Limit { get; } = limit;

    /// <summary>The tenant's current value.</summary>
    public long Current { get; } = current;

    // 403, not 429: waiting does not bring a tenant under a quota, so a client must not retry with backoff; only a
    // delete or a new limit does.
    public Task WriteAsync(HttpContext context) =>
        Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "Quota exceeded", Message, null,
            adding is null ? $"fewer than {Limit.ToString(CultureInfo.InvariantCulture)} {Quota} (MemRL:Api:Quotas:{Key})" : $"at most {Limit.ToString(CultureInfo.InvariantCulture)} {Quota} in all (MemRL:Api:Quotas:{Key})",
            Current.ToString(CultureInfo.InvariantCulture), "quota",
            new Dictionary<string, object?> { ["quota"] = Quota, ["limit"] = Limit, ["current"] = Current });
}
