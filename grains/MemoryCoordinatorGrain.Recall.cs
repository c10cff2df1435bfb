using System.Diagnostics;
using MemRL.Core;
using MemRL.Core.Recall;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Index;

namespace MemRL.Grains;

// Recall (DESIGN §4): Phase A fanned out to the shards, the global merge and Phase B, then the texts of the k2 winners.
internal sealed partial class MemoryCoordinatorGrain
{
    private async Task<RecallResponse> RecallCoreAsync(CachedBank bank, RecallRequest request, CancellationToken cancellationToken)
    {
        using var span = Telemetry.Source.StartActivity("memrl.recall");
        long started = Stopwatch.GetTimestamp();
        var info = bank.Info;
        var parameters = RecallParameters.Resolve(bank.Options, new RecallOverrides(request.K1, request.K2, request.Lambda, request.Delta));
        RequireEmbedder(info, request.EmbedderId);
        _ = request.Query ?? throw FieldError.Missing("query", "an embedding vector");
        VectorValidation.ThrowIfInvalid(request.Query, info.Dimension, "query");

        var (perShard, slots, coverage) = await PhaseAAsync(bank, request, parameters, cancellationToken);
        long answered = Stopwatch.GetTimestamp();
        IRandomSource random = SharedRandom.Instance;
        var outcome = RecallPipeline.Run(perShard, parameters, bank.Options, random);
        var selected = outcome.Selection.Selected;
        var ids = new MemoryId[selected.Count];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = new MemoryId(info.Incarnation, slots[selected[i].Entry.KeySequence], selected[i].Entry.Memory.Sequence);
        }

        long selectedAt = Stopwatch.GetTimestamp();
        var texts = await FetchTextsAsync(bank, ids, cancellationToken);
        var memoriesOut = new RecalledMemory[ids.Length];
        for (int i = 0; i < ids.Length; i++)
        {
            var s = selected[i];
            var text = texts.GetValueOrDefault(ids[i].Sequence);
            memoriesOut[i] = new RecalledMemory(ids[i].ToString(), s.Entry.Similarity, s.Entry.Memory.Q, s.ZSim, s.ZQ, s.Score,
                s.Entry.Memory.Success, text?.Experience ?? "", text?.IntentText ?? "", text?.Scope, text?.Metadata);
        }

        var keyMatches = new ShardKeyMatch[outcome.Keys.Count];
        for (int i = 0; i < keyMatches.Length; i++)
        {
            var k = outcome.Keys[i];
            keyMatches[i] = new ShardKeyMatch(k.KeySequence, slots[k.KeySequence], k.Similarity);
        }

        string token = tokens.Sign(info.Name, info.Incarnation, coverage, ids, keyMatches);
        long finished = Stopwatch.GetTimestamp();
        RecordPhase("fan_out", started, answered);
        RecordPhase("select", answered, selectedAt);
        RecordPhase("fetch", selectedAt, finished);
        RecordPhase("total", started, finished);
        Telemetry.PoolSize.Record(outcome.PoolSize);
        span?.SetTag("memrl.bank", info.Name).SetTag("memrl.shards_answered", coverage.ShardsAnswered).SetTag("memrl.shards_total", coverage.ShardsTotal)
            .SetTag("memrl.pool_size", outcome.PoolSize).SetTag("memrl.returned", ids.Length);
        return new RecallResponse(memoriesOut, coverage, token, outcome.PoolSize, outcome.Selection.Explored);
    }

    // Phase A on every shard in parallel, under one deadline; a shard that misses it counts as not answered. Returns the
    // candidates per shard in the core's terms and the slot of every key (memory ids need it).
    private async Task<(List<IReadOnlyList<KeyCandidate>> PerShard, Dictionary<long, int> Slots, Coverage Coverage)> PhaseAAsync(
        CachedBank bank, RecallRequest request, RecallParameters parameters, CancellationToken cancellationToken)
    {
        var info = bank.Info;
        var search = new ShardSearch(info.Version, request.Query, parameters.K1, parameters.Delta, request.Filter);
        var phaseA = await FanOutAsync(FanOutPolicy.Recall(_options.ShardTimeout), bank, Enumerable.Range(0, info.ShardCount),
            (s, ct) => bank.Shard(s).SearchAsync(search, ct), request.RequireFullCoverage,
            static c => Telemetry.ShardsAnswered.Record(c.ShardsAnswered, new KeyValuePair<string, object?>("shards_total", c.ShardsTotal)),
            cancellationToken);
        var perShard = new List<IReadOnlyList<KeyCandidate>>(phaseA.Answers.Count);
        var slots = new Dictionary<long, int>();
        foreach (var answer in phaseA.Answers)
        {
            var keys = new List<KeyCandidate>(answer.Keys.Length);
            foreach (var k in answer.Keys)
            {
                slots[k.KeySequence] = k.Slot;
                var memories = new MemoryCandidate[k.Memories.Length];
                for (int m = 0; m < memories.Length; m++)
                {
                    memories[m] = new MemoryCandidate(k.Memories[m].Sequence, k.Memories[m].Q, k.Memories[m].Success);
                }

                keys.Add(new KeyCandidate(k.KeySequence, k.Similarity, memories));
            }

            perShard.Add(keys);
        }

        return (perShard, slots, phaseA.Coverage);
    }

    // The second hop: experience text travels only for the k2 winners, one call per shard that owns any of them.
    private async Task<Dictionary<long, ShardMemoryText>> FetchTextsAsync(CachedBank bank, MemoryId[] ids, CancellationToken cancellationToken)
    {
        var result = new Dictionary<long, ShardMemoryText>(ids.Length);
        var owners = ids.GroupBy(id => bank.Info.ShardOf(id.Slot)).ToDictionary(g => g.Key, g => g.Select(id => id.Sequence).ToArray());
        var fetched = await FanOutAsync(FanOutPolicy.RecallTexts(_options.ShardTimeout), bank, owners.Keys,
            (s, _) => bank.Shard(s).FetchAsync(bank.Info.Version, owners[s]), cancellationToken: cancellationToken);
        foreach (var texts in fetched.Answers)
        {
            foreach (var text in texts)
            {
                result[text.Sequence] = text;
            }
        }

        return result;
    }
}
