using MemRL.GrainInterfaces;

namespace MemRL.Grains.Shard;

/// <summary>
/// What one shard activation has done lately, for the operator console: the service time of its last searches and its
/// rewards in fixed time buckets. In memory only (an activation starts with none): it describes the activation, is not
/// part of the bank's state, and a crash losing it loses nothing a caller was promised. Bounded: 256 latencies and
/// <see cref="BucketCount"/> buckets, whatever the traffic. Touched only inside the shard's turns.
/// </summary>
internal sealed class ShardActivity(DateTimeOffset activeSince)
{
    /// <summary>Width of a reward bucket.</summary>
    public const int BucketSeconds = 2;

    /// <summary>Buckets kept: 15 minutes of rewards.</summary>
    public const int BucketCount = 450;

    private const int LatencyCapacity = 256;

    private readonly double[] _latencies = new double[LatencyCapacity];
    private int _latencyCount;
    private int _latencyNext;

    // Ring of buckets indexed by (start / BucketSeconds) % BucketCount; a slot holding an older start is stale.
    private readonly long[] _bucketStart = new long[BucketCount];
    private readonly int[] _bucketCount = new int[BucketCount];
    private readonly int[] _bucketSuccesses = new int[BucketCount];
    private readonly double[] _bucketSum = new double[BucketCount];

    /// <summary>When this activation started.</summary>
    public DateTimeOffset ActiveSince { get; } = activeSince;

    /// <summary>Records one search's service time.</summary>
    public void Searched(double milliseconds)
    {
        _latencies[_latencyNext] = milliseconds;
        _latencyNext = (_latencyNext + 1) % LatencyCapacity;
        _latencyCount = Math.Min(_latencyCount + 1, LatencyCapacity);
    }

    /// <summary>Records one reward applied to one memory at <paramref name="now"/>.</summary>
    public void Rewarded(DateTimeOffset now, double reward)
    {
        long start = BucketOf(now);
        int slot = (int)((start / BucketSeconds) % BucketCount);
        if (_bucketStart[slot] != start)
        {
            (_bucketStart[slot], _bucketCount[slot], _bucketSuccesses[slot], _bucketSum[slot]) = (start, 0, 0, 0);
        }

        _bucketCount[slot]++;
        _bucketSum[slot] += reward;
        if (reward > 0)
        {
            _bucketSuccesses[slot]++;
        }
    }

    /// <summary>The latency figures over the searches recorded.</summary>
    public LatencySummary Latency()
    {
        if (_latencyCount == 0)
        {
            return new LatencySummary(0, 0, 0, 0);
        }

        var sorted = _latencies.AsSpan(0, _latencyCount).ToArray();
        Array.Sort(sorted);
        // Nearest rank: the value at or below which the share of searches lies.
        double Rank(double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return new LatencySummary(sorted.Length, Rank(0.5), Rank(0.9), sorted[^1]);
    }

    /// <summary>The buckets of the last <see cref="BucketCount"/> bucket widths before <paramref name="now"/> that hold rewards, oldest first.</summary>
    public RewardBucket[] Rewards(DateTimeOffset now)
    {
        long newest = BucketOf(now);
        long oldest = newest - ((BucketCount - 1) * (long)BucketSeconds);
        var buckets = new List<RewardBucket>();
        for (int slot = 0; slot < BucketCount; slot++)
        {
            long start = _bucketStart[slot];
            if (_bucketCount[slot] > 0 && start >= oldest && start <= newest)
            {
                buckets.Add(new RewardBucket(DateTimeOffset.FromUnixTimeSeconds(start), _bucketCount[slot], _bucketSuccesses[slot], _bucketSum[slot]));
            }
        }

        buckets.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        return [.. buckets];
    }

    private static long BucketOf(DateTimeOffset time)
    {
        long seconds = time.ToUnixTimeSeconds();
        return seconds - (((seconds % BucketSeconds) + BucketSeconds) % BucketSeconds);
    }
}
