using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using MemRL.GrainInterfaces;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MemRL.Grains;

/// <summary>What a recall token vouches for: the bank, the memories recall returned, and Phase A's keys (for the write rule).</summary>
internal sealed record RecallTokenContent(
    string Bank, uint Incarnation, DateTimeOffset ExpiresAt, Coverage Coverage, MemoryId[] Memories, ShardKeyMatch[] Keys);

/// <summary>
/// Signs and verifies recall tokens (DESIGN §2): an HMAC-SHA256 over a compact binary payload, so a reward can only touch
/// memories its recall returned, with no state kept between recall and reward.
/// </summary>
internal sealed partial class RecallTokenSigner
{
    private const byte FormatVersion = 1;
    private readonly byte[] _key;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;

    public RecallTokenSigner(IOptions<MemRLClusterOptions> options, TimeProvider time, ILogger<RecallTokenSigner> logger)
    {
        _time = time;
        _lifetime = options.Value.RecallTokenLifetime;
        if (string.IsNullOrEmpty(options.Value.RecallTokenKey))
        {
            _key = RandomNumberGenerator.GetBytes(32);
            LogEphemeralKey(logger);
        }
        else
        {
            _key = Convert.FromBase64String(options.Value.RecallTokenKey);
        }
    }

    public string Sign(string bank, uint incarnation, Coverage coverage, ReadOnlySpan<MemoryId> memories, ReadOnlySpan<ShardKeyMatch> keys)
    {
        var expires = _time.GetUtcNow() + _lifetime;
        int bankLength = Encoding.UTF8.GetByteCount(bank);
        int size = 1 + 2 + bankLength + 4 + 8 + 4 + 4 + 2 + (memories.Length * 12) + 2 + (keys.Length * 16);

        // Every recall signs a token: the payload and MAC are built in a rented buffer and encoded straight into the
        // one string returned, so signing allocates that string and nothing else.
        const int macSize = HMACSHA256.HashSizeInBytes;
        byte[] rented = ArrayPool<byte>.Shared.Rent(size + macSize);
        try
        {
            var payload = rented.AsSpan(0, size);
            var w = new SpanWriter(payload);
            w.Byte(FormatVersion);
            w.UInt16((ushort)bankLength);
            w.Utf8(bank, bankLength);
            w.UInt32(incarnation);
            w.Int64(expires.UtcTicks);
            w.Int32(coverage.ShardsAnswered);
            w.Int32(coverage.ShardsTotal);
            w.UInt16((ushort)memories.Length);
            foreach (var m in memories)
            {
                w.Int32(m.Slot);
                w.Int64(m.Sequence);
            }

            w.UInt16((ushort)keys.Length);
            foreach (var k in keys)
            {
                w.Int64(k.KeySequence);
                w.Int32(k.Slot);
                w.Int32(BitConverter.SingleToInt32Bits(k.Similarity));
            }

            HMACSHA256.HashData(_key, payload, rented.AsSpan(size, macSize));
            return string.Create(Base64Url.GetEncodedLength(size) + 1 + Base64Url.GetEncodedLength(macSize), (Buffer: rented, Size: size), static (chars, state) =>
            {
                int written = Base64Url.EncodeToChars(state.Buffer.AsSpan(0, state.Size), chars);
                chars[written] = '.';
                Base64Url.EncodeToChars(state.Buffer.AsSpan(state.Size, macSize), chars[(written + 1)..]);
            });
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Verifies the signature, the expiry and the bank; throws <see cref="InvalidRecallTokenException"/> otherwise.</summary>
    public RecallTokenContent Verify(string? token, string bank, uint incarnation)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 16_384)
        {
            throw new InvalidRecallTokenException("token is missing or longer than 16384 characters; pass the token a recall returned.");
        }

        int dot = token.IndexOf('.');
        byte[]? payload = dot > 0 ? FromBase64Url(token.AsSpan(0, dot)) : null;
        byte[]? mac = dot > 0 ? FromBase64Url(token.AsSpan(dot + 1)) : null;
        if (payload is null || mac is null || !CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(_key, payload), mac))
        {
            throw new InvalidRecallTokenException("token is not a recall token signed by this cluster.");
        }

        RecallTokenContent content;
        try
        {
            content = Read(payload);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidDataException)
        {
            throw new InvalidRecallTokenException("token is malformed.");
        }

        if (content.Bank != bank || content.Incarnation != incarnation)
        {
            throw new InvalidRecallTokenException($"token was issued by bank '{content.Bank}', not by bank '{bank}'.");
        }

        if (content.ExpiresAt < _time.GetUtcNow())
        {
            throw new InvalidRecallTokenException($"token expired at {content.ExpiresAt:O}; recall again.");
        }

        return content;
    }

    private static RecallTokenContent Read(byte[] payload)
    {
        var r = new SpanReader(payload);
        if (r.Byte() != FormatVersion)
        {
            throw new InvalidDataException("token format version");
        }

        string bank = Encoding.UTF8.GetString(r.Bytes(r.UInt16()));
        uint incarnation = r.UInt32();
        var expires = new DateTimeOffset(r.Int64(), TimeSpan.Zero);
        var coverage = new Coverage(r.Int32(), r.Int32());
        var memories = new MemoryId[r.UInt16()];
        for (int i = 0; i < memories.Length; i++)
        {
            memories[i] = new MemoryId(incarnation, r.Int32(), r.Int64());
        }

        var keys = new ShardKeyMatch[r.UInt16()];
        for (int i = 0; i < keys.Length; i++)
        {
            keys[i] = new ShardKeyMatch(r.Int64(), r.Int32(), BitConverter.Int32BitsToSingle(r.Int32()));
        }

        return new RecallTokenContent(bank, incarnation, expires, coverage, memories, keys);
    }

    private static byte[]? FromBase64Url(ReadOnlySpan<char> text)
    {
        var bytes = new byte[Base64Url.GetMaxDecodedLength(text.Length)];
        return Base64Url.TryDecodeFromChars(text, bytes, out int written) ? bytes[..written] : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "MemRL:RecallTokenKey is not set; recall tokens are signed with a random key that only this silo knows. Set it on every silo of a multi-silo cluster.")]
    private static partial void LogEphemeralKey(ILogger logger);

    private ref struct SpanWriter(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _at;

        public void Byte(byte v) => _buffer[_at++] = v;

        public void Utf8(string v, int byteCount)
        {
            Encoding.UTF8.GetBytes(v, _buffer.Slice(_at, byteCount));
            _at += byteCount;
        }

        public void UInt16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(_buffer[_at..], v); _at += 2; }

        public void UInt32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_at..], v); _at += 4; }

        public void Int32(int v) { BinaryPrimitives.WriteInt32LittleEndian(_buffer[_at..], v); _at += 4; }

        public void Int64(long v) { BinaryPrimitives.WriteInt64LittleEndian(_buffer[_at..], v); _at += 8; }
    }

    private ref struct SpanReader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _at;

        public byte Byte() => _at < _buffer.Length ? _buffer[_at++] : throw new InvalidDataException("token truncated");

        public ReadOnlySpan<byte> Bytes(int n)
        {
            var v = Take(n);
            return v;
        }

        public ushort UInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

        public uint UInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        private ReadOnlySpan<byte> Take(int n)
        {
            if (_at + n > _buffer.Length)
            {
                throw new InvalidDataException("token truncated");
            }

            var v = _buffer.Slice(_at, n);
            _at += n;
            return v;
        }
    }
}
