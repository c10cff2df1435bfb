using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using MemRL.GrainInterfaces;
using MemRL.Errors;
using Microsoft.Extensions.Options;

namespace MemRL.Grains;

/// <summary>
/// What a recall token vouches for: the bank, the recall's random id (what rewards are counted against), its expiry, the
/// memories recall returned, and Phase A's keys (for the write rule).
/// </summary>
internal sealed record RecallTokenContent(
    string Bank, uint Incarnation, Guid RecallId, DateTimeOffset ExpiresAt, Coverage Coverage, MemoryId[] Memories, ShardKeyMatch[] Keys);

/// <summary>
/// Signs and verifies recall tokens (DESIGN §2): an HMAC-SHA256 over a compact binary payload, so a reward can only touch
/// memories its recall returned. Each token carries a random recall id, which the shards use to take at most one reward
/// per (recall, memory) until the token expires (docs/exactly-once.md), and the id of the key that signed it, so tokens
/// survive a key rotation (<see cref="RecallTokenKeys"/>). Decoding is total: anything that is not a token this cluster
/// signed for this bank, however malformed, is an <see cref="InvalidRecallTokenException"/>.
/// </summary>
internal sealed class RecallTokenSigner
{
    // Version 1 (before recall ids) is still read: its recall id is the first 16 bytes of its MAC, which is as unique
    // as the token itself, so a token issued before an upgrade is still rewarded once.
    private const byte FormatVersion = 2;
    private const byte LegacyFormatVersion = 1;
    private const int MaxTokenLength = 16_384;
    private readonly RecallTokenKeys _keys;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;

    public RecallTokenSigner(RecallTokenKeys keys, IOptions<MemRLClusterOptions> options, TimeProvider time)
    {
        _keys = keys;
        _time = time;
        _lifetime = options.Value.RecallTokenLifetime;
    }

    public string Sign(string bank, uint incarnation, Coverage coverage, ReadOnlySpan<MemoryId> memories, ReadOnlySpan<ShardKeyMatch> keys)
    {
        var expires = _time.GetUtcNow() + _lifetime;
        var (keyId, key) = _keys.Current;
        int bankLength = Encoding.UTF8.GetByteCount(bank);
        int size = 1 + 4 + 2 + bankLength + 4 + 16 + 8 + 4 + 4 + 2 + (memories.Length * 12) + 2 + (keys.Length * 16);

        // Every recall signs a token: the payload and MAC are built in a rented buffer and encoded straight into the
        // one string returned, so signing allocates that string and nothing else.
        const int macSize = HMACSHA256.HashSizeInBytes;
        byte[] rented = ArrayPool<byte>.Shared.Rent(size + macSize);
        try
        {
            var payload = rented.AsSpan(0, size);
            var w = new SpanWriter(payload);
            w.Byte(FormatVersion);
            w.UInt32(keyId);
            w.UInt16((ushort)bankLength);
            w.Utf8(bank, bankLength);
            w.UInt32(incarnation);
            w.Random(16);
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

            HMACSHA256.HashData(key, payload, rented.AsSpan(size, macSize));
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

    /// <summary>
    /// Verifies the signature, the expiry and the bank; throws <see cref="InvalidRecallTokenException"/> (its data names
    /// <paramref name="field"/> and the reason: expired or invalid) otherwise. A token of another bank answers exactly as
    /// a forged one, so it tells nothing of the bank that issued it.
    /// </summary>
    public RecallTokenContent Verify(string? token, string bank, uint incarnation, string field = "token")
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            throw Invalid(field, token is null ? null : $"{token.Length} characters",
                $"{field} is {(string.IsNullOrEmpty(token) ? "missing" : $"{token.Length} characters long")}; expected the token a recall on bank '{bank}' returned (at most {MaxTokenLength} characters).");
        }

        int dot = token.IndexOf('.');
        byte[]? payload = dot > 0 ? FromBase64Url(token.AsSpan(0, dot)) : null;
        byte[]? mac = dot > 0 ? FromBase64Url(token.AsSpan(dot + 1)) : null;
        if (payload is null || mac is null || mac.Length != HMACSHA256.HashSizeInBytes || !TryRead(payload, mac, out var content, out byte[]? key)
            || !MacMatches(payload, mac, key) || content.Bank != bank || content.Incarnation != incarnation)
        {
            throw Invalid(field, null, $"{field} is not a recall token of bank '{bank}'; expected the token a recall on this bank returned.");
        }

        if (content.ExpiresAt < _time.GetUtcNow())
        {
            throw FieldError.Attach(
                new InvalidRecallTokenException($"{field} expired at {content.ExpiresAt:O}; expected an unexpired recall token (recall again)."),
                field, "an unexpired recall token of this bank", $"expired at {content.ExpiresAt:O}", Reasons.TokenExpired);
        }

        return content;
    }

    private static InvalidRecallTokenException Invalid(string field, string? actual, string message) =>
        FieldError.Attach(new InvalidRecallTokenException(message), field, "a recall token of this bank, unexpired", actual, Reasons.TokenInvalid);

