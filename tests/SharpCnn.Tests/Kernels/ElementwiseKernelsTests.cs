// The vectorised element-wise kernels against their plain loops. They use no fused multiply-add and
// keep each expression's order, so every lane must equal the scalar loop exactly: the tests compare
// bits, on odd lengths (whole vectors plus a tail) and on awkward values (NaN, ±0, ±infinity).
// Run under DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.Intrinsics;
using SharpCnn.Kernels;
using SharpCnn.Layers;

namespace SharpCnn.Tests.Kernels;

public class ElementwiseKernelsTests
{
    /// <summary>Every length from 0 to 40 (every tail of the widest register, 16 floats, twice over, and more), then longer ones.</summary>
    public static TheoryData<int> Lengths()
    {
        var lengths = new TheoryData<int>();
        for (int n = 0; n <= 40; n++) lengths.Add(n);
        foreach (int n in new[] { 63, 64, 65, 1001 }) lengths.Add(n);
        return lengths;
    }

    [Fact]
    public void ReportsTheVectorWidthsThisProcessHas()
    {
        string report = $"Vector512 {Vector512.IsHardwareAccelerated}, Vector256 {Vector256.IsHardwareAccelerated}, " +
                        $"Vector128 {Vector128.IsHardwareAccelerated}, Vector<float> {Vector.IsHardwareAccelerated} ({Vector<float>.Count} lanes)";
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        Console.WriteLine($"vector widths: {report}");
        // A narrower width is never accelerated while a wider one is off, except Vector<T>, which follows Vector256 / Vector128.
        Assert.True(!Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated);
        Assert.True(!Vector256.IsHardwareAccelerated || Vector128.IsHardwareAccelerated);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AdamIsBitIdenticalToItsReference(int length)
    {
        Adam<float>(length, seed: length);
        Adam<double>(length, seed: length + 1);
    }

    private static void Adam<T>(int length, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        T[] Values(double scale) => Enumerable.Range(0, length).Select(_ => T.CreateTruncating((random.NextDouble() * 2 - 1) * scale)).ToArray();
        T[] w = Values(1), g = Values(0.1), m = Values(0.01), v = Values(0.001).Select(T.Abs).ToArray();
        if (length > 3) g[2] = T.NaN;
        T[] w2 = (T[])w.Clone(), m2 = (T[])m.Clone(), v2 = (T[])v.Clone();
        T b1 = T.CreateTruncating(0.9), b2 = T.CreateTruncating(0.999), step = T.CreateTruncating(1e-3), eps = T.CreateTruncating(1e-8);
        for (int t = 0; t < 3; t++)
        {
            ElementwiseKernels.Adam<T>(w, g, m, v, b1, b2, step, eps);
            ElementwiseKernels.AdamReference<T>(w2, g, m2, v2, b1, b2, step, eps);
        }
        AssertBits(w2, w);
        AssertBits(m2, m);
        AssertBits(v2, v);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MultiplyAddIsBitIdenticalToItsReferenceAndNotFused(int length)
    {
        MultiplyAdd<float>(length);
        MultiplyAdd<double>(length);
    }

    private static void MultiplyAdd<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(length + 77);
        T[] x = Enumerable.Range(0, length).Select(_ => T.CreateTruncating(random.NextDouble() * 2 - 1)).ToArray();
        T[] a = Enumerable.Range(0, length).Select(_ => T.CreateTruncating(random.NextDouble() * 2 - 1)).ToArray();
        if (length > 4) x[4] = T.NaN;
        T scale = T.CreateTruncating(0.9 + random.NextDouble() * 0.01);
        T[] fast = new T[length], reference = new T[length], inPlace = (T[])a.Clone();
        ElementwiseKernels.MultiplyAdd<T>(x, scale, a, fast);
        ElementwiseKernels.MultiplyAddReference<T>(x, scale, a, reference);
        ElementwiseKernels.MultiplyAdd<T>(x, scale, inPlace, inPlace);
        AssertBits(reference, fast);
        AssertBits(reference, inPlace);
        // Unfused: the product is rounded before the sum (a fused one differs on some of these values).
        for (int i = 0; i < length; i++)
        {
            T product = x[i] * scale;
            AssertBits([product + a[i]], [fast[i]]);
        }
    }

    [Fact]
    public void AFusedMultiplyAddWouldGiveOtherBitsOnTheseValues()
    {
        // So that the test above can tell fused from unfused: on 1,000 random values some differ.
        var random = new Random(78);
        int differ = 0;
        for (int i = 0; i < 1000; i++)
        {
            float x = (float)(random.NextDouble() * 2 - 1), a = (float)(random.NextDouble() * 2 - 1), s = 0.905f;
            if (MathF.FusedMultiplyAdd(x, s, a) != x * s + a) differ++;
        }
        Assert.True(differ > 10, $"{differ} of 1000 differ");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void ReluBackwardIsBitIdenticalToItsReference(int length)
    {
        ReluBackward<float>(length);
        ReluBackward<double>(length);
    }

    private static void ReluBackward<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(length);
        T[] special = [T.NaN, T.Zero, T.NegativeZero, T.PositiveInfinity, T.NegativeInfinity, T.Epsilon, -T.Epsilon];
        T[] x = Enumerable.Range(0, length).Select(i => i % 5 == 0 ? special[i / 5 % special.Length] : T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
        T[] dy = Enumerable.Range(0, length).Select(i => i % 7 == 3 ? T.NaN : T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
        T[] fast = new T[length], reference = new T[length];
        fast.AsSpan().Fill(T.CreateTruncating(99));
        ElementwiseKernels.ReluBackward<T>(x, dy, fast);
        ElementwiseKernels.ReluBackwardReference<T>(x, dy, reference);
        AssertBits(reference, fast);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(200_003)] // several ranges on a machine with more than one kernel thread (flatten's copies of a batch)
    public void CopyCopiesEveryValueAndNothingMore(int length)
    {
        float[] source = Enumerable.Range(0, length).Select(i => i * 0.5f - 7).ToArray();
        float[] destination = new float[length + 3];
        destination.AsSpan().Fill(-1f);
        ElementwiseKernels.Copy<float>(source, destination);
        Assert.Equal(source, destination[..length]);
        Assert.All(destination[length..], v => Assert.Equal(-1f, v));
        Assert.Throws<ArgumentException>(() => ElementwiseKernels.Copy<float>(source.Concat([1f]).ToArray(), new float[length]));
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(6, 10)]
    [InlineData(7, 9)]   // odd sizes: the last row and column are dropped
    [InlineData(28, 28)]
    [InlineData(2, 34)]
    [InlineData(4, 16)]  // exactly one block of 8 windows per row
    [InlineData(6, 41)]  // 20 windows: two blocks and an overlapping third
    [InlineData(3, 64)]
    [InlineData(14, 14)] // 7 windows a row: one block of 8 reaching into the next row, the last row by 4-window blocks
    [InlineData(9, 8)]   // 4 windows a row: blocks of 8 reaching into the next row, the last row one block of 4
    [InlineData(5, 13)]  // 6 windows and a dropped column
    [InlineData(15, 15)] // 7 windows, a dropped row and column
    [InlineData(4, 9)]   // 4 windows, two rows: one block of 8 over the dropped column into the next row pair
    [InlineData(10, 10)] // 5 windows
    [InlineData(8, 6)]   // 3 windows: the plain loop
    public void TwoByTwoMaxPoolIsIdenticalToThePlainLoop(int h, int w)
    {
        var random = new Random(h * 31 + w);
        float[] special = [float.NaN, float.NegativeInfinity, float.PositiveInfinity, 0f, -0f];
        // Few distinct values, so windows have ties; some NaN and infinities.
        float[] x = Enumerable.Range(0, h * w).Select(i => random.Next(9) == 0 ? special[random.Next(special.Length)] : random.Next(4) - 2f).ToArray();
        var window = new PoolWindow(2, 2, 2, PoolEdge.Drop);
        int ho = h / 2, wo = w / 2;
        // The outputs are followed by 8 values it must not write (the next plane's, in a layer).
        float[] y = new float[ho * wo + 8], yRef = new float[ho * wo];
        int[] at = new int[ho * wo + 8], atRef = new int[ho * wo];
        y.AsSpan(ho * wo).Fill(123f);
        at.AsSpan(ho * wo).Fill(123);
        MaxPool2d<float>.TwoByTwo(x, w, y.AsSpan(0, ho * wo), at.AsSpan(0, ho * wo), ho, wo);
        MaxPool2d<float>.ForwardPlaneReference(x, h, w, window, yRef, atRef, ho, wo);
        AssertBits(yRef, y[..(ho * wo)]);
        Assert.Equal(atRef, at[..(ho * wo)]);
        Assert.All(y[(ho * wo)..], v => Assert.Equal(123f, v));
        Assert.All(at[(ho * wo)..], v => Assert.Equal(123, v));
    }

    [Theory]
    [InlineData(28, 28)] // 14 windows a row: a block of 8 and an overlapping one
    [InlineData(14, 14)] // 7: blocks of 4, the second overlapping
    [InlineData(2, 16)]  // exactly one block of 8
    [InlineData(6, 20)]  // 10
    [InlineData(4, 8)]   // exactly one block of 4
    [InlineData(4, 6)]   // 3 windows: the plain loop
    [InlineData(2, 2)]
    public void TwoByTwoMaxPoolBackwardIsIdenticalToThePlainLoop(int h, int w)
    {
        var random = new Random(h * 37 + w);
        float[] special = [float.NaN, float.NegativeInfinity, 0f, -0f];
        float[] x = Enumerable.Range(0, h * w).Select(i => random.Next(9) == 0 ? special[random.Next(special.Length)] : random.Next(4) - 2f).ToArray();
        int ho = h / 2, wo = w / 2;
        var at = new int[ho * wo];
        MaxPool2d<float>.TwoByTwo(x, w, new float[ho * wo], at, ho, wo);
        if (ho * wo > 1) at[1] = -1; // a window of -infinity gives no gradient
        float[] dy = Enumerable.Range(0, ho * wo).Select(i => i % 5 == 2 ? special[random.Next(special.Length)] : (float)(random.NextDouble() - 0.5)).ToArray();
        // dx is written whole without being cleared first (old values must go), and not one value beyond it.
        float[] dx = new float[h * w + 8], reference = new float[h * w];
        dx.AsSpan().Fill(77f);
        MaxPool2d<float>.TwoByTwoBackward(dy, at, w, dx.AsSpan(0, h * w), ho, wo);
        MaxPool2d<float>.BackwardPlaneReference(dy, at, reference);
        AssertBits(reference, dx[..(h * w)]);
        Assert.All(dx[(h * w)..], v => Assert.Equal(77f, v));
        Assert.Throws<ArgumentException>(() => MaxPool2d<float>.TwoByTwoBackward(dy, at, w + 1, new float[h * (w + 1)], ho, wo));
    }

    [Fact]
    public void TwoByTwoMaxPoolGivesNoGradientToAWindowOfMinusInfinity()
    {
        float[] x = [float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity];
        float[] y = new float[1], yRef = new float[1];
        int[] at = new int[1], atRef = new int[1];
        MaxPool2d<float>.TwoByTwo(x, 2, y, at, 1, 1);
        MaxPool2d<float>.ForwardPlaneReference(x, 2, 2, new PoolWindow(2, 2, 2, PoolEdge.Drop), yRef, atRef, 1, 1);
        Assert.Equal(-1, atRef[0]);
        Assert.Equal(atRef[0], at[0]);
        Assert.Equal(yRef[0], y[0]);
    }

    internal static void AssertBits<T>(T[] expected, T[] actual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            bool same = (T.IsNaN(expected[i]) && T.IsNaN(actual[i])) || (expected[i] == actual[i] && T.IsNegative(expected[i]) == T.IsNegative(actual[i]));
            Assert.True(same, $"{typeof(T).Name} element {i} of {expected.Length}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
