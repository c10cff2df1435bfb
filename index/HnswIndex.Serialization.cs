using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using MemRL.Errors;

namespace MemRL.Index;

public sealed partial class HnswIndex
{
    /// <summary>Version of the binary format written by <see cref="Save"/>; <see cref="Load"/> reads this version only.</summary>
    public const int FormatVersion = 1;

    private const ulong Magic = 0x31534E48_4C524D45; // "EMRLHNS1" little-endian
    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Writes the whole index (options, vectors, graph, tombstones) to <paramref name="stream"/> in chunks of at most
    /// 1 MiB, followed by a SHA-256 of everything before it. <see cref="Load"/> gives back an index that answers identically.
    /// </summary>
    public void Save(Stream stream)
    {
        _ = stream ?? throw FieldError.Missing(nameof(stream), "a stream");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var writer = new ChunkWriter(stream, hash);
        Span<byte> header = stackalloc byte[96];
        BinaryPrimitives.WriteUInt64LittleEndian(header, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], _dimension);
        BinaryPrimitives.WriteInt32LittleEndian(header[16..], (int)_options.Metric);
        BinaryPrimitives.WriteInt32LittleEndian(header[20..], _m);
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], _options.EfConstruction);
        BinaryPrimitives.WriteUInt64LittleEndian(header[28..], _options.Seed);
        BinaryPrimitives.WriteInt32LittleEndian(header[36..], _options.ExactSearchThreshold);
        BinaryPrimitives.WriteDoubleLittleEndian(header[40..], _options.CompactionThreshold);
        BinaryPrimitives.WriteInt32LittleEndian(header[48..], _count);
        BinaryPrimitives.WriteInt32LittleEndian(header[52..], _live);
        BinaryPrimitives.WriteInt32LittleEndian(header[56..], _entry);
        BinaryPrimitives.WriteInt32LittleEndian(header[60..], _maxLevel);
        writer.Write(header);
        writer.Write(MemoryMarshal.AsBytes(StoredVectors()));
        writer.Write(MemoryMarshal.AsBytes(_ids.AsSpan(0, _count)));
        writer.Write(_levels.AsSpan(0, _count));
        writer.Write(MemoryMarshal.AsBytes(_deleted.AsSpan(0, _count)));
        writer.Write(MemoryMarshal.AsBytes(_links0.AsSpan(0, _count * _stride0)));
        for (int node = 0; node < _count; node++)
        {
            if (_upper[node] is { } upper)
            {
                writer.Write(MemoryMarshal.AsBytes(upper.AsSpan()));
            }
        }

        stream.Write(hash.GetHashAndReset());
    }

    /// <summary>Reads an index written by <see cref="Save"/>, without rebuilding the graph.</summary>
    /// <exception cref="InvalidDataException">The stream is not an index, is from another format version, is truncated or corrupt.</exception>
    public static HnswIndex Load(Stream stream)
    {
        _ = stream ?? throw FieldError.Missing(nameof(stream), "a stream");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var reader = new ChunkReader(stream, hash);
        Span<byte> header = stackalloc byte[96];
        reader.Read(header);
        if (BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic)
        {
            throw new InvalidDataException("The stream is not a MemRL.Index HNSW index (bad magic number).");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"The index was written in format version {version}; this build reads version {FormatVersion}.");
        }

        HnswOptions options;
        int count, live, entry, maxLevel;
        try
        {
            options = new HnswOptions
            {
                Dimension = BinaryPrimitives.ReadInt32LittleEndian(header[12..]),
                Metric = (SimilarityMetric)BinaryPrimitives.ReadInt32LittleEndian(header[16..]),
                M = BinaryPrimitives.ReadInt32LittleEndian(header[20..]),
                EfConstruction = BinaryPrimitives.ReadInt32LittleEndian(header[24..]),
                Seed = BinaryPrimitives.ReadUInt64LittleEndian(header[28..]),
                ExactSearchThreshold = BinaryPrimitives.ReadInt32LittleEndian(header[36..]),
                CompactionThreshold = BinaryPrimitives.ReadDoubleLittleEndian(header[40..]),
                InitialCapacity = Math.Max(1, BinaryPrimitives.ReadInt32LittleEndian(header[48..])),
            };
            options.Validate();
            count = BinaryPrimitives.ReadInt32LittleEndian(header[48..]);
            live = BinaryPrimitives.ReadInt32LittleEndian(header[52..]);
            entry = BinaryPrimitives.ReadInt32LittleEndian(header[56..]);
            maxLevel = BinaryPrimitives.ReadInt32LittleEndian(header[60..]);
            if (count < 0 || live < 0 || live > count || entry < -1 || entry >= Math.Max(count, 1) || maxLevel > LevelCap)
            {
                throw new InvalidDataException("The index header is inconsistent.");
            }
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidDataException($"The index header is corrupt: {e.Message}", e);
        }

        var index = new HnswIndex(options);
        reader.Read(MemoryMarshal.AsBytes(index._vectors.AsSpan(index._vectorOffset, count * options.Dimension)));
        reader.Read(MemoryMarshal.AsBytes(index._ids.AsSpan(0, count)));
        reader.Read(index._levels.AsSpan(0, count));
        reader.Read(MemoryMarshal.AsBytes(index._deleted.AsSpan(0, count)));
        reader.Read(MemoryMarshal.AsBytes(index._links0.AsSpan(0, count * index._stride0)));
        for (int node = 0; node < count; node++)
        {
            int level = index._levels[node];
            if (level > LevelCap)
            {
                throw new InvalidDataException($"Node {node} has level {level}; at most {LevelCap} is possible.");
            }

            if (level > 0)
            {
                index._upper[node] = new int[level * (1 + index._m)];
                reader.Read(MemoryMarshal.AsBytes(index._upper[node].AsSpan()));
            }
        }

        Span<byte> expected = stackalloc byte[32];
        hash.GetHashAndReset(expected);
        Span<byte> stored = stackalloc byte[32];
        ReadExactly(stream, stored);
        if (!expected.SequenceEqual(stored))
        {
            throw new InvalidDataException("The index is corrupt: its checksum does not match its contents.");
        }

        // The 8-bit codes are a pure function of the stored vectors, so the file does not carry them.
        for (int node = 0; node < count; node++)
        {
            index._codes.Set(node, index.Vector(node));
        }

        index._count = count;
        index._live = live;
        index._entry = entry;
        index._maxLevel = maxLevel;
        for (int node = 0; node < count; node++)
        {
            if (!index._deleted[node])
            {
                index._nodeOf[index._ids[node]] = node;
            }
        }

        if (index._nodeOf.Count != live)
        {
            throw new InvalidDataException($"The index is corrupt: it names {index._nodeOf.Count} distinct live ids but records {live}.");
        }

        return index;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("The index is truncated.", e);
        }
    }

    // Writes large spans in bounded chunks (no single write near any stream's or store's size limits) and hashes them.
    private readonly struct ChunkWriter(Stream stream, IncrementalHash hash)
    {
        public void Write(ReadOnlySpan<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                var chunk = bytes[..Math.Min(ChunkBytes, bytes.Length)];
                hash.AppendData(chunk);
                stream.Write(chunk);
                bytes = bytes[chunk.Length..];
            }
        }
    }

    private readonly struct ChunkReader(Stream stream, IncrementalHash hash)
    {
        public void Read(Span<byte> bytes)
        {
            while (!bytes.IsEmpty)
            {
                var chunk = bytes[..Math.Min(ChunkBytes, bytes.Length)];
                ReadExactly(stream, chunk);
                hash.AppendData(chunk);
                bytes = bytes[chunk.Length..];
            }
        }
    }
}
