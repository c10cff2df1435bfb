namespace MemRL.Bench.Ann;

/// <summary>The texmex formats (SIFT1M layout): each row is an int32 dimension followed by that many values.</summary>
internal static class Texmex
{
    public static float[][] ReadFvecs(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        var rows = new List<float[]>();
        while (reader.BaseStream.Position < reader.BaseStream.Length)
        {
            int d = reader.ReadInt32();
            var row = new float[d];
            for (int i = 0; i < d; i++)
            {
                row[i] = reader.ReadSingle();
            }

            rows.Add(row);
        }

        return [.. rows];
    }

    public static int[][] ReadIvecs(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        var rows = new List<int[]>();
        while (reader.BaseStream.Position < reader.BaseStream.Length)
        {
            int d = reader.ReadInt32();
            var row = new int[d];
            for (int i = 0; i < d; i++)
            {
                row[i] = reader.ReadInt32();
            }

            rows.Add(row);
        }

        return [.. rows];
    }

    public static void WriteIvecs(string path, int[][] rows)
    {
        using var writer = new BinaryWriter(File.Create(path));
        foreach (var row in rows)
        {
            writer.Write(row.Length);
            foreach (int v in row)
            {
                writer.Write(v);
            }
        }
    }
}
