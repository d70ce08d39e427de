// Holds the packed, register-blocked Gemm.Multiply to the naive GemmReference.Multiply:
//   C[m x n] (+)= op(A)[m x k] * op(B)[k x n], row-major, any transposes and leading dimensions.
// The reference is the canonical order as a plain loop (depth slices of Gemm.DepthSlice(k), a fused
// multiply-add per p), so every comparison is of bits: fast == reference on every width. The reference
// itself is held to the exact product within the rounding of a length-k dot product:
//   |reference - exact| <= (k + 4) * eps * (sum over p of |op(A)[i,p]| |op(B)[p,j]| + |C0[i,j]|)
// while any indexing, packing or edge-tile mistake produces errors of the size of the values.
// Entries of C outside the m x n region (row padding up to ldc, the span's tail) hold a sentinel
// that must survive untouched.
//
// The same tests cover the narrower SIMD paths when the runtime is told to hide instructions
// (ReportsTheActiveVectorWidth prints which one ran):
//   DOTNET_EnableAVX512=0      Vector256 (on .NET 10 this is the knob; EnableAVX512F no longer is)
//   DOTNET_EnableAVX2=0        Vector128
//   DOTNET_EnableHWIntrinsic=0 scalar
using System.Numerics;
using System.Runtime.Intrinsics;
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

public class GemmTests
{
    private static readonly bool[] Bools = [false, true];

