// Holds GemmTree (BatchTree's tree over the depth's 16-blocks, run inside the micro-kernel) to GemmTreeReference bit
// for bit on odd shapes: m and n either side of the tiles (6, 8 rows; 16, 24, 48 columns, with narrow last panels),
// 1 to 9 blocks and beyond, full and short last blocks, every transpose, padded leading dimensions, C written or
// added to, any column range. Values of C outside the m x n region hold a sentinel that must survive. The
// reference is in turn held to the tree's definition built from GemmReference's per-block products and
// BatchTree's split. CI reruns this class with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and
// DOTNET_EnableHWIntrinsic=0 (.ci/run), so every width's tree kernel gives the reference's bits.
using System.Numerics;
using System.Runtime.InteropServices;
using SharpCnn.Kernels;

namespace SharpCnn.Tests.Kernels;

public sealed class GemmTreeTests
{
    private static readonly bool[] Bools = [false, true];

    /// <summary>Block counts 1 to 9, each with a full and a short last block (and a one-sample last block).</summary>
    public static TheoryData<int> Depths()
    {
        var data = new TheoryData<int>();
        for (int blocks = 1; blocks <= 9; blocks++)
        {
            data.Add(blocks * BatchTree.BlockSize);
            data.Add(blocks * BatchTree.BlockSize - 5);
        }
        data.Add(1);
        data.Add(3 * BatchTree.BlockSize + 1);
        return data;
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public void Float_OddShapes_MatchTheReference(int k)
    {
        var random = new Random(k);
        foreach (var (m, n) in new[] { (1, 1), (7, 49), (13, 97), (8, 48), (6, 16), (24, 150), (9, 5) })
            foreach (bool transA in Bools)
                foreach (bool transB in Bools)
                    foreach (bool accumulate in Bools)
                        Check<float>(random, transA, transB, m, n, k, padding: 3, accumulate);
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public void Double_OddShapes_MatchTheReference(int k)
    {
        var random = new Random(1000 + k);
        foreach (var (m, n) in new[] { (1, 3), (11, 25), (8, 24), (17, 53) })
            foreach (bool transA in Bools)
                foreach (bool accumulate in Bools)
                    Check<double>(random, transA, !transA, m, n, k, padding: 2, accumulate);
    }

    [Fact]
    public void ManyBlocks_LargeShapes_MatchTheReference()
    {
        // 20 and 33 blocks (a deeper counter stack, k > 256: no depth slices), several column blocks of packed B
        // (k = 525 leaves room for ~240 columns per block), and op(A) too big to pack once (m = 300, k = 2000).
        var random = new Random(7);
        Check<float>(random, true, false, 37, 1000, 20 * BatchTree.BlockSize - 3, padding: 1, accumulate: true);
        Check<float>(random, false, true, 10, 611, 525, padding: 0, accumulate: false);
        Check<float>(random, true, false, 300, 50, 2000, padding: 2, accumulate: true);
        Check<double>(random, true, false, 19, 333, 33 * BatchTree.BlockSize, padding: 1, accumulate: true);
    }

    [Fact]
    public void Half_RunsTheScalarKernel_AndMatchesTheReference()
    {
        var random = new Random(8);
        Check<Half>(random, true, false, 7, 9, 37, padding: 1, accumulate: true);
        Check<Half>(random, false, true, 13, 3, 50, padding: 0, accumulate: false);
    }

    [Fact]
    public void AnyColumnRange_GivesTheSameBits()
    {
        // A dense layer splits ∂W's columns over threads: the ranges must not change a bit.
        var random = new Random(9);
        int m = 21, n = 509, k = 5 * BatchTree.BlockSize - 7;
        float[] a = Values<float>(random, k * m), b = Values<float>(random, k * n), c0 = Values<float>(random, m * n);
        float[] whole = (float[])c0.Clone(), pieces = (float[])c0.Clone();
        GemmTree.MultiplyColumns<float>(true, false, m, n, k, a, m, b, n, whole, n, accumulate: true, 0, n);
        foreach (var (start, count) in new[] { (0, 48), (48, 100), (148, 1), (149, 311), (460, 49) })
            GemmTree.MultiplyColumns<float>(true, false, m, n, k, a, m, b, n, pieces, n, accumulate: true, start, count);
        Assert.True(MemoryMarshal.AsBytes(whole.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(pieces.AsSpan())), "column ranges changed the bits");
    }

    [Fact]
    public void ZeroDepth_ClearsOrKeepsC()
    {
        float[] c = [1, 2, 3, 4, 5, 6, 7];
        GemmTree.MultiplyColumns<float>(false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: true, 0, 2);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6, 7 }, c);
        GemmTree.MultiplyColumns<float>(false, false, 2, 2, 0, [], 0, [], 2, c, 3, accumulate: false, 0, 2);
        Assert.Equal(new float[] { 0, 0, 3, 0, 0, 6, 7 }, c);
    }

