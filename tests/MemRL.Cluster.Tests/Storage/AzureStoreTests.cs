using System.Net;
using Azure.Core;
using Azure.Core.Pipeline;
using MemRL.Grains.Storage;

namespace MemRL.Cluster.Tests.Storage;

/// <summary>
/// What the Azure store must do beyond the shared contract, because of Azure's limits: values past an entity's size, a
/// commit past a transaction's 100 entities, a stale second activation in another silo (a second store instance),
/// throttling retried and then reported as an overload, and an acknowledgement lost after the service applied the commit.
/// </summary>
public sealed class AzureStoreTests
{
    private static string NewShard() => $"azure-{Guid.NewGuid():N}/0";

    private static AzureMemoryStore Open(Action<ClientOptions>? configure = null) =>
        AzureStorageClients.CreateStore(new StorageOptions { Provider = StorageProvider.Azure, AzureConnectionString = AzuriteFactAttribute.ConnectionString }, configure);

    [AzuriteFact]
    public async Task AppendAsync_StoresValuesLargerThanAnEntity_AndCommitsLargerThanATransaction()
    {
        var store = Open();
        string shard = NewShard();
        // 2 MiB of experience (past the 1 MiB entity: a blob), a 3-byte-per-char intent past 64 KiB (segments), and
        // 250 rows (past 100 entities per transaction: staged before the commit).
        string huge = new('x', 2 << 20);
        string wide = new('€', 40_000);
        var puts = Enumerable.Range(3, 250).Select(i => new StoredPayload(i, $"intent {i}", $"experience {i}", [i, 1f])).ToList();
        puts.Add(new StoredPayload(1, "big", huge, null));
        puts.Add(new StoredPayload(2, wide, "wide", [0.5f, float.Epsilon, -0f]));
        var bigRecord = new byte[700_000];
        Random.Shared.NextBytes(bigRecord);
        await store.AppendAsync(shard, new ShardBatch(0, bigRecord, puts, []));

        var image = await Open().LoadShardAsync(shard);

        Assert.Equal(1, image.Head);
        Assert.Equal(bigRecord, Assert.Single(image.Tail).Record);
        Assert.Equal(252, image.Payloads.Count);
        var byId = image.Payloads.ToDictionary(p => p.Sequence);
        Assert.Equal(huge, byId[1].Experience);
        Assert.Equal((wide, "wide"), (byId[2].IntentText, byId[2].Experience));
        Assert.Equal([0.5f, float.Epsilon, -0f], byId[2].Vector!);
        Assert.Equal(("intent 200", "experience 200", 200f), (byId[200].IntentText, byId[200].Experience, byId[200].Vector![0]));

        // 251 deletes in one commit (past the transaction: the rest finished after it), the big one's blob included.
        await store.AppendAsync(shard, new ShardBatch(1, [1, 2, 3], [], [.. Enumerable.Range(1, 251).Select(i => (long)i)]));
        var after = await Open().LoadShardAsync(shard);
        Assert.Equal([252L], after.Payloads.Select(p => p.Sequence));
    }

    [AzuriteFact]
    public async Task AppendAsync_IsFenced_WhenAnotherSilosStoreAppendedFirst()
    {
        // Two silos, two store instances: the first's cached ETag is stale once the second appends.
        var first = Open();
        var second = Open();
        string shard = NewShard();
        await first.AppendAsync(shard, new ShardBatch(0, [1], [], []));
        await first.AppendAsync(shard, new ShardBatch(1, [2], [], []));
        var image = await second.LoadShardAsync(shard);
        await second.AppendAsync(shard, new ShardBatch(image.Head, [3], [], []));

        await Assert.ThrowsAsync<StoreFencedException>(() => first.AppendAsync(shard, new ShardBatch(2, [4], [], [])));

        var final = await Open().LoadShardAsync(shard);
        Assert.Equal([new byte[] { 1 }, [2], [3]], final.Tail.Select(t => t.Record));
    }

