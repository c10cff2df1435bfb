using MemRL.Errors;
using MemRL.Index;

namespace MemRL.Core;

/// <summary>The data-dependent recall constants of one bank, computed from a sample of its intents.</summary>
/// <param name="Delta">The top-20 % quantile of pairwise similarity: the paper's Phase-A gate (App. E.2).</param>
/// <param name="SimilarityMean">muD, the mean pairwise similarity (the authors' <c>sim_norm_mean</c>).</param>
/// <param name="SimilarityStdDev">sigmaD, the population standard deviation of pairwise similarity.</param>
/// <param name="SampleSize">Vectors used.</param>
/// <param name="PairCount">Pairs compared.</param>
public sealed record CalibrationResult(double Delta, double SimilarityMean, double SimilarityStdDev, int SampleSize, long PairCount);

/// <summary>Computes delta, muD and sigmaD from intent vectors as the paper and the authors' code do (DESIGN §1).</summary>
public static class Calibration
{
    /// <summary>The share of pairs that lie above delta: the paper sets delta at the top-20 % quantile.</summary>
    public const double TopShare = 0.20;

    /// <summary>More vectors than this are subsampled (pairs grow quadratically).</summary>
    public const int MaxSample = 2000;

    /// <summary>Calibrates from <paramref name="intents"/> (at least two, all of one dimension, none zero or non-finite).</summary>
    /// <param name="intents">Intent embeddings.</param>
    /// <param name="seed">Seed of the subsample drawn when there are more than <see cref="MaxSample"/> vectors.</param>
    public static CalibrationResult FromSample(IReadOnlyList<float[]> intents, int seed = 0)
    {
        _ = intents ?? throw FieldError.Missing(nameof(intents), "the sampled intent vectors");
        if (intents.Count < 2)
        {
            throw FieldError.Invalid(nameof(intents), "at least 2 vectors", $"{intents.Count} vectors");
        }

        int dimension = intents[0].Length;
        var sample = Subsample(intents, seed);
        var normalized = new float[sample.Count][];
        for (int i = 0; i < sample.Count; i++)
        {
            VectorValidation.ThrowIfInvalid(sample[i], dimension, $"intents[{i}]");
            normalized[i] = new float[dimension];
            if (!VectorMath.TryNormalize(sample[i], normalized[i]))
            {
                throw FieldError.Invalid($"intents[{i}]", "a vector that can be scaled to unit length", "a vector that cannot", Reasons.NotFinite);
            }
        }

        long pairs = (long)sample.Count * (sample.Count - 1) / 2;
        var similarities = new double[pairs];
        long p = 0;
        double sum = 0;
        for (int i = 0; i < normalized.Length; i++)
        {
            for (int j = i + 1; j < normalized.Length; j++)
            {
                double s = VectorMath.Dot(normalized[i], normalized[j]);
                similarities[p++] = s;
                sum += s;
            }
        }

        double mean = sum / pairs;
        double squares = 0;
        foreach (double s in similarities)
        {
            squares += (s - mean) * (s - mean);
        }

        Array.Sort(similarities);
        return new CalibrationResult(Quantile(similarities, 1 - TopShare), mean, Math.Sqrt(squares / pairs), sample.Count, pairs);
    }

    /// <summary>Linear-interpolation quantile of sorted data (numpy's default, which the paper's tooling uses).</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0)
        {
            throw FieldError.Invalid(nameof(sorted), "at least one value", "empty");
        }

        double position = q * (sorted.Count - 1);
        int lower = (int)Math.Floor(position);
        int upper = Math.Min(lower + 1, sorted.Count - 1);
        return sorted[lower] + ((position - lower) * (sorted[upper] - sorted[lower]));
    }

    private static IReadOnlyList<float[]> Subsample(IReadOnlyList<float[]> intents, int seed)
    {
        if (intents.Count <= MaxSample)
        {
            return intents;
        }

        var indices = Enumerable.Range(0, intents.Count).ToArray();
        new Random(seed).Shuffle(indices);
        return indices.Take(MaxSample).Select(i => intents[i]).ToArray();
    }
}
