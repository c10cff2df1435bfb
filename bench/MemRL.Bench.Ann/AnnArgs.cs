using System.Globalization;

namespace MemRL.Bench.Ann;

internal sealed record AnnArgs(string Base, string Query, string GroundTruth, int M, int EfConstruction, int[] Efs, int K,
    string? OutIds, double MinTime, int Nq, bool Deletes, bool LoadVsRebuild, string? IndexFile, bool CompareTraversals)
{
    public static AnnArgs Parse(string[] args)
    {
        string? b = null, q = null, gt = null, outIds = null, indexFile = null;
        int m = 16, efc = 200, k = 10, nq = 0;
        int[] efs = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256];
        double minTime = 1.0;
        bool deletes = false, loadVsRebuild = false, compareTraversals = false;
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            switch (flag)
            {
                case "--deletes": deletes = true; continue;
                case "--load-vs-rebuild": loadVsRebuild = true; continue;
                case "--compare-traversals": compareTraversals = true; continue;
            }

            string value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag} needs a value.");
            switch (flag)
            {
                case "--base": b = value; break;
                case "--query": q = value; break;
                case "--gt": gt = value; break;
                case "--M": m = Int(flag, value); break;
                case "--efc": efc = Int(flag, value); break;
                case "--ef": efs = value.Split(',').Select(v => Int(flag, v)).ToArray(); break;
                case "--k": k = Int(flag, value); break;
                case "--threads": case "--build-threads": break;
                case "--out-ids": outIds = value; break;
                case "--min-time": minTime = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--nq": nq = Int(flag, value); break;
                case "--index-file": indexFile = value; break;
                default: throw new ArgumentException($"Unknown flag {flag}.");
            }
        }

        return new AnnArgs(b ?? throw new ArgumentException("--base is required."), q ?? throw new ArgumentException("--query is required."),
            gt ?? throw new ArgumentException("--gt is required."), m, efc, efs, k, outIds, minTime, nq, deletes, loadVsRebuild, indexFile, compareTraversals);
    }

    private static int Int(string flag, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new ArgumentException($"{flag} is '{value}'; expected a positive integer.");
}
