using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace MemRL.Api.Mcp;

/// <summary>A recall the session can still reward: its short id, the bank it was made on and the signed token.</summary>
/// <param name="Id">The short recall id the model sees.</param>
/// <param name="Bank">The tenant's bank name (not the cluster's).</param>
/// <param name="Token">The recall token, which never leaves the server on MCP.</param>
/// <param name="Memories">How many memories the recall returned (0: nothing to reward).</param>
/// <param name="ExpiresAt">When the token expires, and with it this id.</param>
internal sealed record RecallEntry(string Id, string Bank, string Token, int Memories, DateTimeOffset ExpiresAt);

/// <summary>
/// Short recall ids: a model copies six characters without error, where the ~250-character recall token invites a
/// miscopy that the HMAC then refuses. Each (tenant, MCP session) keeps its last <see cref="McpOptions.RecallsPerSession"/>
/// recalls in memory, each for as long as its token is valid (<c>MemRL:RecallTokenLifetime</c>, 15 min by default);
/// at most <see cref="McpOptions.MaxSessions"/> sessions are kept, the least recently used forgotten first. Nothing
/// is persisted: after a restart every id is unknown and the model recalls again (docs/mcp.md).
/// </summary>
public sealed class RecallIds : IDisposable
{
    // No 0/o, 1/l/i: a model or a person reading the id back cannot confuse them.
    private const string Alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
    private const int IdLength = 6;
    private readonly MemoryCache _sessions;
    private readonly int _perSession;
    private readonly TimeProvider _time;

    /// <summary>Creates the store from <see cref="McpOptions"/> and the cluster's recall-token lifetime.</summary>
    public RecallIds(IOptions<McpOptions> options, IConfiguration configuration, TimeProvider time)
    {
        _perSession = options.Value.RecallsPerSession;
        _time = time;
        Lifetime = configuration.GetValue<TimeSpan?>("MemRL:RecallTokenLifetime") ?? TimeSpan.FromMinutes(15);
        _sessions = new MemoryCache(new MemoryCacheOptions { SizeLimit = options.Value.MaxSessions });
    }

    /// <summary>How long an id stays valid: the recall token's lifetime.</summary>
    public TimeSpan Lifetime { get; }

    /// <summary>Most recalls one session keeps.</summary>
    public int PerSession => _perSession;

    /// <summary>Remembers a recall of <paramref name="bank"/> for the session and returns its new short id.</summary>
    internal RecallEntry Add(string tenant, string session, string bank, string token, int memories)
    {
        var recalls = _sessions.GetOrCreate((tenant, session), entry =>
        {
            entry.Size = 1;
            // Sliding: a session that keeps recalling keeps its store; one idle past the token lifetime holds only
            // expired ids, so the whole store can go.
            entry.SlidingExpiration = Lifetime;
            return new SessionRecalls();
        })!;
        return recalls.Add(bank, token, memories, _time.GetUtcNow() + Lifetime, _perSession);
    }

    /// <summary>The session's recall <paramref name="id"/>, if it is known and unexpired.</summary>
    internal bool TryGet(string tenant, string session, string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RecallEntry? entry)
    {
        entry = _sessions.TryGetValue((tenant, session), out SessionRecalls? recalls) ? recalls!.Find(id, _time.GetUtcNow()) : null;
        return entry is not null;
    }

    /// <summary>The session's latest unexpired recall, if any.</summary>
    internal bool TryGetLast(string tenant, string session, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RecallEntry? entry)
    {
        entry = _sessions.TryGetValue((tenant, session), out SessionRecalls? recalls) ? recalls!.Last(_time.GetUtcNow()) : null;
        return entry is not null;
    }

    /// <inheritdoc />
    public void Dispose() => _sessions.Dispose();

    /// <summary>One session's recalls, newest last. Calls of one session may run concurrently, hence the lock.</summary>
    private sealed class SessionRecalls
    {
        private readonly Lock _lock = new();
        private readonly List<RecallEntry> _entries = [];

        public RecallEntry Add(string bank, string token, int memories, DateTimeOffset expiresAt, int capacity)
        {
            lock (_lock)
            {
                // Random rather than counted: a store forgotten and made again (eviction, restart) cannot hand an old
                // id to a new recall, so a stale id is refused instead of rewarding the wrong recall.
                string id;
                do
                {
                    id = RandomNumberGenerator.GetString(Alphabet, IdLength);
                }
                while (_entries.Exists(e => e.Id == id));

                var entry = new RecallEntry(id, bank, token, memories, expiresAt);
                _entries.Add(entry);
                if (_entries.Count > capacity)
                {
                    _entries.RemoveRange(0, _entries.Count - capacity);
                }

                return entry;
            }
        }

        public RecallEntry? Find(string id, DateTimeOffset now)
        {
            lock (_lock)
            {
                return _entries.Find(e => e.Id == id && e.ExpiresAt > now);
            }
        }

        public RecallEntry? Last(DateTimeOffset now)
        {
            lock (_lock)
            {
                return _entries.Count > 0 && _entries[^1].ExpiresAt > now ? _entries[^1] : null;
            }
        }
    }
}
