using System.Collections.Concurrent;
using MemRL.Client;
using MemRL.GrainInterfaces;

namespace MemRL.Api;

/// <summary>
/// The embedder id each bank recorded at creation, cached so that text calls do not ask the bank grain every time. An
/// id never changes for a bank's life; a bank deleted and made again (on this silo or another) may record another, so
/// the entry is dropped on delete here, and a text call the bank refuses for its embedder id drops it and retries once.
/// At most one entry per bank of the silo's tenants (bounded by the bank quota).
/// </summary>
public sealed class BankEmbedders
{
    private readonly ConcurrentDictionary<string, string> _ids = new(StringComparer.Ordinal);

    /// <summary>The embedder id of cluster bank <paramref name="clusterBank"/>; <see cref="BankNotFoundException"/> naming <paramref name="bank"/> when it does not exist.</summary>
    public async ValueTask<string> GetAsync(MemoryClient memory, string clusterBank, string bank)
    {
        if (_ids.TryGetValue(clusterBank, out string? id))
        {
            return id;
        }

        var info = await memory.GetBankAsync(clusterBank) ?? throw new BankNotFoundException(bank);
        _ids[clusterBank] = info.EmbedderId;
        return info.EmbedderId;
    }

    /// <summary>Forgets what is known of <paramref name="clusterBank"/>.</summary>
    public void Forget(string clusterBank) => _ids.TryRemove(clusterBank, out _);
}
