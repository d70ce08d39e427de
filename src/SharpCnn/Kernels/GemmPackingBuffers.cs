// Per-thread scratch memory for Gemm's packed panels.
//
// Each thread owns one buffer for the packed A block and one for the packed B block. They are
// allocated on the pinned object heap, so their address never changes and the usable region can
// start on a 64-byte (cache line / 512-bit register) boundary; they only grow, so after the first
// call with the largest block size a thread uses, Gemm allocates nothing.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpCnn.Kernels;

/// <summary>The calling thread's 64-byte aligned packing buffers for <see cref="Gemm"/>.</summary>
internal static class GemmPackingBuffers<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int Alignment = 64;

    [ThreadStatic] private static T[]? s_packedA;
    [ThreadStatic] private static T[]? s_packedB;
    [ThreadStatic] private static T[]? s_treeTiles;

    /// <summary>At least <paramref name="length"/> values for the packed A block, 64-byte aligned.</summary>
    public static ref T ForA(int length) => ref Rent(ref s_packedA, length);

    /// <summary>At least <paramref name="length"/> values for the packed B block, 64-byte aligned.</summary>
    public static ref T ForB(int length) => ref Rent(ref s_packedB, length);

    /// <summary>At least <paramref name="length"/> values for GemmTree's stack of scratch tiles, 64-byte aligned.</summary>
    public static ref T ForTreeTiles(int length) => ref Rent(ref s_treeTiles, length);

    private static unsafe ref T Rent(ref T[]? buffer, int length)
    {
        int slack = Math.Max(1, Alignment / Unsafe.SizeOf<T>());
        if (buffer is null || buffer.Length < length + slack)
            buffer = GC.AllocateUninitializedArray<T>(length + slack, pinned: true);

        ref T start = ref MemoryMarshal.GetArrayDataReference(buffer);
        nint misalignment = (nint)Unsafe.AsPointer(ref start) & (Alignment - 1);
        nint offset = misalignment == 0 ? 0 : (Alignment - misalignment) / Unsafe.SizeOf<T>();
        return ref Unsafe.Add(ref start, offset);
    }
}
