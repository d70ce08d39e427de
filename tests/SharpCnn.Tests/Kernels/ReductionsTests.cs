// The canonical reductions (Reductions.cs: 16 interleaved lanes, then a fixed pairwise tree) against their
// plain 16-lane loops, bit for bit, on every length from 0 to 40 (every tail of the widest register, 16
// floats, twice over, and more) and on longer odd lengths. The values span many magnitudes, so any other
// order of additions gives other bits (checked: a left-to-right sum differs). Run under
// DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run): every width
// must give the reference's bits.
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

public class ReductionsTests
{
    public static TheoryData<int> Lengths()
    {
        var lengths = new TheoryData<int>();
        for (int n = 0; n <= 40; n++) lengths.Add(n);
        foreach (int n in new[] { 47, 63, 64, 65, 100, 255, 784, 1001, 4099 }) lengths.Add(n);
        return lengths;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void EveryReductionIsBitIdenticalToItsReference(int length)
    {
        Check<float>(length, seed: length);
        Check<double>(length, seed: 1000 + length);
    }

    private static void Check<T>(int length, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        T[] x = Values<T>(random, length), y = Values<T>(random, length);
        T mu = T.CreateTruncating(random.NextDouble() - 0.5);
        Same(Reductions.SumReference<T>(x), Reductions.Sum<T>(x), "Sum", length);
        Same(Reductions.SumOfSquaresReference<T>(x), Reductions.SumOfSquares<T>(x), "SumOfSquares", length);
        Same(Reductions.DotReference<T>(x, y), Reductions.Dot<T>(x, y), "Dot", length);
        Same(Reductions.SumOfSquaredDeviationsReference<T>(x, mu), Reductions.SumOfSquaredDeviations<T>(x, mu), "SumOfSquaredDeviations", length);
        Same(Reductions.DotWithDeviationsReference<T>(y, x, mu), Reductions.DotWithDeviations<T>(y, x, mu), "DotWithDeviations", length);

        // The paired reductions (batch norm's two planes at once, and Σδ with Σδ(x - μ) in one pass): each half the bits
        // of its own reference, and of the single fast reduction.
        T[] z = Values<T>(random, length);
        T nu = T.CreateTruncating(random.NextDouble() - 0.5);
        var sums = Reductions.Pair<T, SumStep<T>, SumStep<T>>(x, x, T.Zero, z, z, T.Zero);
        var sumsRef = Reductions.PairReference<T, SumStep<T>, SumStep<T>>(x, x, T.Zero, z, z, T.Zero);
        Same(sumsRef.A, sums.A, "Pair Sum A", length);
        Same(sumsRef.B, sums.B, "Pair Sum B", length);
        Same(Reductions.Sum<T>(z), sums.B, "Pair Sum B against Sum", length);
        var squares = Reductions.Pair<T, DeviationSquareStep<T>, DeviationSquareStep<T>>(x, x, mu, z, z, nu);
        var squaresRef = Reductions.PairReference<T, DeviationSquareStep<T>, DeviationSquareStep<T>>(x, x, mu, z, z, nu);
        Same(squaresRef.A, squares.A, "Pair SumOfSquaredDeviations A", length);
        Same(squaresRef.B, squares.B, "Pair SumOfSquaredDeviations B", length);
        Same(Reductions.SumOfSquaredDeviations<T>(z, nu), squares.B, "Pair SumOfSquaredDeviations B against the single one", length);
        var backward = Reductions.Pair<T, SumStep<T>, DeviationDotStep<T>>(y, y, T.Zero, x, y, mu);
        Same(Reductions.SumReference<T>(y), backward.A, "Pair Σδ", length);
        Same(Reductions.DotWithDeviationsReference<T>(y, x, mu), backward.B, "Pair Σδ(x - μ)", length);

        // The references are the sums they claim to be (within the rounding of n additions).
        double eps = double.CreateTruncating(T.BitIncrement(T.One) - T.One);
        double sum = 0, magnitude = 0, dot = 0, dotMagnitude = 0;
        for (int i = 0; i < length; i++)
        {
            double xi = double.CreateTruncating(x[i]), yi = double.CreateTruncating(y[i]);
            sum += xi;
            magnitude += Math.Abs(xi);
            dot += xi * yi;
            dotMagnitude += Math.Abs(xi * yi);
        }
        Assert.True(Math.Abs(double.CreateTruncating(Reductions.SumReference<T>(x)) - sum) <= (length + 1) * eps * magnitude, $"Sum of {length} is off");
        Assert.True(Math.Abs(double.CreateTruncating(Reductions.DotReference<T>(x, y)) - dot) <= (length + 1) * eps * dotMagnitude, $"Dot of {length} is off");
    }

    [Fact]
    public void TheOrderMattersForTheseValuesSoTheComparisonsCanFail()
    {
        // Left to right is another order: on these values it gives other bits than the 16 lanes and their tree.
        var random = new Random(5);
        float[] x = Values<float>(random, 1001);
        float leftToRight = 0;
        foreach (float v in x) leftToRight += v;
        Assert.NotEqual(BitConverter.SingleToUInt32Bits(leftToRight), BitConverter.SingleToUInt32Bits(Reductions.Sum<float>(x)));
    }

    [Fact]
    public void TheTreeAddsLaneJPlusEightThenFourThenTwoThenOne()
    {
        // 16 values whose sum depends on the tree's shape: 2^24 in lane 0, -2^24 in lane 8, ones elsewhere.
        // lane 0 + lane 8 cancels exactly first, so all 14 ones survive: 14. Left to right loses the 7 ones before -2^24: 7.
        float[] x = new float[16];
        x.AsSpan().Fill(1);
        x[0] = 16777216f;
        x[8] = -16777216f;
        Assert.Equal(14f, Reductions.Sum<float>(x));
        Assert.Equal(14f, Reductions.SumReference<float>(x));
    }

    [Fact]
    public void NaNAndInfinityPropagateOnEveryWidth()
    {
        for (int length = 1; length <= 33; length++)
        {
            float[] x = Enumerable.Range(0, length).Select(i => (float)i).ToArray();
            x[length - 1] = float.NaN;
            Assert.True(float.IsNaN(Reductions.Sum<float>(x)), $"NaN at the end of {length}");
            x[length - 1] = float.PositiveInfinity;
            Assert.Equal(float.PositiveInfinity, Reductions.SumOfSquares<float>(x));
        }
    }

    [Fact]
    public void HalfTakesTheScalarLanes()
    {
        Half[] x = Enumerable.Range(0, 37).Select(i => (Half)(i * 0.25 - 3)).ToArray();
        Assert.Equal(Reductions.SumReference<Half>(x), Reductions.Sum<Half>(x));
        Assert.Equal(Reductions.DotReference<Half>(x, x), Reductions.Dot<Half>(x, x));
    }

    [Fact]
    public void APairOfUnequalLengthsThrows() =>
        Assert.Throws<ArgumentException>(() => Reductions.Pair<float, SumStep<float>, SumStep<float>>(new float[3], new float[3], 0, new float[4], new float[4], 0));

    [Fact]
    public void ADotProductOfUnequalLengthsThrows() =>
        Assert.Throws<ArgumentException>(() => Reductions.Dot<float>(new float[3], new float[4]));

    private static void Same<T>(T expected, T actual, string what, int length) where T : unmanaged, IFloatingPointIeee754<T> =>
        Assert.True(T.IsNaN(expected) ? T.IsNaN(actual) : expected == actual && T.IsNegative(expected) == T.IsNegative(actual),
            $"{typeof(T).Name} {what} of {length}: reference {expected}, fast {actual}");

    /// <summary>Values of both signs over six orders of magnitude, so that rounding depends on the order of additions.</summary>
    private static T[] Values<T>(Random random, int length) where T : unmanaged, IFloatingPointIeee754<T> =>
        Enumerable.Range(0, length).Select(_ => T.CreateTruncating((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 4)))).ToArray();
}
