// exp, log, tanh and sigmoid (MathKernels.cs): the span kernels (widest register, then narrower ones, then
// scalar lanes for the tail) against the plain loop of scalar lanes, bit for bit, on every length from 0 to
// 40 (every tail of the widest register, 16 floats, twice over) and longer odd ones, with special values;
// and each function against the correctly rounded one (double's Math functions for float, and within a few
// ulp of them for double) over its whole range. Run under DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and
// DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

public class MathKernelsTests
{
    public static TheoryData<int> Lengths()
    {
        var lengths = new TheoryData<int>();
        for (int n = 0; n <= 40; n++) lengths.Add(n);
        foreach (int n in new[] { 63, 65, 100, 1001 }) lengths.Add(n);
        return lengths;
    }

    private delegate void Kernel<T>(ReadOnlySpan<T> x, Span<T> y);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void EveryFunctionIsBitIdenticalToItsScalarLoop(int length)
    {
        Check<float>(length, MathKernels.Exp, MathKernels.ExpReference, scale: 120);
        Check<float>(length, MathKernels.Log, MathKernels.LogReference, scale: 1e30);
        Check<float>(length, MathKernels.Tanh, MathKernels.TanhReference, scale: 12);
        Check<float>(length, MathKernels.Sigmoid, MathKernels.SigmoidReference, scale: 120);
        Check<double>(length, MathKernels.Exp, MathKernels.ExpReference, scale: 800);
        Check<double>(length, MathKernels.Log, MathKernels.LogReference, scale: 1e300);
        Check<double>(length, MathKernels.Tanh, MathKernels.TanhReference, scale: 25);
        Check<double>(length, MathKernels.Sigmoid, MathKernels.SigmoidReference, scale: 800);
    }

    private static void Check<T>(int length, Kernel<T> fast, Kernel<T> reference, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(length * 7 + (int)Math.Log10(scale));
        T[] special = [T.NaN, T.Zero, T.NegativeZero, T.PositiveInfinity, T.NegativeInfinity, T.Epsilon, -T.Epsilon, T.One, -T.One];
        T[] x = Enumerable.Range(0, length).Select(i => i % 6 == 5
            ? special[i / 6 % special.Length]
            : T.CreateTruncating(scale > 1e6
                ? Math.Pow(scale, random.NextDouble() * 2 - 1) * (random.Next(8) == 0 ? -1 : 1)
                : (random.NextDouble() * 2 - 1) * scale)).ToArray();
        T[] y = new T[length], expected = new T[length];
        y.AsSpan().Fill(T.CreateTruncating(99));
        fast(x, y);
        reference(x, expected);
        ElementwiseKernelsTests.AssertBits(expected, y);

        // In place gives the same.
        T[] inPlace = (T[])x.Clone();
        fast(inPlace, inPlace);
        ElementwiseKernelsTests.AssertBits(expected, inPlace);
    }

    [Fact]
    public void FloatFunctionsAreWithinOneOrTwoUlpOfTheCorrectlyRoundedOnes()
    {
        // Correctly rounded float results: the double functions (far more accurate than a float ulp) rounded to float.
        Assert.True(MaxUlp(-104, 89, 400_001, MathKernels.Exp, Math.Exp) <= 1);
        Assert.True(MaxUlp(-30, 30, 400_001, MathKernels.Tanh, Math.Tanh) <= 2);
        // Below about -87.3 the true sigmoid is subnormal, and below -88.7 exp(-x) overflows: 0 there (as 1 / (1 + exp(-x)) in float gives).
        Assert.True(MaxUlp(-87, 89, 400_001, MathKernels.Sigmoid, v => 1 / (1 + Math.Exp(-v))) <= 2);
        Assert.True(MaxUlp(1e-44, 3e38, 400_001, MathKernels.Log, Math.Log, logarithmic: true) <= 2);
        Assert.True(MaxUlp(1e-9, 1, 100_001, MathKernels.Tanh, Math.Tanh, logarithmic: true) <= 2);
    }

