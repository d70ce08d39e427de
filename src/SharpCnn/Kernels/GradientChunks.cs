// The fixed-order reduction of per-chunk partial gradients. A layer that sums its parameter
// gradient over a batch in parallel cuts the batch into chunks of a fixed number of samples (never
// depending on the thread count), sums each chunk into its own partial, and then adds the partials
// to the gradient here, always in chunk order:
//   g[e] = (((g[e] + partial_0[e]) + partial_1[e]) + ...) + partial_{chunks-1}[e]
// Each element's additions happen in the same order whether it is done lane by lane in a vector or
// one by one, so any split of the element range gives the same bits.
using System.Numerics.Tensors;

namespace SharpCnn.Kernels;

/// <summary>Adds per-chunk partial gradients onto a gradient in a fixed (chunk) order.</summary>
internal static class GradientChunks
{
    /// <summary>
    /// destination[e] += partials[0 * length + offset + e] + partials[1 * length + offset + e] + ... (in chunk
    /// order), for e in 0 .. destination.Length; <paramref name="partials"/> holds <paramref name="chunks"/>
    /// arrays of <paramref name="length"/> values one after another.
    /// </summary>
    public static void AddInOrder<T>(ReadOnlySpan<T> partials, int length, int chunks, Span<T> destination, int offset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int c = 0; c < chunks; c++)
            TensorPrimitives.Add(destination, partials.Slice(c * length + offset, destination.Length), destination);
    }

    /// <summary>The plain loop <see cref="AddInOrder{T}"/> is held to.</summary>
    public static void AddInOrderReference<T>(ReadOnlySpan<T> partials, int length, int chunks, Span<T> destination, int offset)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int e = 0; e < destination.Length; e++)
        {
            T sum = destination[e];
            for (int c = 0; c < chunks; c++) sum += partials[c * length + offset + e];
            destination[e] = sum;
        }
    }
}
