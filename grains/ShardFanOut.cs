using System.Runtime.ExceptionServices;
using MemRL.GrainInterfaces;
using Microsoft.Extensions.Logging;

namespace MemRL.Grains;

/// <summary>What a fan-out does when a shard fails or misses the deadline (docs/fan-out.md has the table per call).</summary>
internal enum ShardFailureRule
{
    /// <summary>Every shard must answer: the first failure, in shard order, fails the call.</summary>
    AllOrFail,

    /// <summary>Answer from the shards that answered, with coverage answered / total; no shard answering fails the call.</summary>
    PartialCoverage,
}

/// <summary>
/// The failure policy of one kind of fan-out: its name (in errors and logs), its rule and its deadline. Whatever the rule,
/// errors that mean "refresh the bank and retry" (<see cref="StaleBankVersionException"/>,
/// <see cref="BankNotFoundException"/>) always propagate: an answer built without them would come from a bank that
/// has moved on.
/// </summary>
/// <param name="Call">The call kind, as errors and logs name it.</param>
/// <param name="Rule">What a failing or late shard does to the call.</param>
/// <param name="Deadline">How long the fan-out waits for each shard; null waits as long as the call runs (Orleans'
/// response timeout bounds it).</param>
internal sealed record FanOutPolicy(string Call, ShardFailureRule Rule, TimeSpan? Deadline)
{
    /// <summary>Phase A: a recall answers from the shards that answered in time (DESIGN §2); callers may require all.</summary>
    public static FanOutPolicy Recall(TimeSpan deadline) => new("recall", ShardFailureRule.PartialCoverage, deadline);

    /// <summary>The texts of the k2 winners: their shards answered Phase A moments ago, and a winner without its
    /// experience is no memory at all, so every owner must answer — within the same deadline as Phase A.</summary>
    public static FanOutPolicy RecallTexts(TimeSpan deadline) => new("recall texts", ShardFailureRule.AllOrFail, deadline);

    /// <summary>The write rule's nearest keys: a shard left out could hold the key the write should join, and the write
    /// would silently split it in two.</summary>
    public static readonly FanOutPolicy WriteNearestKey = new("nearest key", ShardFailureRule.AllOrFail, null);

    /// <summary>Bank statistics: an operator's view, partial during an incident, coverage saying how partial.</summary>
    public static readonly FanOutPolicy Stats = new("stats", ShardFailureRule.PartialCoverage, null);

    /// <summary>A page of the listing: a skipped shard would end the listing short while saying it is complete.</summary>
    public static readonly FanOutPolicy Listing = new("listing", ShardFailureRule.AllOrFail, null);

    /// <summary>The calibration sample: written into the options with apply, and seeded to be the same twice.</summary>
    public static readonly FanOutPolicy Calibration = new("calibration sample", ShardFailureRule.AllOrFail, null);

    /// <summary>Checking a reward on every shard it touches: one refusal must stop every part (docs/exactly-once.md).</summary>
    public static readonly FanOutPolicy RewardPrepare = new("reward check", ShardFailureRule.AllOrFail, null);

    /// <summary>A delete by scope: every shard erases its part; a failed part fails the call, and a retry under the same id
    /// completes it (the shards that applied answer their first count).</summary>
    public static readonly FanOutPolicy DeleteMatching = new("delete by scope", ShardFailureRule.AllOrFail, null);

    /// <summary>A retention run's plan: the bank-wide order (and the cap's threshold) needs every shard's part.</summary>
    public static readonly FanOutPolicy RetentionPlan = new("retention plan", ShardFailureRule.AllOrFail, null);

    /// <summary>A retention run's parts: a failed part fails the call, and a retry under the same id completes it (the
    /// shards that applied answer their first result).</summary>
    public static readonly FanOutPolicy RetentionApply = new("retention run", ShardFailureRule.AllOrFail, null);

    /// <summary>Applying a reward's parts: a failed part fails the call, and a retry under the same id completes it.</summary>
    public static readonly FanOutPolicy RewardApply = new("reward", ShardFailureRule.AllOrFail, null);
}

/// <summary>One shard's part of a fan-out: the shard's name (for errors) and the call, given the fan-out's token.</summary>
internal readonly record struct ShardCall<T>(string Shard, Func<CancellationToken, Task<T>> Call);

/// <summary>What a fan-out gathered: the answers in call order (answered shards only), coverage, and the first failure.</summary>
internal sealed record FanOutResult<T>(IReadOnlyList<T> Answers, Coverage Coverage, Exception? FirstFailure);

