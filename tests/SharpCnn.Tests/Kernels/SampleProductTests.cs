// The one-sample dense product without packing, against GemmReference (Gemm's canonical order) bit for bit: row
// counts with and without whole blocks of 8 and 32 and with several depth slices (cut by owner), depths with one
// and several slices and tails of 8, on 1, 2 and 3 threads, float (the transposing kernel where AVX and FMA exist) and double (Gemm). Run under
// DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

[Collection(ThreadCountCollection.Name)]
public class SampleProductTests
{
    public static TheoryData<int, int> Shapes() => new()
    {
        { 1, 1 }, { 7, 9 }, { 8, 8 }, { 10, 17 }, { 33, 64 }, { 40, 257 }, { 64, 600 }, { 70, 1031 }, { 1024, 300 }, { 300, 41 }, { 521, 70 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void IsGemmsCanonicalOrderBitForBit(int m, int d)
    {
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            Check<float>(m, d, (ulong)(m * 13 + d));
            Check<double>(m, d, (ulong)(m * 17 + d));
        }
    }

    private static void Check<T>(int m, int d, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        var x = new T[d];
        var w = new T[m * d];
        for (int i = 0; i < d; i++) x[i] = T.CreateChecked(rng.NextNormal());
        for (int i = 0; i < w.Length; i++) w[i] = T.CreateChecked(rng.NextNormal() * 0.1);
        x[0] = T.NegativeZero;
        var expected = new T[m];
        GemmReference.Multiply(false, true, 1, m, d, x, d, w, d, expected, m, accumulate: false);
        // Multiply cuts the rows into ranges for whichever thread is free; MultiplyOwned into W's depth slices (more
        // than 256 rows: 300, 521, 1024), each run by its owner on 2 and 3 threads.
        foreach (bool owned in new[] { false, true })
        {
            var actual = new T[m + 3];
            actual[m] = T.CreateChecked(42);
            if (owned) SampleProduct.MultiplyOwned<T>(x, w, m, d, actual.AsSpan(0, m));
            else SampleProduct.Multiply<T>(x, w, m, d, actual.AsSpan(0, m));
            Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan(0, m))),
                $"{typeof(T).Name} {m} x {d} on {SharpCnn.Kernels.Parallelism.ThreadCount} thread(s) (accelerated: {SampleProduct.Accelerated<T>()}, owned: {owned})");
            Assert.Equal(T.CreateChecked(42), actual[m]);
        }
    }
}
