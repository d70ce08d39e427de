// Dropout's vectorised mask against its plain loop (the layer's loop before it was vectorised), bit for bit:
// every length from 0 to 40 and longer odd ones, several first indices (a share of a batch), rates and types,
// with awkward values (a dropped NaN or infinity becomes +0, a kept one stays). Run under
// DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 too (.ci/run).
using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Kernels;

public class MaskKernelsTests
{
    public static TheoryData<int> Lengths() => ElementwiseKernelsTests.Lengths();

    [Theory]
    [MemberData(nameof(Lengths))]
    public void TheVectorisedMaskIsTheReferencesBitForBit(int length)
    {
        Check<float>(length);
        Check<double>(length);
    }

    private static void Check<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)length + 7);
        var from = new T[length];
        for (int i = 0; i < length; i++) from[i] = T.CreateChecked(rng.NextNormal());
        T[] awkward = [T.NaN, T.PositiveInfinity, T.NegativeZero, T.NegativeInfinity];
        for (int i = 0; i < length; i += 5) from[i] = awkward[i / 5 % awkward.Length];
        foreach (double rate in new[] { 0.1, 0.5, 0.9 })
        foreach (ulong first in new ulong[] { 0, 3, 1000001 })
        {
            ulong threshold = (ulong)Math.Ceiling(rate * (1UL << 53)), key = rng.NextUInt64();
            T scale = T.One / (T.One - T.CreateChecked(rate));
            var expected = new T[length];
            var actual = new T[length];
            MaskKernels.ApplyReference<T>(from, expected, key, first, threshold, scale);
            MaskKernels.Apply<T>(from, actual, key, first, threshold, scale);
            Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.AsSpan())), $"{typeof(T).Name} x {length}, rate {rate}, first {first}");
        }
    }
}
