namespace MemRL.Tests;

/// <summary>The cosine oracle: computed the obvious way in double precision, independent of the SIMD kernels it checks.</summary>
internal static class ScalarCosine
{
    public static double Of(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
