// Batch normalisation's one-pass kernels against their plain loops, bit for bit, on every length from 0 to 40
// and longer odd ones, with awkward values (±0, NaN, ±infinity, a mean far from 0); the row sums also against
// Reductions on one-element spans, which is what the layer computed per channel before (planes of one value).
// Run under DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

public class NormalizationKernelsTests
{
    public static TheoryData<int> Lengths() => ElementwiseKernelsTests.Lengths();

    private static T[] Values<T>(Rng rng, int length, double offset) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++) values[i] = T.CreateChecked(offset + 3 * rng.NextNormal());
        T[] awkward = [T.NegativeZero, T.Zero, T.NaN, T.PositiveInfinity, T.NegativeInfinity];
        for (int i = 0; i < length; i += 7) values[i] = awkward[i / 7 % awkward.Length];
        return values;
    }

    private static void Same<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string what) where T : unmanaged =>
        Assert.True(MemoryMarshal.AsBytes(expected).SequenceEqual(MemoryMarshal.AsBytes(actual)), what);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void OnePassKernelsAreBitIdenticalToTheirReferences(int length)
    {
        Check<float>(length);
        Check<double>(length);
    }

    private static void Check<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)length + 100);
        var x = Values<T>(rng, length, 5);
        var dy = Values<T>(rng, length, 0);
        var mu = Values<T>(rng, Math.Max(1, length), 5);
        var a = Values<T>(rng, Math.Max(1, length), 1);
        var b = Values<T>(rng, Math.Max(1, length), 0);
        var q = Values<T>(rng, Math.Max(1, length), 0);

        var expected = new T[length];
        var actual = new T[length];
        NormalizationKernels.NormalizeReference<T>(x, mu, a, b, expected, perFeature: false);
        NormalizationKernels.Normalize<T>(x, mu[0], a[0], b[0], actual);
        Same<T>(expected, actual, $"Normalize, {typeof(T).Name} x {length}");
        if (length > 0)
        {
            NormalizationKernels.NormalizeReference<T>(x, mu, a, b, expected, perFeature: true);
            NormalizationKernels.NormalizeRow<T>(x, mu, a, b, actual);
            Same<T>(expected, actual, $"NormalizeRow, {typeof(T).Name} x {length}");
        }

        NormalizationKernels.InputGradientReference<T>(x, dy, mu, a, q, b, expected, perFeature: false);
        NormalizationKernels.InputGradient<T>(x, dy, mu[0], a[0], q[0], b[0], actual);
        Same<T>(expected, actual, $"InputGradient, {typeof(T).Name} x {length}");
        if (length > 0)
        {
            NormalizationKernels.InputGradientReference<T>(x, dy, mu, a, q, b, expected, perFeature: true);
            NormalizationKernels.InputGradientRow<T>(x, dy, mu, a, q, b, actual);
            Same<T>(expected, actual, $"InputGradientRow, {typeof(T).Name} x {length}");
        }

        // Row sums: against the reference loop, and against Reductions on one-element spans (the per-channel path).
        for (int kind = 0; kind < 3; kind++)
        {
            var start = Values<T>(rng, length, 0);
            var startDots = Values<T>(rng, length, 0);
            var (s1, d1) = ((T[])start.Clone(), (T[])startDots.Clone());
            var (s2, d2) = ((T[])start.Clone(), (T[])startDots.Clone());
            var (s3, d3) = ((T[])start.Clone(), (T[])startDots.Clone());
            var values = kind == 2 ? dy : x;
            NormalizationKernels.RowSumsReference<T>(kind, values, x, mu, s1, d1);
            if (kind == 0) NormalizationKernels.AddRowSums<T>(x, s2);
            else if (kind == 1) NormalizationKernels.AddRowDeviationSquares<T>(x, mu.AsSpan(0, length), s2);
            else NormalizationKernels.AddRowBackwardSums<T>(dy, x, mu.AsSpan(0, length), s2, d2);
            for (int i = 0; i < length; i++)
            {
                ReadOnlySpan<T> one = x.AsSpan(i, 1), g = dy.AsSpan(i, 1);
                if (kind == 0) s3[i] += Reductions.Sum(one);
                else if (kind == 1) s3[i] += Reductions.SumOfSquaredDeviations(one, mu[i]);
                else
                {
                    s3[i] += Reductions.Sum(g);
                    d3[i] += Reductions.DotWithDeviations(g, one, mu[i]);
                }
            }
            Same<T>(s1, s2, $"row sums {kind}, {typeof(T).Name} x {length}");
            Same<T>(d1, d2, $"row dots {kind}, {typeof(T).Name} x {length}");
            Same<T>(s3, s2, $"row sums {kind} against Reductions, {typeof(T).Name} x {length}");
            Same<T>(d3, d2, $"row dots {kind} against Reductions, {typeof(T).Name} x {length}");
        }
    }
}
