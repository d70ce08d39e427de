// Per-thread scratch memory for kernels that run inside parallel partitions (column matrices,
// partial products). Each thread that runs a partition owns its own buffers, so partitions never
// share scratch; a buffer only grows, so after the first step with the largest shapes nothing is
// allocated. Which thread's buffer a partition uses never changes what it computes.
using System.Runtime.CompilerServices;

namespace SharpCnn.Kernels;

/// <summary>The calling thread's reusable scratch buffers, one per <see cref="ScratchSlot"/>.</summary>
internal static class ThreadScratch<T>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    [ThreadStatic] private static T[]?[]? s_buffers;

    /// <summary>At least <paramref name="length"/> values of this thread's buffer <paramref name="slot"/> (contents undefined).</summary>
    public static Span<T> Get(ScratchSlot slot, int length)
    {
        var buffers = s_buffers ??= new T[]?[(int)ScratchSlot.Count];
        ref T[]? buffer = ref buffers[(int)slot];
        if (buffer is null || buffer.Length < length)
            buffer = GC.AllocateUninitializedArray<T>(Math.Max(length, 64));
        return buffer.AsSpan(0, length);
    }
}

/// <summary>The scratch buffers a thread keeps; kernels that may run one inside another use different slots.</summary>
internal enum ScratchSlot
{
    /// <summary>im2col column matrices.</summary>
    Columns,

    /// <summary>Gradients of column matrices (before col2im).</summary>
    ColumnGradients,

    /// <summary>Input maps copied with their zero border (im2col's fast path).</summary>
    PaddedInput,

    /// <summary>A direct convolution's sums for a few output rows before its epilogue (bias, ReLU, pooling).</summary>
    ConvolutionTile,

    /// <summary>The same rows after the epilogue, before they are written to the output maps.</summary>
    ConvolutionResult,

    /// <summary>A Winograd convolution's transformed input tiles (V[ξ][tile][c]).</summary>
    WinogradInput,

    /// <summary>A Winograd convolution's per-frequency products for one block of output channels (M[ξ][tile][l]).</summary>
    WinogradProducts,

    /// <summary>A sample's output gradient channels last, zero up to whole tiles (a Winograd weight gradient's δ).</summary>
    GradientTiles,

    /// <summary>A Winograd weight gradient's transformed output-gradient tiles (Δ̂[ξ][tile][o]).</summary>
    WinogradGradient,

    /// <summary>A Winograd weight gradient's per-frequency sums over a chunk of samples (∂U[ξ][o][c]).</summary>
    WinogradFilterGradient,

    /// <summary>A one-sample dense backward pass's sums of δ W over each depth slice of W's rows but the first (FusedSgdKernels).</summary>
    SliceSums,

    /// <summary>Count of slots (not a slot).</summary>
    Count,
}
