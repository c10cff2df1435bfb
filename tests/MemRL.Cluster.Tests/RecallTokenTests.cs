using MemRL.Errors;
using MemRL.GrainInterfaces;
using MemRL.Grains;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MemRL.Cluster.Tests;

/// <summary>Recall tokens: a persisted key ring (restarts and rotations refuse no token they should accept) and a total decoder.</summary>
public sealed class RecallTokenTests : IDisposable
{
    private const string Bank = "local.support";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "memrl-tokens-" + Guid.NewGuid().ToString("N"));
    private readonly SettableTime _time = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    private string RingPath => Path.Combine(_folder, MemRLClusterOptions.KeyRingFileName);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Verify_AcceptsTokenSignedBeforeRestart_WhenNoKeyIsConfigured()
    {
        string token = Sign(Signer());

        // A restart: a new ring and signer loaded from the same data folder.
        var content = Signer().Verify(token, Bank, 7);

        Assert.Equal(Bank, content.Bank);
        Assert.Equal(2, content.Memories.Length);
        Assert.True(File.Exists(RingPath));
    }

    [Fact]
    public void Verify_AcceptsTokensOfPreviousKeys_AfterRotation_UntilTheyLeaveTheRing()
    {
        string before = Sign(Signer());

        Assert.Equal(2, RecallTokenKeys.Rotate(RingPath));
        var rotated = Signer();
        string after = Sign(rotated);

        Assert.Equal(Bank, rotated.Verify(before, Bank, 7).Bank);
        Assert.Equal(Bank, rotated.Verify(after, Bank, 7).Bank);
        Assert.NotEqual(before[..8], after[..8]);
        for (int i = 0; i < RecallTokenKeys.KeptOnRotation; i++)
        {
            RecallTokenKeys.Rotate(RingPath);
        }

        var error = Assert.Throws<InvalidRecallTokenException>(() => Signer().Verify(before, Bank, 7));
        Assert.Equal(Reasons.TokenInvalid, FieldError.ReasonOf(error));
    }

    [Fact]
    public void Sign_GivesEveryRecallItsOwnId_EvenWithEqualContent()
    {
        var signer = Signer();
        var ids = Enumerable.Range(0, 100).Select(_ => signer.Verify(Sign(signer), Bank, 7).RecallId).ToHashSet();

        Assert.Equal(100, ids.Count);
    }

    [Fact]
    public void Verify_RefusesExpiredToken_WithReasonExpired()
    {
        var signer = Signer();
        string token = Sign(signer);
        _time.Now += TimeSpan.FromMinutes(16);

        var error = Assert.Throws<InvalidRecallTokenException>(() => signer.Verify(token, Bank, 7, "recallToken"));

        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal(("recallToken", Reasons.TokenExpired), (parts.Field, parts.Reason));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("a.b")]
    [InlineData("a.")]
    [InlineData(".b")]
    [InlineData("....")]
    [InlineData("AAAA.AAAA")]
    [InlineData("%%%%.####")]
    [InlineData("AQ.AQ")]
    [InlineData("\u0000\u0001.\u00ff")]
    public void Verify_RefusesGarbage_AsInvalidToken(string token)
    {
        var error = Assert.Throws<InvalidRecallTokenException>(() => Signer().Verify(token, Bank, 7));

        Assert.True(FieldError.TryRead(error, out var parts));
        Assert.Equal(("token", Reasons.TokenInvalid), (parts.Field, parts.Reason));
    }

    [Fact]
    public void Verify_RefusesEveryMutationOfARealToken_AsInvalidToken()
    {
        var signer = Signer();
        string token = Sign(signer);
        var random = new Random(20261201);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
        for (int i = 0; i < 2000; i++)
        {
            var chars = token.ToCharArray().ToList();
            switch (random.Next(4))
            {
                case 0:
                    chars[random.Next(chars.Count)] = alphabet[random.Next(alphabet.Length)];
                    break;
                case 1:
                    chars.RemoveRange(random.Next(chars.Count), 1);
                    break;
                case 2:
                    chars.Insert(random.Next(chars.Count), alphabet[random.Next(alphabet.Length)]);
                    break;
                default:
                    chars = chars.Take(random.Next(chars.Count)).ToList();
                    break;
            }

            string mutated = new([.. chars]);
            if (mutated == token)
            {
                continue;
            }

            // Base64url has spare low bits in its last character: such a mutation decodes to the same bytes and is the same token.
            try
            {
                var content = signer.Verify(mutated, Bank, 7);
                Assert.Equal(signer.Verify(token, Bank, 7).RecallId, content.RecallId);
            }
            catch (InvalidRecallTokenException error)
            {
                Assert.Equal(Reasons.TokenInvalid, FieldError.ReasonOf(error));
            }
        }
    }

    [Fact]
    public void Verify_RefusesTokenOfAnotherBankOrIncarnation_AsAForgedOne()
    {
        var signer = Signer();
        string token = Sign(signer);

        var otherBank = Assert.Throws<InvalidRecallTokenException>(() => signer.Verify(token, "acme.support", 7));
        var otherIncarnation = Assert.Throws<InvalidRecallTokenException>(() => signer.Verify(token, Bank, 8));

        Assert.Equal(otherBank.Message.Replace("acme.support", Bank, StringComparison.Ordinal), otherIncarnation.Message);
        Assert.DoesNotContain(Bank, otherBank.Message);
    }

    private RecallTokenSigner Signer()
    {
        var options = Options.Create(new MemRLClusterOptions { RecallTokenKeyRingPath = RingPath });
        var keys = RecallTokenKeys.Load(options.Value, RingPath, NullLogger.Instance);
        return new RecallTokenSigner(keys, options, _time);
    }

    private static string Sign(RecallTokenSigner signer) =>
        signer.Sign(Bank, 7, new Coverage(2, 2), [new MemoryId(7, 3, 10), new MemoryId(7, 4, 11)], [new ShardKeyMatch(9, 3, 0.75f)]);

    private sealed class SettableTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
