using MemRL.Core.Bank;
using MemRL.Core;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Index;

namespace MemRL.Grains;

// Rewards and writes: routed to the shards that own the memories or the new key, exactly once (docs/exactly-once.md).
internal sealed partial class MemoryCoordinatorGrain
{
    private async Task<RewardResponse> RewardCoreAsync(CachedBank bank, RewardRequest request)
    {
        var info = bank.Info;
        bank.Options.ValidateReward(request.Reward);
        var content = tokens.Verify(request.Token, info.Name, info.Incarnation);
        MemoryId[] targets;
        if (request.MemoryIds is null)
        {
            targets = content.Memories;
        }
        else
        {
            var named = new HashSet<MemoryId>(content.Memories);
            var seen = new HashSet<MemoryId>();
            targets = new MemoryId[request.MemoryIds.Count];
            for (int i = 0; i < targets.Length; i++)
            {
                var id = MemoryId.Parse(request.MemoryIds[i], $"memoryIds[{i}]");
                if (!named.Contains(id))
                {
                    throw FieldError.Invalid($"memoryIds[{i}]", "a memory the recall named by the token returned", FieldError.Quote(id.ToString()));
                }

                if (!seen.Add(id))
                {
                    throw FieldError.Invalid($"memoryIds[{i}]", "each memory once (one reward per recall)", FieldError.Quote(id.ToString()));
                }

                targets[i] = id;
            }
        }

        if (targets.Length == 0)
        {
            return new RewardResponse([]);
        }

        byte[] hash = OperationHashes.Reward(request.Reward, targets);
        var parts = targets.GroupBy(id => bank.Info.ShardOf(id.Slot))
            .ToDictionary(group => group.Key, group => new ShardReward(info.Version, request.OperationId, group.ToArray(), request.Reward, hash, content.RecallId, content.ExpiresAt));
        // A reward spanning shards is checked on every shard before any part applies (each holds its check briefly
        // against a conflicting reward), so a refusal on one shard leaves every other untouched.
        if (parts.Count > 1)
        {
            await FanOutAsync(FanOutPolicy.RewardPrepare, bank, parts.Keys, async (s, _) =>
            {
                await bank.Shard(s).PrepareRewardAsync(parts[s]);
                return true;
            });
        }

        // The id's home shard keeps its bank-wide record: registered there first, or applied there first when the home
        // holds a part. Each shard then applies its part under the same id, so a retry after a partial failure completes
        // the missing parts and returns the original result for the applied ones.
        int home = bank.Info.ShardOf(OperationIds.SlotOf(request.OperationId));
        var updated = new Dictionary<MemoryId, ShardQ>();
        if (parts.TryGetValue(home, out var homePart))
        {
            Collect(await guard.CallAsync(bank.ShardKey(home), () => bank.Shard(home).RewardAsync(homePart)));
        }
        else
        {
            await ClaimAsync(bank, request.OperationId, hash, route: null, replacing: null);
        }

        var rest = await FanOutAsync(FanOutPolicy.RewardApply, bank, parts.Keys.Where(s => s != home), (s, _) => bank.Shard(s).RewardAsync(parts[s]));
        foreach (var part in rest.Answers)
        {
            Collect(part);
        }

        return new RewardResponse(targets.Select(id => new MemoryQ(id.ToString(), updated[id].Q, updated[id].Visits)).ToArray());

        void Collect(ShardQ[] part)
        {
            foreach (var q in part)
            {
                updated[q.Id] = q;
            }
        }
    }