    [Fact]
    public void BadArguments_AreRefusedWithTheirNames()
    {
        float[] a = new float[32 * 4], b = new float[32 * 5], c = new float[4 * 5];
        var range = Assert.Throws<ArgumentOutOfRangeException>(() => GemmTree.MultiplyColumns<float>(true, false, 4, 5, 32, a, 4, b, 5, c, 5, true, 3, 3));
        Assert.Contains("outside the 5 columns", range.Message);
        var shortB = Assert.Throws<ArgumentException>(() => GemmTree.MultiplyColumns<float>(true, false, 4, 5, 33, a, 4, b, 5, c, 5, true, 0, 5));
        Assert.Contains("a stored 33 x 4 matrix", shortB.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    public void TheReference_IsTheTreeOfTheBlocksProducts(int blocks)
    {
        // The definition written another way: each block's product by GemmReference (one depth slice, a sum from
        // zero in increasing p), combined by BatchTree's recursive split, added to C.
        var random = new Random(blocks);
        int m = 5, n = 11, k = blocks * BatchTree.BlockSize - 2, length = m * n;
        float[] a = Values<float>(random, k * m), b = Values<float>(random, k * n), c = Values<float>(random, length);
        var products = new float[blocks * length];
        for (int q = 0; q < blocks; q++)
        {
            int first = q * BatchTree.BlockSize, depth = Math.Min(k, first + BatchTree.BlockSize) - first;
            GemmReference.Multiply<float>(true, false, m, n, depth, a.AsSpan(first * m), m, b.AsSpan(first * n), n, products.AsSpan(q * length, length), n, accumulate: false);
        }
        float[] Tree(int lo, int hi)
        {
            if (hi - lo == 1) return products.AsSpan(lo * length, length).ToArray();
            int p = BatchTree.SplitOf(hi - lo);
            float[] left = Tree(lo, lo + p), right = Tree(lo + p, hi);
            for (int i = 0; i < length; i++) left[i] += right[i];
            return left;
        }
        float[] root = Tree(0, blocks), expected = (float[])c.Clone();
        for (int i = 0; i < length; i++) expected[i] += root[i];
        GemmTreeReference.Multiply<float>(true, false, m, n, k, a, m, b, n, c, n, accumulate: true);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(c.AsSpan())), $"{blocks} blocks: the reference is not the tree");
    }

    private static void Check<T>(Random random, bool transA, bool transB, int m, int n, int k, int padding, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lda = (transA ? m : k) + padding, ldb = (transB ? k : n) + padding, ldc = n + padding;
        T[] a = Values<T>(random, (transA ? k : m) * lda), b = Values<T>(random, (transB ? n : k) * ldb);
        T sentinel = T.CreateChecked(12345);
        T[] c = new T[m * ldc + 3];
        for (int i = 0; i < c.Length; i++)
            c[i] = i / ldc < m && i % ldc < n ? T.CreateChecked(random.NextDouble() * 2 - 1) : sentinel;
        T[] expected = (T[])c.Clone();
        GemmTreeReference.Multiply<T>(transA, transB, m, n, k, a, lda, b, ldb, expected, ldc, accumulate);
        GemmTree.MultiplyColumns<T>(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, 0, n);
        for (int i = 0; i < c.Length; i++)
        {
            if (!MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in c[i])).SequenceEqual(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in expected[i]))))
                Assert.Fail($"{typeof(T).Name} m={m} n={n} k={k} transA={transA} transB={transB} accumulate={accumulate}: C[{i / ldc}, {i % ldc}] is {c[i]}, the reference {expected[i]}");
        }
    }

    private static T[] Values<T>(Random random, int count) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[count];
        for (int i = 0; i < count; i++) values[i] = T.CreateChecked(random.NextDouble() * 2 - 1);
        return values;
    }
}
