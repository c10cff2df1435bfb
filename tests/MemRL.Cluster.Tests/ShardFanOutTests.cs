using MemRL.GrainInterfaces;
using MemRL.Grains;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemRL.Cluster.Tests;

/// <summary>The fan-out policies on plain delegates: no cluster, no Orleans.</summary>
public sealed class ShardFanOutTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(50);
    private readonly ShardFanOut _fanOut = new(NullLogger.Instance);

    private static ShardCall<int> Answer(int shard) => new($"b/{shard}", _ => Task.FromResult(shard * 10));

    private static ShardCall<int> Fail(int shard, Exception error) => new($"b/{shard}", _ => Task.FromException<int>(error));

    // Honours the fan-out's token, as an Orleans call with a cancellation token does.
    private static ShardCall<int> Slow(int shard) => new($"b/{shard}", async ct =>
    {
        await Task.Delay(Timeout.Infinite, ct);
        return -1;
    });

    // Ignores the token: only the fan-out's own wait can give up on it.
    private static ShardCall<int> Deaf(int shard) => new($"b/{shard}", _ => new TaskCompletionSource<int>().Task);

    private static FanOutPolicy Policy(ShardFailureRule rule, TimeSpan? deadline = null) => new("test", rule, deadline);

    private static FanOutPolicy Policy(bool allOrFail, TimeSpan? deadline = null) =>
        Policy(allOrFail ? ShardFailureRule.AllOrFail : ShardFailureRule.PartialCoverage, deadline);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_ReturnsEveryAnswerInCallOrder_WhenAllSucceed(bool allOrFail)
    {
        var result = await _fanOut.RunAsync(Policy(allOrFail, Short * 100), "b", [Answer(2), Answer(0), Answer(1)]);

        Assert.Equal([20, 0, 10], result.Answers);
        Assert.Equal(new Coverage(3, 3), result.Coverage);
        Assert.Null(result.FirstFailure);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_AnswersNothing_WithFullCoverage_WhenThereAreNoCalls(bool allOrFail)
    {
        var result = await _fanOut.RunAsync<int>(Policy(allOrFail), "b", [], requireFull: true);

        Assert.Empty(result.Answers);
        Assert.True(result.Coverage.IsFull);
    }

    [Fact]
    public async Task AllOrFail_ThrowsTheFirstFailureInShardOrder_WhenShardsFail()
    {
        var late = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = new[]
        {
            Answer(0),
            Fail(1, new OverloadedException("shard 1 is overloaded")),
            new ShardCall<int>("b/2", _ => late.Task),
            Fail(3, new ShardUnavailableException("shard 3 is down")),
        };

        var run = _fanOut.RunAsync(Policy(ShardFailureRule.AllOrFail), "b", calls);
        // It waits for every shard, so the error is the same whichever shard fails first in time.
        Assert.False(run.IsCompleted);
        late.SetResult(20);

        var error = await Assert.ThrowsAsync<OverloadedException>(() => run);
        Assert.Equal("shard 1 is overloaded", error.Message);
    }

    [Fact]
    public async Task AllOrFail_ThrowsTheShardsOwnError_WhenItThrowsBeforeReturningATask()
    {
        var calls = new[] { Answer(0), new ShardCall<int>("b/1", _ => throw new MemoryNotFoundException("gone")) };

        await Assert.ThrowsAsync<MemoryNotFoundException>(() => _fanOut.RunAsync(Policy(ShardFailureRule.AllOrFail), "b", calls));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AllOrFail_ThrowsShardUnavailableNamingTheShard_WhenOneMissesTheDeadline(bool honoursCancellation)
    {
        var calls = new[] { Answer(0), honoursCancellation ? Slow(1) : Deaf(1) };

        var error = await Assert.ThrowsAsync<ShardUnavailableException>(() => _fanOut.RunAsync(Policy(ShardFailureRule.AllOrFail, Short), "b", calls));
        Assert.Contains("'b/1' did not answer the test within", error.Message);
    }

    [Fact]
    public async Task PartialCoverage_AnswersFromTheOthers_WithCoverageAndTheReason_WhenOneFails()
    {
        var calls = new[] { Answer(0), Fail(1, new ShardUnavailableException("shard 1 lost its state")), Answer(2) };

        var result = await _fanOut.RunAsync(Policy(ShardFailureRule.PartialCoverage), "b", calls);

        Assert.Equal([0, 20], result.Answers);
        Assert.Equal(new Coverage(2, 3), result.Coverage);
        Assert.Equal("shard 1 lost its state", result.FirstFailure?.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task PartialCoverage_CountsAShardAsNotAnswered_WhenItMissesTheDeadline(bool honoursCancellation)
    {
        var calls = new[] { Answer(0), honoursCancellation ? Slow(1) : Deaf(1), Answer(2) };

        var result = await _fanOut.RunAsync(Policy(ShardFailureRule.PartialCoverage, Short), "b", calls);

        Assert.Equal([0, 20], result.Answers);
        Assert.Equal(new Coverage(2, 3), result.Coverage);
        Assert.IsType<ShardUnavailableException>(result.FirstFailure);
    }

    [Fact]
    public async Task PartialCoverage_ThrowsIncompleteCoverage_WhenFullCoverageIsRequired()
    {
        var calls = new[] { Answer(0), Slow(1) };
        Coverage? seen = null;

        var error = await Assert.ThrowsAsync<IncompleteCoverageException>(
            () => _fanOut.RunAsync(Policy(ShardFailureRule.PartialCoverage, Short), "b", calls, requireFull: true, settled: c => seen = c));

        Assert.Equal((1, 2), (error.Answered, error.Total));
        Assert.Equal(new Coverage(1, 2), seen);
    }

    [Fact]
    public async Task PartialCoverage_ThrowsIncompleteCoverage_WhenNoShardAnswers()
    {
        var calls = new[] { Fail(0, new ShardUnavailableException("down")), Slow(1) };

        var error = await Assert.ThrowsAsync<IncompleteCoverageException>(() => _fanOut.RunAsync(Policy(ShardFailureRule.PartialCoverage, Short), "b", calls));

        Assert.Equal((0, 2), (error.Answered, error.Total));
        Assert.Contains("down", error.Message);
    }

    [Fact]
    public async Task PartialCoverage_ThrowsTheOverload_WhenNoShardAnswersBecauseOfIt()
    {
        var calls = new[] { Fail(0, new OverloadedException("busy")), Fail(1, new ShardUnavailableException("down")) };

        await Assert.ThrowsAsync<OverloadedException>(() => _fanOut.RunAsync(Policy(ShardFailureRule.PartialCoverage), "b", calls));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_PropagatesAStaleBankVersion_WhateverTheRuleAndOtherFailures(bool allOrFail)
    {
        var calls = new[] { Fail(0, new OverloadedException("busy")), Answer(1), Fail(2, new StaleBankVersionException(3, 4)) };

        var error = await Assert.ThrowsAsync<StaleBankVersionException>(() => _fanOut.RunAsync(Policy(allOrFail), "b", calls));
        Assert.Equal(4, error.CurrentVersion);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_PropagatesBankNotFound_WhateverTheRule(bool allOrFail)
    {
        var calls = new[] { Answer(0), Fail(1, new BankNotFoundException("b")), Slow(2) };

        var error = await Assert.ThrowsAsync<BankNotFoundException>(() => _fanOut.RunAsync(Policy(allOrFail, Short), "b", calls));
        Assert.Equal("b", error.Bank);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task RunAsync_ThrowsOperationCanceled_WhenTheCallerCancels(bool allOrFail)
    {
        using var caller = new CancellationTokenSource();
        var run = _fanOut.RunAsync(Policy(allOrFail, TimeSpan.FromMinutes(5)), "b", [Answer(0), Slow(1), Deaf(2)], cancellationToken: caller.Token);
        Assert.False(run.IsCompleted);

        caller.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }
}