    // A null key (a version-1 token, which names none) matches when any key of the ring signed it.
    private bool MacMatches(byte[] payload, byte[] mac, byte[]? key)
    {
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        foreach (var candidate in key is null ? _keys.All.Select(k => k.Key) : [key])
        {
            HMACSHA256.HashData(candidate, payload, expected);
            if (CryptographicOperations.FixedTimeEquals(expected, mac))
            {
                return true;
            }
        }

        return false;
    }

    // False for anything that does not parse as a token of a known key: truncated, trailing bytes, unknown version or key.
    private bool TryRead(byte[] payload, byte[] mac, out RecallTokenContent content, out byte[]? key)
    {
        content = null!;
        key = null;
        var r = new SpanReader(payload);
        if (!r.TryByte(out byte version) || version is not (FormatVersion or LegacyFormatVersion))
        {
            return false;
        }

        if (version == FormatVersion)
        {
            if (!r.TryUInt32(out uint keyId) || !_keys.TryGet(keyId, out byte[] named))
            {
                return false;
            }

            key = named;
        }

        if (!r.TryUInt16(out ushort bankLength) || !r.TryBytes(bankLength, out var bankBytes) || !r.TryUInt32(out uint incarnation))
        {
            return false;
        }

        Guid recallId;
        if (version == FormatVersion)
        {
            if (!r.TryBytes(16, out var id))
            {
                return false;
            }

            recallId = new Guid(id);
        }
        else
        {
            recallId = new Guid(mac.AsSpan(0, 16));
        }

        if (!r.TryInt64(out long expires) || expires < DateTimeOffset.MinValue.UtcTicks || expires > DateTimeOffset.MaxValue.UtcTicks
            || !r.TryInt32(out int answered) || !r.TryInt32(out int total) || !r.TryUInt16(out ushort memoryCount))
        {
            return false;
        }

        var memories = new MemoryId[memoryCount];
        for (int i = 0; i < memories.Length; i++)
        {
            if (!r.TryInt32(out int slot) || !r.TryInt64(out long sequence))
            {
                return false;
            }

            memories[i] = new MemoryId(incarnation, slot, sequence);
        }

        if (!r.TryUInt16(out ushort keyCount))
        {
            return false;
        }

        var keys = new ShardKeyMatch[keyCount];
        for (int i = 0; i < keys.Length; i++)
        {
            if (!r.TryInt64(out long keySequence) || !r.TryInt32(out int slot) || !r.TryInt32(out int similarity))
            {
                return false;
            }

            keys[i] = new ShardKeyMatch(keySequence, slot, BitConverter.Int32BitsToSingle(similarity));
        }

        if (!r.AtEnd)
        {
            return false;
        }

        string bank;
        try
        {
            bank = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bankBytes);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        content = new RecallTokenContent(bank, incarnation, recallId, new DateTimeOffset(expires, TimeSpan.Zero), new Coverage(answered, total), memories, keys);
        return true;
    }

    private static byte[]? FromBase64Url(ReadOnlySpan<char> text)
    {
        var bytes = new byte[Base64Url.GetMaxDecodedLength(text.Length)];
        try
        {
            return Base64Url.TryDecodeFromChars(text, bytes, out int written) ? bytes[..written] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

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

        public void Random(int count)
        {
            RandomNumberGenerator.Fill(_buffer.Slice(_at, count));
            _at += count;
        }

        public void UInt16(ushort v) { BinaryPrimitives.WriteUInt16LittleEndian(_buffer[_at..], v); _at += 2; }

        public void UInt32(uint v) { BinaryPrimitives.WriteUInt32LittleEndian(_buffer[_at..], v); _at += 4; }

        public void Int32(int v) { BinaryPrimitives.WriteInt32LittleEndian(_buffer[_at..], v); _at += 4; }

        public void Int64(long v) { BinaryPrimitives.WriteInt64LittleEndian(_buffer[_at..], v); _at += 8; }
    }

    private delegate T FromBytes<T>(ReadOnlySpan<byte> bytes);

    private ref struct SpanReader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _at;

        public readonly bool AtEnd => _at == _buffer.Length;

        public bool TryByte(out byte value)
        {
            bool ok = TryTake(1, out var bytes);
            value = ok ? bytes[0] : default;
            return ok;
        }

        public bool TryBytes(int count, out ReadOnlySpan<byte> value) => TryTake(count, out value);

        public bool TryUInt16(out ushort value) => TryRead(2, BinaryPrimitives.ReadUInt16LittleEndian, out value);

        public bool TryUInt32(out uint value) => TryRead(4, BinaryPrimitives.ReadUInt32LittleEndian, out value);

        public bool TryInt32(out int value) => TryRead(4, BinaryPrimitives.ReadInt32LittleEndian, out value);

        public bool TryInt64(out long value) => TryRead(8, BinaryPrimitives.ReadInt64LittleEndian, out value);

        private bool TryRead<T>(int size, FromBytes<T> read, out T value)
        {
            bool ok = TryTake(size, out var bytes);
            value = ok ? read(bytes) : default!;
            return ok;
        }

        private bool TryTake(int count, out ReadOnlySpan<byte> value)
        {
            if (count > _buffer.Length - _at)
            {
                value = default;
                return false;
            }

            value = _buffer.Slice(_at, count);
            _at += count;
            return true;
        }
    }
}
