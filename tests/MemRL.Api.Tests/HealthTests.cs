using System.Net;
using MemRL.Grains.Storage;

namespace MemRL.Api.Tests;

/// <summary>The probes mean something: ready follows the storage, live does not, and none needs a key.</summary>
public sealed class HealthTests : IAsyncLifetime
{
    private readonly OutageStore _store = new();
    private ApiSilo _silo = null!;

    public async Task InitializeAsync() => _silo = await ApiSilo.StartAsync(store: path => _store.Open(path));

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Fact]
    public async Task Ready_IsFalseWhileStorageIsDown_AndTrueAgainAfter()
    {
        using var probe = _silo.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await probe.GetJsonAsync("/health/live")).Status);
        Assert.Equal(HttpStatusCode.OK, (await probe.GetJsonAsync("/health/startup")).Status);
        var ready = await probe.GetJsonAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.Status);
        Assert.Equal("Healthy", ready.Body.GetProperty("checks").GetProperty("storage").GetProperty("status").GetString());

        _store.Down = true;
        var down = await probe.GetJsonAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        Assert.Equal("Unhealthy", down.Body.GetProperty("checks").GetProperty("storage").GetProperty("status").GetString());
        Assert.Equal("Healthy", down.Body.GetProperty("checks").GetProperty("silo").GetProperty("status").GetString());
        // Restarting the process would not bring the database back: live stays up.
        Assert.Equal(HttpStatusCode.OK, (await probe.GetJsonAsync("/health/live")).Status);

        _store.Down = false;
        Assert.Equal(HttpStatusCode.OK, (await probe.GetJsonAsync("/health/ready")).Status);
    }

    /// <summary>SQLite underneath; while <see cref="Down"/>, every call fails as an unreachable database would.</summary>
    private sealed class OutageStore : IMemoryStore
    {
        private IMemoryStore _inner = null!;

        public volatile bool Down;

        public IMemoryStore Open(string path)
        {
            _inner = new SqliteMemoryStore(path);
            return this;
        }

        public Task<StoredBank?> ReadBankAsync(string bank, CancellationToken cancellationToken = default) => Up(() => _inner.ReadBankAsync(bank, cancellationToken));

        public Task<bool> TryWriteBankAsync(string bank, long expectedRevision, StoredBank value, CancellationToken cancellationToken = default) =>
            Up(() => _inner.TryWriteBankAsync(bank, expectedRevision, value, cancellationToken));

        public Task<ShardImage> LoadShardAsync(string shard, CancellationToken cancellationToken = default) => Up(() => _inner.LoadShardAsync(shard, cancellationToken));

        public Task AppendAsync(string shard, ShardBatch batch, CancellationToken cancellationToken = default) => Up(() => _inner.AppendAsync(shard, batch, cancellationToken));

        public Task<bool> WriteSnapshotAsync(string shard, long position, IReadOnlyList<ReadOnlyMemory<byte>> chunks, CancellationToken cancellationToken = default) =>
            Up(() => _inner.WriteSnapshotAsync(shard, position, chunks, cancellationToken));

        public Task DiscardTailAsync(string shard, long expectedHead, long newHead, CancellationToken cancellationToken = default) =>
            Up(() => _inner.DiscardTailAsync(shard, expectedHead, newHead, cancellationToken));

        public Task PurgeShardsAsync(string bank, CancellationToken cancellationToken = default) => Up(() => _inner.PurgeShardsAsync(bank, cancellationToken));

        public Task<IReadOnlyList<StoredBankUsage>> ListBanksAsync(string prefix, CancellationToken cancellationToken = default) =>
            Up(() => _inner.ListBanksAsync(prefix, cancellationToken));

        public Task<IReadOnlyList<StoredHistory>> ReadHistoryAsync(string shard, long memorySequence, long beforeOrdinal, int limit, CancellationToken cancellationToken = default) =>
            Up(() => _inner.ReadHistoryAsync(shard, memorySequence, beforeOrdinal, limit, cancellationToken));

        public Task ProbeAsync(CancellationToken cancellationToken = default) => Up(() => _inner.ProbeAsync(cancellationToken));

        private Task<T> Up<T>(Func<Task<T>> call) => Down ? Task.FromException<T>(new IOException("database unreachable (test outage)")) : call();

        private Task Up(Func<Task> call) => Down ? Task.FromException(new IOException("database unreachable (test outage)")) : call();
    }
}
