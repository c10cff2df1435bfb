namespace MemRL.Grains;

/// <summary>
/// Which memories of this shard each recall has rewarded, and with what (DESIGN §7: at most one reward per
/// (recall, memory)). An entry lives until its recall token expires: after that the token is refused anyway, so the
/// shard can forget it, which bounds the table by (rewarded memories per second × token lifetime). Rebuilt on
/// activation from the log (<see cref="Storage.RecallRewarded"/> events) and snapshots; not thread-safe, owned by one
/// shard activation like the rest of <see cref="Shard.ShardState"/>.
/// </summary>
internal sealed class RecallRewardLog
{
    private readonly Dictionary<(Guid Recall, long Memory), RecallReward> _entries = [];
    // Entries in the order they were added; tokens expire in roughly that order (lifetime is fixed), so pruning from the
    // front frees almost everything that has expired, and what a late entry holds back goes on the next prune.
    private readonly Queue<(Guid Recall, long Memory, long ExpiresTicks)> _order = new();

    /// <summary>How many (recall, memory) pairs are remembered.</summary>
    public int Count => _entries.Count;

    /// <summary>The reward <paramref name="recall"/> already gave <paramref name="memory"/>, if any.</summary>
    public bool TryGet(Guid recall, long memory, out RecallReward reward) => _entries.TryGetValue((recall, memory), out reward);

    /// <summary>Records that <paramref name="recall"/> rewarded <paramref name="memory"/> (live turns and replay alike).</summary>
    public void Record(Guid recall, long memory, RecallReward reward)
    {
        if (_entries.TryAdd((recall, memory), reward))
        {
            _order.Enqueue((recall, memory, reward.ExpiresTicks));
        }
    }

    /// <summary>Forgets the entries of tokens that expired before <paramref name="nowTicks"/>.</summary>
    public void Prune(long nowTicks)
    {
        while (_order.TryPeek(out var head) && head.ExpiresTicks < nowTicks)
        {
            _order.Dequeue();
            _entries.Remove((head.Recall, head.Memory));
        }
    }

    /// <summary>The remembered entries, oldest first (for snapshots and slot moves).</summary>
    public IEnumerable<(Guid Recall, long Memory, RecallReward Reward)> Entries
    {
        get
        {
            foreach (var (recall, memory, _) in _order)
            {
                if (_entries.TryGetValue((recall, memory), out var reward))
                {
                    yield return (recall, memory, reward);
                }
            }
        }
    }
}

/// <summary>One memory's reward from one recall: the value given, the Q and visits it left, and when the token expires.</summary>
internal readonly record struct RecallReward(double Reward, double Q, int Visits, long ExpiresTicks);
