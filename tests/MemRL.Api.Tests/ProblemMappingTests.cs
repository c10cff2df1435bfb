using System.Text.Json;
using MemRL.Errors;
using MemRL.GrainInterfaces;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace MemRL.Api.Tests;

/// <summary>
/// The exception handler on its own: what a problem says comes from the exception's type and FieldError data, so a
/// message that says something else cannot change it.
/// </summary>
public sealed class ProblemMappingTests
{
    [Fact]
    public async Task ArgumentError_WithParts_IsAnsweredFromTheParts_NotTheMessage()
    {
        var error = FieldError.Invalid("query[3]", "a finite number", "NaN", message: "a message that says something else entirely");
        var problem = await MapAsync(error);

        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("query[3]", problem.GetProperty("field").GetString());
        Assert.Equal("a finite number", problem.GetProperty("expected").GetString());
        Assert.Equal("NaN", problem.GetProperty("actual").GetString());
        Assert.Equal("query[3] is NaN; expected a finite number.", problem.GetProperty("detail").GetString());
        Assert.False(problem.TryGetProperty("reason", out _));
    }

    [Fact]
    public async Task ArgumentError_WithoutParts_Is400_NamingItsParameter()
    {
        var problem = await MapAsync(new ArgumentOutOfRangeException("k9", "k9 is 7; expected something."));
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("k9", problem.GetProperty("field").GetString());
        Assert.DoesNotContain("expected something", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_And_Reason_AreCarried()
    {
        var missing = await MapAsync(FieldError.Missing("reward", "a finite number"));
        Assert.Equal("reward is missing; expected a finite number.", missing.GetProperty("detail").GetString());
        Assert.Equal(Reasons.Missing, missing.GetProperty("reason").GetString());

        var cursor = await MapAsync(FieldError.Invalid("cursor", "a cursor of this bank", "'x'", Reasons.CursorInvalid));
        Assert.Equal(Reasons.CursorInvalid, cursor.GetProperty("reason").GetString());
    }

    [Theory]
    [InlineData(Reasons.TokenExpired, true)]
    [InlineData(Reasons.TokenInvalid, false)]
    [InlineData(null, false)]
    public async Task RecallToken_IsExpiredOnlyByItsReason_WhateverTheMessageSays(string? reason, bool expired)
    {
        // The messages say the opposite of the reason: only the reason may decide.
        var error = new InvalidRecallTokenException(expired ? "token is forged." : "token expired at noon; recall again.");
        if (reason is not null)
        {
            FieldError.Attach(error, "token", "a recall token of this bank, unexpired", null, reason);
        }

        var problem = await MapAsync(error, bank: "support", path: "/v1/banks/support/reward");
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal("token", problem.GetProperty("field").GetString());
        Assert.Equal(expired ? Reasons.TokenExpired : Reasons.TokenInvalid, problem.GetProperty("reason").GetString());
        Assert.Equal(expired, problem.GetProperty("detail").GetString()!.Contains("expired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RecallToken_OfAWrite_IsNamedRecallToken()
    {
        // As the signer raises it for a write: naming the field the token came in.
        var refused = FieldError.Attach(new InvalidRecallTokenException("x"), "recallToken", "a recall token of this bank, unexpired", null, Reasons.TokenInvalid);
        var problem = await MapAsync(refused, bank: "support", path: "/v1/banks/support/memories");
        Assert.Equal("recallToken", problem.GetProperty("field").GetString());
    }

    [Theory]
    [InlineData(true, 503, "5", Reasons.StorageOverloaded)]
    [InlineData(false, 503, "1", null)]
    public async Task ShardUnavailable_IsStorageOverloaded_OnlyByItsFlag_WithALongerRetryAfter(bool overloaded, int status, string retryAfter, string? reason)
    {
        // The message names throttling either way: only the flag may decide.
        var context = Context("b", "/v1/banks/b/memories");
        var problem = await MapAsync(new ShardUnavailableException("Shard 'b/0' could not commit: HTTP 503 ServerBusy throttling.", overloaded), context);

        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.Equal(retryAfter, context.Response.Headers.RetryAfter.ToString());
        Assert.Equal(reason, problem.TryGetProperty("reason", out var r) ? r.GetString() : null);
    }

    private static DefaultHttpContext Context(string bank, string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        context.Items[Problems.BankItem] = bank;
        context.Response.Body = new MemoryStream();
        return context;
    }

    private static async Task<JsonElement> MapAsync(Exception exception, string bank = "b", string path = "/v1/banks/b/recall") =>
        await MapAsync(exception, Context(bank, path));

    private static async Task<JsonElement> MapAsync(Exception exception, DefaultHttpContext context)
    {
        Assert.True(await new ProblemExceptionHandler(NullLogger<ProblemExceptionHandler>.Instance).TryHandleAsync(context, exception, CancellationToken.None));
        context.Response.Body.Position = 0;
        using var document = await JsonDocument.ParseAsync(context.Response.Body);
        return document.RootElement.Clone();
    }
}
