// SGD with momentum and weight decay in one pass against its plain loop and against the three passes it
// replaced (Optimizer.Step's decay into the gradient, then Momentum's two MultiplyAdd passes), bit for bit,
// on every length from 0 to 40 and longer odd ones, on 1, 2 and 3 threads. Run under DOTNET_EnableAVX512=0,
// DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

[Collection(ThreadCountCollection.Name)]
public class MomentumStepTests
{
    public static TheoryData<int> Lengths()
    {
        var lengths = ElementwiseKernelsTests.Lengths();
        lengths.Add(70001); // split over threads
        return lengths;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void OnePassIsTheThreePassesBitForBit(int length)
    {
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var scope = new ThreadCountScope(threads);
            Check<float>(length);
            Check<double>(length);
        }
    }

    private static T[] Values<T>(Rng rng, int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++) values[i] = T.CreateChecked(rng.NextNormal());
        for (int i = 0; i < length; i += 9) values[i] = i % 2 == 0 ? T.NegativeZero : T.Zero;
        return values;
    }

    private static void Check<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)length + 3);
        var w = Values<T>(rng, length);
        var g = Values<T>(rng, length);
        var v = Values<T>(rng, length);
        T mu = T.CreateChecked(0.9), rate = T.CreateChecked(-0.05), decay = T.CreateChecked(5e-4);
        foreach (bool decayed in new[] { false, true })
        {
            var (w1, g1, v1) = ((T[])w.Clone(), (T[])g.Clone(), (T[])v.Clone());
            if (decayed) ElementwiseKernels.MultiplyAdd<T>(w1, decay, g1, g1);
            ElementwiseKernels.MultiplyAdd<T>(v1, mu, g1, v1);
            ElementwiseKernels.MultiplyAdd<T>(v1, rate, w1, w1);

            var (w2, v2) = ((T[])w.Clone(), (T[])v.Clone());
            ElementwiseKernels.MomentumStepReference<T>(w2, g, v2, mu, rate, decay, decayed);
            var (w3, v3) = ((T[])w.Clone(), (T[])v.Clone());
            ElementwiseKernels.MomentumStep<T>(w3, g, v3, mu, rate, decay, decayed);

            string what = $"{typeof(T).Name} x {length}, decay {decayed}";
            Assert.True(MemoryMarshal.AsBytes(w1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(w2.AsSpan())), what + ": reference weights");
            Assert.True(MemoryMarshal.AsBytes(v1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(v2.AsSpan())), what + ": reference velocity");
            Assert.True(MemoryMarshal.AsBytes(w1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(w3.AsSpan())), what + ": weights");
            Assert.True(MemoryMarshal.AsBytes(v1.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(v3.AsSpan())), what + ": velocity");
        }
    }
}