/// <summary>
/// Calls shards in parallel and applies one <see cref="FanOutPolicy"/> to what comes back, so every fan-out of the
/// coordinator fails the same way for the same reason. Plain .NET: the shard calls are delegates.
/// </summary>
internal sealed partial class ShardFanOut(ILogger logger)
{
    /// <summary>
    /// Runs <paramref name="calls"/> in parallel and waits for every one to answer, fail or miss the deadline. Throws:
    /// the first refresh-class error (any rule); the first failure (<see cref="ShardFailureRule.AllOrFail"/>; a missed
    /// deadline as <see cref="ShardUnavailableException"/>); under <see cref="ShardFailureRule.PartialCoverage"/>, the
    /// overload when no shard answered because of one, else <see cref="IncompleteCoverageException"/> when no shard
    /// answered or <paramref name="requireFull"/> and one did not; <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> fired.
    /// </summary>
    /// <param name="bank">The bank, for the log line of a partial answer.</param>
    /// <param name="settled">Called with the coverage once every call settled, before any rule throws (metrics).</param>
    public async Task<FanOutResult<T>> RunAsync<T>(
        FanOutPolicy policy, string bank, IReadOnlyList<ShardCall<T>> calls, bool requireFull = false,
        Action<Coverage>? settled = null, CancellationToken cancellationToken = default)
    {
        if (calls.Count == 0)
        {
            return new FanOutResult<T>([], new Coverage(0, 0), null);
        }

        using var deadline = policy.Deadline is { } limit ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken) : null;
        deadline?.CancelAfter(policy.Deadline!.Value);
        var token = deadline?.Token ?? cancellationToken;
        var pending = new Task<Outcome<T>>[calls.Count];
        for (int i = 0; i < pending.Length; i++)
        {
            pending[i] = SettleAsync(calls[i], token);
        }

        var outcomes = await Task.WhenAll(pending);
        var answers = new List<T>(outcomes.Length);
        Exception? first = null, refresh = null;
        for (int i = 0; i < outcomes.Length; i++)
        {
            if (outcomes[i].Error is not { } error)
            {
                answers.Add(outcomes[i].Value);
                continue;
            }

            if (error is OperationCanceledException && token.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                error = new ShardUnavailableException($"Shard '{calls[i].Shard}' did not answer the {policy.Call} within {policy.Deadline!.Value.TotalSeconds:0.###} s.");
            }

            first ??= error;
            if (refresh is null && error is StaleBankVersionException or BankNotFoundException)
            {
                refresh = error;
            }
        }

        var coverage = new Coverage(answers.Count, calls.Count);
        settled?.Invoke(coverage);
        var result = new FanOutResult<T>(answers, coverage, first);
        if (first is null)
        {
            return result;
        }

        // The caller gave up: whatever the shards said, nobody is waiting for the answer.
        cancellationToken.ThrowIfCancellationRequested();
        if (refresh is not null)
        {
            ExceptionDispatchInfo.Throw(refresh);
        }

        if (policy.Rule == ShardFailureRule.AllOrFail)
        {
            ExceptionDispatchInfo.Throw(first);
        }

        LogPartialCoverage(logger, policy.Call, bank, coverage.ShardsAnswered, coverage.ShardsTotal, first.Message);
        // No shard at all is not "nothing there": answering empty would tell an agent to run without memory.
        if (answers.Count == 0 && first is OverloadedException)
        {
            ExceptionDispatchInfo.Throw(first);
        }

        if (requireFull || answers.Count == 0)
        {
            throw new IncompleteCoverageException(coverage.ShardsAnswered, coverage.ShardsTotal, first.Message);
        }

        return result;
    }

    // Never throws: each call ends as a value or an error, so one failure cannot hide the others' outcomes. The wait
    // honours the token even when the call does not, so a deadline holds against a shard that ignores cancellation.
    private static async Task<Outcome<T>> SettleAsync<T>(ShardCall<T> call, CancellationToken token)
    {
        try
        {
            var task = call.Call(token);
            return new Outcome<T>(token.CanBeCanceled ? await task.WaitAsync(token) : await task, null);
        }
        catch (Exception e)
        {
            return new Outcome<T>(default!, e);
        }
    }

    private readonly record struct Outcome<T>(T Value, Exception? Error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The {Call} on bank {Bank} was answered by {Answered} of {Total} shards: {Failure}")]
    private static partial void LogPartialCoverage(ILogger logger, string call, string bank, int answered, int total, string failure);
}
