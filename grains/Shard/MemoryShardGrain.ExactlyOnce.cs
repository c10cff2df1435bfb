using MemRL.Core;
using MemRL.Core.Bank;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains.Storage;

namespace MemRL.Grains.Shard;

// Exactly-once across shards (docs/exactly-once.md): operation ids registered at their home shard, and rewards counted
// per (recall, memory). Same turn rule as the rest of the grain: await first, then check and change in one stretch.
internal sealed partial class MemoryShardGrain
{
    // How long a prepared reward holds its (recall, memory) pairs against a reward with another value. Not durable: a
    // crash forgets the holds, and the reward's own apply checks everything again.
    private static readonly TimeSpan RewardLease = TimeSpan.FromSeconds(30);

    private readonly Dictionary<(Guid Recall, long Memory), (double Reward, long UntilTicks)> _rewardLeases = [];

    public async Task PrepareRewardAsync(ShardReward request)
    {
        await EnsureVersionAsync(request.BankVersion);
        BeginStretch();
        if (_state.Operations.TryGetResult<ShardQ[]>(request.OperationId, request.PayloadHash, out _))
        {
            return;
        }

        long nowTicks = time.GetUtcNow().UtcTicks;
        if (_rewardLeases.Count > 4096)
        {
            // Holds whose reward never came (its coordinator failed in between) go once they lapse.
            foreach (var lapsed in _rewardLeases.Where(l => l.Value.UntilTicks < nowTicks).Select(l => l.Key).ToList())
            {
                _rewardLeases.Remove(lapsed);
            }
        }

        long until = nowTicks + RewardLease.Ticks;
        foreach (var (id, _, earlier, _) in PlanReward(request))
        {
            // Under an export's freeze a prepare passes only on a live lease, and keeps its end: the cut waits for them.
            if (earlier is null && !_bank.IsExportFreeze)
            {
                _rewardLeases[(request.RecallId, id.Sequence)] = (request.Reward, until);
            }
        }
    }

    public async Task<ShardClaimResult> ClaimAsync(ShardClaim request)
    {
        await EnsureVersionAsync(request.BankVersion);
        BeginStretch();
        int home = OperationIds.SlotOf(request.OperationId);
        if (!Owns(home))
        {
            // The caller's map says otherwise: only a stale or moved map can route here, and a newer version fixes it.
            throw new ShardUnavailableException($"Operation ids of slot {home} are not kept by shard '{_key}'; retry shortly.");
        }

        // An export's freeze lets a reward spanning shards that registered here before it finish its other parts.
        if (!(_bank.IsExportFreeze && _state.Operations.Contains(request.OperationId)))
        {
            RequireNotMoving(home);
        }

        if (_state.Operations.TryGet(request.OperationId, request.PayloadHash, out var prior))
        {
            switch (prior)
            {
                case ShardWriteResult applied:
                    await DurableAsync();
                    return new ShardClaimResult(null, applied);
                case OperationClaim { Route: var route } when request.Replacing is { } replacing && route == replacing && request.Route != route:
                    // The claimed route's key was deleted before the write applied there (its shard refused it): the new
                    // route takes its place, once, whoever asks first.
                    Change(new OperationApplied(request.OperationId, request.PayloadHash, new OperationClaim(request.Route)));
                    await CommitAsync();
                    return new ShardClaimResult(request.Route, null);
                case OperationClaim { Route: var route }:
                    await DurableAsync();
                    return new ShardClaimResult(route, null);
                default:
                    // A reward or delete applied here under this id (same payload): registered already.
                    await DurableAsync();
                    return new ShardClaimResult(null, null);
            }
        }

        Change(new OperationApplied(request.OperationId, request.PayloadHash, new OperationClaim(request.Route)));
        await CommitAsync();
        return new ShardClaimResult(request.Route, null);
    }

    // Checks a reward as a whole without changing anything; per memory: the memory, the earlier reward of the same recall
    // when it gave the same value (nothing to apply), and the new Q otherwise.
    private (MemoryId Id, MemoryRecord Memory, RecallReward? Earlier, double Q)[] PlanReward(ShardReward request)
    {
        // The shard checks the range too: its options are the bank version the call was made with.
        _options.ValidateReward(request.Reward);
        long now = time.GetUtcNow().UtcTicks;
        _state.RecallRewards.Prune(now);
        var plan = new (MemoryId, MemoryRecord, RecallReward?, double)[request.Memories.Length];
        for (int i = 0; i < plan.Length; i++)
        {
            var id = request.Memories[i];
            RequireOwnedMemory(id, archivedToo: true);
            if (!LeasedThroughExport(request.RecallId, id.Sequence, request.Reward, now))
            {
                RequireNotMoving(id.Slot);
            }

            Table.TryGetAnyMemory(id.Sequence, out var memory);
            if (_state.RecallRewards.TryGet(request.RecallId, id.Sequence, out var earlier))
            {
                if (BitConverter.DoubleToInt64Bits(earlier.Reward) != BitConverter.DoubleToInt64Bits(request.Reward))
                {
                    throw new RewardConflictException(id.ToString(), earlier.Reward, request.Reward);
                }

                plan[i] = (id, memory!, earlier, earlier.Q);
                continue;
            }

            if (_rewardLeases.TryGetValue((request.RecallId, id.Sequence), out var lease) && lease.UntilTicks >= now
                && BitConverter.DoubleToInt64Bits(lease.Reward) != BitConverter.DoubleToInt64Bits(request.Reward))
            {
                throw new RewardConflictException(id.ToString(), lease.Reward, request.Reward);
            }

            // Every new Q must be finite before any is applied (two far-apart finite rewards overflow R − Q).
            double q = QRule.UpdateFinite(memory!.Q, request.Reward, _options.Alpha, _options.QFloor);
            plan[i] = (id, memory, null, q);
        }

        return plan;
    }

    // Under an export's freeze, a reward spanning shards that was checked on every shard before the freeze (it holds a
    // live lease here for the same value) may still apply, so the cut, which waits for the leases, has it whole. A slot
    // move's freeze lets nothing through: a page already copied would miss the change.
    private bool LeasedThroughExport(Guid recall, long memory, double reward, long nowTicks) =>
        _bank.IsExportFreeze && _rewardLeases.TryGetValue((recall, memory), out var lease) && lease.UntilTicks >= nowTicks
        && BitConverter.DoubleToInt64Bits(lease.Reward) == BitConverter.DoubleToInt64Bits(reward);

    public async Task<int> PendingRewardsAsync(long bankVersion)
    {
        await EnsureVersionAsync(bankVersion);
        ThrowIfBroken();
        long now = time.GetUtcNow().UtcTicks;
        return _rewardLeases.Count(l => l.Value.UntilTicks >= now);
    }
}
