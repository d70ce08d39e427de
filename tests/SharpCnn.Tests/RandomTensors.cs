using SharpCnn.Tensors;

namespace SharpCnn.Tests;

/// <summary>Seeded random test inputs.</summary>
internal static class RandomTensors
{
    /// <summary>Normal(0, scale) values.</summary>
    public static double[] Normal(Rng rng, int length, double scale = 1.0)
    {
        var a = new double[length];
        for (int i = 0; i < length; i++) a[i] = scale * rng.NextNormal();
        return a;
    }

    /// <summary>Values in ±[margin, 1 + margin]: never within <paramref name="margin"/> of zero (keeps ReLU off its kink).</summary>
    public static double[] AwayFromZero(Rng rng, int length, double margin = 0.05)
    {
        var a = new double[length];
        for (int i = 0; i < length; i++) a[i] = (margin + rng.NextDouble()) * (rng.NextDouble() < 0.5 ? -1 : 1);
        return a;
    }

    /// <summary>A random permutation of evenly spaced values: all distinct by at least <paramref name="gap"/> (no max-pool ties).</summary>
    public static double[] Distinct(Rng rng, int length, double gap = 0.01)
    {
        var idx = Enumerable.Range(0, length).ToArray();
        rng.Shuffle(idx);
        var a = new double[length];
        for (int i = 0; i < length; i++) a[i] = (idx[i] - length / 2.0) * gap;
        return a;
    }

    /// <summary>Copies parameter values in from an array.</summary>
    public static void Fill(Parameter<double> p, Rng rng, double scale = 0.5)
    {
        for (int i = 0; i < p.Length; i++) p.Value[i] = scale * rng.NextNormal();
        p.ApplyMask();
    }

    /// <summary>double[] to float[].</summary>
    public static float[] ToFloat(double[] a) => a.Select(v => (float)v).ToArray();
}