    [AzuriteFact]
    public async Task Calls_AreRetried_WhileTheServiceThrottlesBriefly()
    {
        var faults = new FaultHandler { Throttle = 2 };
        var store = Open(o => Fast(o, faults));
        string shard = NewShard();
        await store.EnsureCreatedAsync();

        await store.AppendAsync(shard, new ShardBatch(0, [9], [], []));

        Assert.Equal(0, faults.Throttle);
        Assert.Equal(1, (await Open().LoadShardAsync(shard)).Head);
    }

    [AzuriteFact]
    public async Task Calls_FailAsOverloaded_NamingTheCall_WhenThrottlingPersists()
    {
        var faults = new FaultHandler();
        var store = Open(o => Fast(o, faults));
        string shard = NewShard();
        await store.EnsureCreatedAsync();
        faults.Throttle = int.MaxValue;

        var error = await Assert.ThrowsAsync<StoreOverloadedException>(() => store.AppendAsync(shard, new ShardBatch(0, [9], [], [])));

        Assert.Contains($"append to shard '{shard}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 503", error.Message, StringComparison.Ordinal);
        Assert.True(faults.Throttled > 3, $"expected the SDK to retry; it sent {faults.Throttled} requests.");
        Assert.Equal(0, (await Open().LoadShardAsync(shard)).Head);
    }

    [AzuriteFact]
    public async Task AppendAsync_Fails_WhenTheAcknowledgementIsLostAfterTheServiceApplied_AndTheRecordIsThereOnce()
    {
        var faults = new FaultHandler();
        var store = Open(o => Fast(o, faults));
        string shard = NewShard();
        await store.AppendAsync(shard, new ShardBatch(0, [1], [new StoredPayload(1, "i", "e", null)], []));
        faults.LoseNextBatchResponse = true;

        // The SDK resends the transaction; the service refuses it (the head's ETag moved) and the caller cannot tell
        // the first one landed: a failure, as the interface promises (the shard reloads and finds the record).
        await Assert.ThrowsAnyAsync<Exception>(() => store.AppendAsync(shard, new ShardBatch(1, [2], [new StoredPayload(2, "i", "e", null)], [])));

        var image = await Open().LoadShardAsync(shard);
        Assert.Equal(2, image.Head);
        Assert.Equal([1L, 2L], image.Tail.Select(t => t.Position));
        Assert.Equal([1L, 2L], image.Payloads.Select(p => p.Sequence).Order());
    }

    private static void Fast(ClientOptions options, FaultHandler faults)
    {
        options.Retry.Delay = TimeSpan.FromMilliseconds(5);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(20);
        faults.InnerHandler = new HttpClientHandler();
        options.Transport = new HttpClientTransport(new HttpClient(faults));
    }

    /// <summary>Answers 503 Server Busy instead of the service while <see cref="Throttle"/> lasts; can drop one transaction's response after the service applied it.</summary>
    private sealed class FaultHandler : DelegatingHandler
    {
        public int Throttle;
        public int Throttled;
        public volatile bool LoseNextBatchResponse;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Interlocked.Decrement(ref Throttle) >= 0)
            {
                Interlocked.Increment(ref Throttled);
                return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)
                {
                    RequestMessage = request,
                    ReasonPhrase = "Server Busy",
                    Headers = { { "x-ms-error-code", "ServerBusy" } },
                };
            }

            Interlocked.Exchange(ref Throttle, 0);
            var response = await base.SendAsync(request, cancellationToken);
            if (request.RequestUri!.AbsolutePath.EndsWith("/$batch", StringComparison.Ordinal) && LoseNextBatchResponse)
            {
                LoseNextBatchResponse = false;
                response.Dispose();
                throw new HttpRequestException("Injected fault: the connection dropped after the service applied the transaction.");
            }

            return response;
        }
    }
}