    private async Task<WriteResponse> WriteCoreAsync(CachedBank bank, WriteRequest request)
    {
        var info = bank.Info;
        RequireEmbedder(info, request.EmbedderId);
        _ = request.Intent ?? throw FieldError.Missing("intent", "an embedding vector");
        VectorValidation.ThrowIfInvalid(request.Intent, info.Dimension, "intent");
        var scope = request.Scope?.ToScope() ?? MemoryScope.None;
        WireValidation.TimeToLive(request.TtlSeconds);
        // Above 1 no key can be joined (every memory is its own key), so asking the shards would be wasted work.
        List<ShardKeyMatch> candidates = request.RecallToken is { } token
            ? [.. tokens.Verify(token, info.Name, info.Incarnation, "recallToken").Keys]
            : bank.Options.MergeThreshold > 1 ? [] : await NearestKeysAsync(bank, request.Intent, request.Scope);

        // Exactly once whatever the routing: the first attempt fixes the route at the id's home shard, and every retry
        // (with or without the token, after the bank changed, after a crash) takes that route, where the shard's own log
        // returns the original result. New keys go to the slot of the id, which is on the home shard itself.
        // The payload hash (SHA-256 over the vector and both texts) is needed only for a claim: most writes make a new key
        // on their id's home shard and make none, and the shard hashes the payload for its own log anyway.
        byte[]? hash = null;
        int home = info.ShardOf(OperationIds.SlotOf(request.OperationId));
        var route = Route(candidates, bank.Options.MergeThreshold, request.OperationId);
        // claimed: the home shard holds this id with `route`; replacing: the claimed route whose key vanished.
        bool claimed = false;
        WriteRoute? replacing = null;
        // Each pass returns, or removes a vanished key from the candidates, or follows the route another attempt fixed;
        // the bound only guards against a livelock (the reference bank skips vanished keys the same way).
        int passes = (2 * candidates.Count) + 4;
        for (int pass = 0; pass < passes; pass++)
        {
            if ((info.ShardOf(route.Slot) != home && !claimed) || replacing is not null)
            {
                hash ??= OperationHashes.Write(request.Intent, request.IntentText, request.Experience, request.Success, scope, ScopeWire.ToMetadata(request.Metadata), request.TtlSeconds);
                var claim = await ClaimAsync(bank, request.OperationId, hash, route, replacing);
                if (claim.Applied is { } applied)
                {
                    return new WriteResponse(applied.Id.ToString(), applied.CreatedKey, applied.Q);
                }

                route = claim.Route ?? throw new OperationConflictException(request.OperationId);
                (claimed, replacing) = (true, null);
            }

            int shard = info.ShardOf(route.Slot);
            var write = new ShardWrite(info.Version, request.OperationId, route.Slot, route.JoinKey, request.Intent, request.IntentText, request.Experience, request.Success,
                request.Scope, request.Metadata, request.TtlSeconds);
            try
            {
                var result = await guard.CallAsync(bank.ShardKey(shard), () => bank.Shard(shard).WriteAsync(write));
                return new WriteResponse(result.Id.ToString(), result.CreatedKey, result.Q);
            }
            catch (WriteRoutedElsewhereException elsewhere)
            {
                // The home shard holds the route an earlier attempt chose: take it.
                (route, claimed) = (elsewhere.Route, true);
            }
            catch (MemRLException unjoinable) when (unjoinable is IntentKeyGoneException or IntentKeyOtherScopeException)
            {
                // The key was deleted after the recall, and before this write applied there (or it holds another scope's
                // memories): decide again among the keys that remain, and replace the claimed route (once, whichever
                // attempt asks first). The reference bank skips such keys the same way.
                long refused = unjoinable is IntentKeyGoneException gone ? gone.KeySequence : ((IntentKeyOtherScopeException)unjoinable).KeySequence;
                candidates.RemoveAll(c => c.KeySequence == refused);
                replacing = claimed ? route : null;
                claimed = false;
                route = Route(candidates, bank.Options.MergeThreshold, request.OperationId);
            }
        }

        throw new ShardUnavailableException($"Write '{request.OperationId}' of bank '{info.Name}' could not settle on a key (the bank changed under every attempt); retry with the same id.");
    }

    // The write rule over the candidate keys: join the most similar above the merge threshold, or a new key in the slot
    // of the operation id (spread evenly, and the same on every retry).
    private static WriteRoute Route(List<ShardKeyMatch> candidates, double mergeThreshold, string operationId)
    {
        long? join = WriteRule.ChooseKey(candidates.Select(c => new KeyMatch(c.KeySequence, c.Similarity)), mergeThreshold);
        return join is { } k ? new WriteRoute(candidates.First(c => c.KeySequence == k).Slot, k) : new WriteRoute(OperationIds.SlotOf(operationId), null);
    }

    private Task<ShardClaimResult> ClaimAsync(CachedBank bank, string operationId, byte[] hash, WriteRoute? route, WriteRoute? replacing)
    {
        int home = bank.Info.ShardOf(OperationIds.SlotOf(operationId));
        var claim = new ShardClaim(bank.Info.Version, operationId, hash, route, replacing);
        return guard.CallAsync(bank.ShardKey(home), () => bank.Shard(home).ClaimAsync(claim));
    }

    private async Task ClaimUnlessHomeAsync(CachedBank bank, string operationId, byte[] hash, int target)
    {
        if (bank.Info.ShardOf(OperationIds.SlotOf(operationId)) != target)
        {
            await ClaimAsync(bank, operationId, hash, route: null, replacing: null);
        }
    }

    private async Task<List<ShardKeyMatch>> NearestKeysAsync(CachedBank bank, float[] intent, ScopeFields? scope)
    {
        var request = new ShardNearest(bank.Info.Version, intent, scope);
        var nearest = await FanOutAsync(FanOutPolicy.WriteNearestKey, bank, Enumerable.Range(0, bank.Info.ShardCount), (s, ct) => bank.Shard(s).NearestKeyAsync(request, ct));
        return [.. nearest.Answers.Where(n => n.HasValue).Select(n => n!.Value)];
    }
}