    [Fact]
    public void ReportsTheActiveVectorWidth()
    {
        string width = Vector512.IsHardwareAccelerated ? "Vector512 (8 x 3 register tile)"
            : Vector256.IsHardwareAccelerated ? "Vector256 (6 x 2 register tile)"
            : Vector128.IsHardwareAccelerated ? "Vector128 (6 x 2 register tile)"
            : "scalar (6 x 2 tile)";
        TestContext.Current.TestOutputHelper?.WriteLine($"Gemm runs on: {width}");

        // Whatever the width, a small product must be right: [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50].
        float[] c = new float[4];
        Gemm.Multiply<float>(false, false, 2, 2, 2, [1, 2, 3, 4], 2, [5, 6, 7, 8], 2, c, 2, accumulate: false);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c);
    }

    [Fact]
    public void Float_RandomSmallShapes_MatchReference() => RandomShapes<float>(seed: 1, cases: 160, maxSize: 70);

    [Fact]
    public void Double_RandomSmallShapes_MatchReference() => RandomShapes<double>(seed: 2, cases: 160, maxSize: 70);

    [Theory]
    [MemberData(nameof(EdgeShapes))]
    public void Float_EdgeShapes_AllTransposes_MatchReference(int m, int n, int k)
    {
        foreach (bool transA in Bools)
            foreach (bool transB in Bools)
                foreach (bool accumulate in Bools)
                    CheckAgainstReference<float>(new Random(m * 10007 + n * 101 + k), transA, transB, m, n, k, padding: 3, accumulate);
    }

    [Theory]
    [MemberData(nameof(EdgeShapes))]
    public void Double_EdgeShapes_AllTransposes_MatchReference(int m, int n, int k)
    {
        foreach (bool transA in Bools)
            foreach (bool transB in Bools)
                foreach (bool accumulate in Bools)
                    CheckAgainstReference<double>(new Random(m * 10007 + n * 101 + k), transA, transB, m, n, k, padding: 2, accumulate);
    }

    /// <summary>Sizes of 0 and 1, and sizes either side of the tile multiples (6, 8, 16, 24, 48).</summary>
    public static TheoryData<int, int, int> EdgeShapes() => new()
    {
        { 0, 5, 3 }, { 4, 0, 3 }, { 4, 5, 0 }, { 0, 0, 0 },
        { 1, 1, 1 }, { 1, 1, 7 }, { 1, 17, 1 }, { 9, 1, 1 }, { 1, 49, 33 }, { 13, 1, 40 },
        { 5, 47, 3 }, { 6, 48, 2 }, { 7, 49, 5 }, { 8, 16, 8 }, { 9, 25, 9 }, { 12, 24, 17 },
        { 16, 95, 31 }, { 17, 97, 1 }, { 23, 15, 64 }, { 25, 33, 65 },
    };

    [Fact]
    public void Float_LargeShapes_SplitIntoSeveralBlocks_MatchReference()
    {
        // k = 513 -> 3 depth slices; n = 1000 with a slice of ~171 -> several column blocks;
        // m = 520, k = 1100 -> op(A) too big to pack once, and several row blocks.
        var random = new Random(3);
        CheckAgainstReference<float>(random, false, false, 300, 290, 310, padding: 5, accumulate: false);
        CheckAgainstReference<float>(random, true, true, 20, 1000, 513, padding: 1, accumulate: true);
        CheckAgainstReference<float>(random, false, true, 520, 5, 1100, padding: 0, accumulate: false);
        CheckAgainstReference<float>(random, true, false, 61, 1031, 257, padding: 4, accumulate: false);
    }

    [Fact]
    public void Double_LargeShapes_SplitIntoSeveralBlocks_MatchReference()
    {
        var random = new Random(4);
        CheckAgainstReference<double>(random, true, false, 290, 300, 305, padding: 2, accumulate: true);
        CheckAgainstReference<double>(random, false, true, 20, 1000, 513, padding: 0, accumulate: false);
        CheckAgainstReference<double>(random, true, true, 520, 5, 1100, padding: 3, accumulate: false);
    }

    [Fact]
    public void Half_FallsBackToScalarPath_AndMatchesReference()
    {
        // Half has no SIMD support; it must take the scalar micro-kernel and still be right.
        var random = new Random(5);
        CheckAgainstReference<Half>(random, false, false, 7, 9, 5, padding: 1, accumulate: false);
        CheckAgainstReference<Half>(random, true, true, 13, 3, 6, padding: 0, accumulate: true);
    }

    [Fact]
    public void Overwrite_IgnoresNaNsAlreadyInC()
    {
        // With accumulate = false, C's old contents must not take part (NaN * 0 would leak through).
        var random = new Random(6);
        int m = 10, n = 50, k = 12;
        double[] a = RandomValues<double>(random, m * k), b = RandomValues<double>(random, k * n);
        double[] c = Enumerable.Repeat(double.NaN, m * n).ToArray();
        double[] expected = new double[m * n];
        Gemm.Multiply<double>(false, false, m, n, k, a, k, b, n, c, n, accumulate: false);
        GemmReference.Multiply<double>(false, false, m, n, k, a, k, b, n, expected, n, accumulate: false);
        Assert.DoesNotContain(c, double.IsNaN);
        for (int i = 0; i < c.Length; i++)
            Assert.Equal(expected[i], c[i], 1e-12);
    }

    [Fact]
    public void ZeroDepth_ClearsOrKeepsC()
    {
        float[] c = [1, 2, 3, 4, 5, 6, 7];
        Gemm.Multiply<float>(false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: true);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 7 }, c);
        Gemm.Multiply<float>(false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: false);
        Assert.Equal(new float[] { 0, 0, 3, 0, 0, 6, 7 }, c);
    }

    [Fact]
    public void SameInputs_GiveBitIdenticalOutput()
    {
        var random = new Random(7);
        int m = 67, n = 1200, k = 530;
        float[] a = RandomValues<float>(random, m * k), b = RandomValues<float>(random, n * k);
        float[] first = new float[m * n], second = new float[m * n];
        Gemm.Multiply<float>(false, true, m, n, k, a, k, b, k, first, n, accumulate: false);
        Gemm.Multiply<float>(false, true, m, 40, k, a, k, b, k, second, n, accumulate: false); // disturb the buffers
        Gemm.Multiply<float>(false, true, m, n, k, a, k, b, k, second, n, accumulate: false);
        Assert.True(first.AsSpan().SequenceEqual(second), "two identical calls gave different bits");
    }

    [Fact]
    public void ColumnRanges_AreBitIdenticalToTheFullProduct()
    {
        // The hook for multithreading: any split of C's columns must reproduce the full result exactly.
        var random = new Random(8);
        int m = 19, n = 1100, k = 600;
        double[] a = RandomValues<double>(random, k * m), b = RandomValues<double>(random, k * n);
        double[] full = new double[m * n], pieces = new double[m * n];
        Gemm.Multiply<double>(true, false, m, n, k, a, m, b, n, full, n, accumulate: false);
        int[] cuts = [0, 1, 50, 333, 700, 1100];
        for (int i = 0; i + 1 < cuts.Length; i++)
            Gemm.MultiplyColumns<double>(true, false, m, n, k, a, m, b, n, pieces, n, false, cuts[i], cuts[i + 1] - cuts[i]);
        Assert.True(full.AsSpan().SequenceEqual(pieces), "column ranges differ from the full product");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(9)]
    public void ARowDoesNotDependOnHowManyRowsAreComputedWithIt(int m)
    {
        // A sample's prediction must not depend on its batch: row i of C is the same bits for any m.
        var random = new Random(20 + m);
        int n = 1037, k = 301;
        float[] a = RandomValues<float>(random, 17 * k), b = RandomValues<float>(random, n * k);
        float[] all = new float[17 * n], few = new float[m * n];
        Gemm.Multiply<float>(false, true, 17, n, k, a, k, b, k, all, n, accumulate: false);
        Gemm.Multiply<float>(false, true, m, n, k, a.AsSpan(5 * k), k, b, k, few, n, accumulate: false);
        Assert.True(all.AsSpan(5 * n, m * n).SequenceEqual(few), "rows differ when computed with fewer rows");
    }

    [Fact]
    public void SecondCall_AllocatesNothing()
    {
        var random = new Random(9);
        int m = 70, n = 900, k = 700;
        float[] a = RandomValues<float>(random, m * k), b = RandomValues<float>(random, k * n), c = new float[m * n];
        double[] ad = RandomValues<double>(random, 9 * 11), bd = RandomValues<double>(random, 11 * 13), cd = new double[9 * 13];
        Gemm.Multiply<float>(false, false, m, n, k, a, k, b, n, c, n, accumulate: false);
        Gemm.Multiply<double>(true, true, 9, 13, 11, ad, 9, bd, 11, cd, 13, accumulate: true);

        // The runtime may allocate now and then on this thread while it recompiles hot methods (tiered
        // compilation); an allocation by Gemm itself would show in every round, so one clean round of three passes.
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            Gemm.Multiply<float>(false, false, m, n, k, a, k, b, n, c, n, accumulate: false);
            Gemm.Multiply<double>(true, true, 9, 13, 11, ad, 9, bd, 11, cd, 13, accumulate: true);
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    [Fact]
    public void InvalidArguments_Throw()
    {
        float[] a = new float[6], b = new float[12], c = new float[8];
        // Valid: op(A) 2 x 3, op(B) 3 x 4, C 2 x 4.
        Gemm.Multiply<float>(false, false, 2, 4, 3, a, 3, b, 4, c, 4, false);

        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(false, false, -1, 4, 3, a, 3, b, 4, c, 4, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(false, false, 2, -4, 3, a, 3, b, 4, c, 4, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply<float>(false, false, 2, 4, -3, a, 3, b, 4, c, 4, false));

        AssertInvalid("lda", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 2, b, 4, c, 4, false));
        AssertInvalid("lda", () => Gemm.Multiply<float>(true, false, 3, 4, 2, a, 2, b, 4, new float[12], 4, false)); // A^T stored 2 x 3 needs lda >= 3
        AssertInvalid("ldb", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 3, b, 3, c, 4, false));
        AssertInvalid("ldb", () => Gemm.Multiply<float>(false, true, 2, 4, 3, a, 3, b, 2, c, 4, false)); // B^T stored 4 x 3 needs ldb >= 3
        AssertInvalid("ldc", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 3, b, 4, c, 3, false));
        AssertInvalid("a", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a.AsSpan(0, 5), 3, b, 4, c, 4, false));
        AssertInvalid("a", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 4, b, 4, c, 4, false)); // lda 4 needs 7 values
        AssertInvalid("b", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 3, b.AsSpan(1), 4, c, 4, false));
        AssertInvalid("b", () => Gemm.Multiply<float>(false, true, 2, 4, 3, a, 3, b, 4, c, 4, false)); // B^T stored 4 x 3, ldb 4 needs 15
        AssertInvalid("c", () => Gemm.Multiply<float>(false, false, 2, 4, 3, a, 3, b, 4, c.AsSpan(0, 7), 4, false));
        AssertInvalid("c", () => Gemm.Multiply<float>(false, false, 2, 4, 3, b.AsSpan(0, 6), 3, b, 4, b, 4, false)); // c overlaps a and b
        AssertInvalid("columnCount", () => Gemm.MultiplyColumns<float>(false, false, 2, 4, 3, a, 3, b, 4, c, 4, false, 3, 2));
    }

    private static void AssertInvalid(string parameter, Action call)
    {
        var exception = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(parameter, exception.ParamName);
        Assert.False(string.IsNullOrWhiteSpace(exception.Message));
    }

    private static void RandomShapes<T>(int seed, int cases, int maxSize)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var random = new Random(seed);
        for (int i = 0; i < cases; i++)
        {
            CheckAgainstReference<T>(random, random.Next(2) == 1, random.Next(2) == 1,
                random.Next(1, maxSize + 1), random.Next(1, maxSize + 1), random.Next(1, maxSize + 1),
                padding: random.Next(3) == 0 ? 0 : random.Next(1, 9), accumulate: random.Next(2) == 1);
        }
    }

    /// <summary>
    /// Runs fast and reference on the same random inputs with leading dimensions
    /// <paramref name="padding"/> larger than needed and spans longer than needed, and compares.
    /// </summary>
    private static void CheckAgainstReference<T>(Random random, bool transA, bool transB, int m, int n, int k,
        int padding, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (transA ? m : k) + padding, ldb = (transB ? k : n) + padding, ldc = n + padding;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        T[] a = RandomValues<T>(random, aRows * lda + padding);
        T[] b = RandomValues<T>(random, bRows * ldb + padding);
        T sentinel = T.CreateTruncating(1234.5);
        T[] c = new T[m * ldc + padding + 1];
        c.AsSpan().Fill(sentinel);
        for (int i = 0; i < m; i++)
            RandomValues<T>(random, n).CopyTo(c, i * ldc);
        T[] expected = (T[])c.Clone();
        T[] before = (T[])c.Clone();

        Gemm.Multiply<T>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
        GemmReference.Multiply<T>(transA, transB, m, n, k, a, lda, b, ldb, expected, ldc, accumulate);

        double eps = double.CreateTruncating(T.BitIncrement(T.One) - T.One);
        string shape = $"{typeof(T).Name} m={m} n={n} k={k} transA={transA} transB={transB} pad={padding} accumulate={accumulate}";
        for (int index = 0; index < c.Length; index++)
        {
            int i = ldc == 0 ? m : index / ldc, j = ldc == 0 ? 0 : index % ldc;
            if (i >= m || j >= n)
            {
                Assert.True(c[index] == sentinel, $"{shape}: wrote outside C's m x n region at index {index}");
                continue;
            }
            // The fast kernel follows the canonical order exactly: the same bits as the reference.
            Assert.True(SameBits(expected[index], c[index]), $"{shape}: C[{i},{j}] = {c[index]}, reference {expected[index]}: not the same bits");

            // And the reference is a matrix product: within the rounding error of a length-k dot product of the exact sum.
            double exact = accumulate ? double.CreateTruncating(before[index]) : 0, magnitude = Math.Abs(exact);
            for (int p = 0; p < k; p++)
            {
                double aip = double.CreateTruncating(transA ? a[p * lda + i] : a[i * lda + p]);
                double bpj = double.CreateTruncating(transB ? b[j * ldb + p] : b[p * ldb + j]);
                exact += aip * bpj;
                magnitude += Math.Abs(aip * bpj);
            }
            double tolerance = (k + 4) * eps * magnitude;
            double error = Math.Abs(double.CreateTruncating(expected[index]) - exact);
            Assert.True(error <= tolerance,
                $"{shape}: reference C[{i},{j}] = {expected[index]}, exact {exact}, error {error:E2} > tolerance {tolerance:E2}");
        }
    }

    private static bool SameBits<T>(T expected, T actual) where T : unmanaged, IFloatingPointIeee754<T> =>
        (T.IsNaN(expected) && T.IsNaN(actual)) || (expected == actual && T.IsNegative(expected) == T.IsNegative(actual));

    private static T[] RandomValues<T>(Random random, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[count];
        for (int i = 0; i < count; i++)
            values[i] = T.CreateTruncating(random.NextDouble() * 2 - 1);
        return values;
    }
}