    [Fact]
    public void DoubleFunctionsAreWithinAFewUlpOfTheRuntimes()
    {
        Assert.True(MaxUlpDouble(-745, 709, 200_001, MathKernels.Exp, Math.Exp) <= 2);
        Assert.True(MaxUlpDouble(-30, 30, 200_001, MathKernels.Tanh, Math.Tanh) <= 3);
        Assert.True(MaxUlpDouble(1e-9, 1, 100_001, MathKernels.Tanh, Math.Tanh, logarithmic: true) <= 3);
        Assert.True(MaxUlpDouble(-700, 700, 200_001, MathKernels.Sigmoid, v => 1 / (1 + Math.Exp(-v))) <= 3);
        Assert.True(MaxUlpDouble(1e-320, 1e308, 200_001, MathKernels.Log, Math.Log, logarithmic: true) <= 2);
    }

    [Fact]
    public void SpecialValues()
    {
        float[] x = [float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, -1f, 1e-45f, 100f, -200f];
        float[] exp = new float[x.Length], log = new float[x.Length], tanh = new float[x.Length], sigmoid = new float[x.Length];
        MathKernels.Exp<float>(x, exp);
        MathKernels.Log<float>(x, log);
        MathKernels.Tanh<float>(x, tanh);
        MathKernels.Sigmoid<float>(x, sigmoid);
        Assert.Equal([float.NaN, 1f, 1f, float.PositiveInfinity, 0f, MathF.Exp(-1), MathF.Exp(1e-45f), float.PositiveInfinity, 0f], exp);
        Assert.Equal([float.NaN, float.NegativeInfinity, float.NegativeInfinity, float.PositiveInfinity, float.NaN, float.NaN, MathF.Log(1e-45f), MathF.Log(100f), float.NaN], log);
        Assert.Equal([float.NaN, 0f, -0f, 1f, -1f, MathF.Tanh(-1), 1e-45f, 1f, -1f], tanh);
        Assert.True(float.IsNegative(tanh[2]), "tanh(-0) = -0");
        Assert.Equal([float.NaN, 0.5f, 0.5f, 1f, 0f, 1 / (1 + MathF.Exp(1)), 0.5f, 1f, 0f], sigmoid);
        Assert.Equal(Math.Exp(-745.0), MathKernels.Exp(-745.0)); // the smallest subnormal
        Assert.Equal(0.0, MathKernels.Exp(-746.0));
        Assert.Equal(double.PositiveInfinity, MathKernels.Exp(710.0));
        Assert.Equal(Math.Log(4.9e-324), MathKernels.Log(4.9e-324));
    }

    [Fact]
    public void HalfIsComputedInFloat()
    {
        Half[] x = [(Half)0.5, (Half)(-3), (Half)7];
        Half[] y = new Half[3];
        MathKernels.Exp<Half>(x, y);
        Assert.Equal([(Half)MathKernels.Exp(0.5f), (Half)MathKernels.Exp(-3f), (Half)MathKernels.Exp(7f)], y);
    }

    private static double MaxUlp(double from, double to, int count, Kernel<float> function, Func<double, double> exact, bool logarithmic = false)
    {
        float[] x = Grid(from, to, count, logarithmic).Select(v => (float)v).ToArray(), y = new float[count];
        function(x, y);
        double worst = 0;
        for (int i = 0; i < count; i++)
        {
            float want = (float)exact(x[i]);
            if (float.IsInfinity(want) || want == 0) { Assert.Equal(want, y[i]); continue; }
            worst = Math.Max(worst, Math.Abs(y[i] - want) / (MathF.BitIncrement(MathF.Abs(want)) - MathF.Abs(want)));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"float: worst {worst} ulp over [{from}, {to}]");
        return worst;
    }

    private static double MaxUlpDouble(double from, double to, int count, Kernel<double> function, Func<double, double> exact, bool logarithmic = false)
    {
        double[] x = Grid(from, to, count, logarithmic), y = new double[count];
        function(x, y);
        double worst = 0;
        for (int i = 0; i < count; i++)
        {
            double want = exact(x[i]);
            if (double.IsInfinity(want) || want == 0) { Assert.Equal(want, y[i]); continue; }
            worst = Math.Max(worst, Math.Abs(y[i] - want) / (Math.BitIncrement(Math.Abs(want)) - Math.Abs(want)));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"double: worst {worst} ulp over [{from}, {to}]");
        return worst;
    }

    private static double[] Grid(double from, double to, int count, bool logarithmic) =>
        Enumerable.Range(0, count).Select(i => logarithmic
            ? Math.Exp(Math.Log(from) + (Math.Log(to) - Math.Log(from)) * i / (count - 1))
            : from + (to - from) * i / (count - 1)).ToArray();
}
