// The im2col columns of a convolution's weight gradient, packed straight into Gemm's B panels.
//
// The weight gradient of a stride-1 convolution is, per sample, ∂W[Cout, K] += δ[Cout, P] · colsᵀ, with cols[K, P] the
// im2col matrix (Im2Col.cs). Gemm packs op(B) = colsᵀ panel by panel: panel q holds NR rows of cols (kernel taps) side by
// side, Bp[p*W + r] = cols[row0 + r][p0 + p]. Built the plain way that is two passes over the data: im2col writes cols
// (K x P values), then GemmPacking.PackTransposed reads them back and transposes them into the panels. Here the panels
// are written directly from the padded input maps: the run of a tap (c, i, j) along an output row is
//   cols[(c, i, j)][oh*Wo + ow .. ] = padded[c][oh + i][ow + j .. ]        (stride 1: contiguous)
// so eight taps' runs are loaded as eight vectors and transposed 8 x 8 in AVX registers into eight positions' groups.
// The values are the same as im2col's (copies, no arithmetic), so the product, and its bits, are the same as
// Gemm.Multiply's on the stored columns; Im2ColPanelsTests holds the panels and the product to that reference.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpCnn.Kernels;

/// <summary>
/// op(B) = colsᵀ of a stride-1 convolution (Im2Col's cols, rows <c>firstRow</c> .. of the maps in <c>padded</c>) for
/// <see cref="Gemm.MultiplyPacked{T, TPacker}"/>: op(B)[p, j] = cols[firstRow + j][p].
/// </summary>
internal readonly ref struct Im2ColPanels<T> : IGemmBPacker<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ReadOnlySpan<T> padded;
    private readonly int paddedHeight, paddedWidth, kernelHeight, kernelWidth, outHeight, outWidth, firstRow;

    /// <summary>
    /// The columns of maps <paramref name="padded"/> [maps, <paramref name="paddedHeight"/>, <paramref name="paddedWidth"/>] (each with its zero
    /// border, <see cref="Im2Col.PadMaps{T}"/>), from tap <paramref name="firstRow"/> of the first map on, for a kh x kw kernel with stride 1
    /// and an output of <paramref name="outHeight"/> x <paramref name="outWidth"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The output does not fit the padded maps (a window would read past a padded row or map).</exception>
    public Im2ColPanels(ReadOnlySpan<T> padded, int paddedHeight, int paddedWidth, int kernelHeight, int kernelWidth, int outHeight, int outWidth, int firstRow)
    {
        if (kernelHeight < 1 || kernelWidth < 1 || outHeight < 1 || outWidth < 1 || firstRow < 0
            || outHeight + kernelHeight - 1 > paddedHeight || outWidth + kernelWidth - 1 > paddedWidth)
            throw new ArgumentException("Im2ColPanels: the output does not fit the padded maps");
        this.padded = padded;
        this.paddedHeight = paddedHeight;
        this.paddedWidth = paddedWidth;
        this.kernelHeight = kernelHeight;
        this.kernelWidth = kernelWidth;
        this.outHeight = outHeight;
        this.outWidth = outWidth;
        this.firstRow = firstRow;
    }

    /// <summary>Whether the 8 x 8 transposes run (float on a machine with AVX); otherwise every tap is copied value by value.</summary>
    public static bool Transposes => typeof(T) == typeof(float) && Avx.IsSupported;

    /// <inheritdoc />
    public void Pack<TKernel>(int p0, int depth, int j0, int columns, ref T packed) where TKernel : struct, IGemmMicroKernel<T>
    {
        int taps = kernelHeight * kernelWidth, maps = (firstRow + j0 + columns + taps - 1) / taps;
        if (p0 < 0 || depth < 0 || j0 < 0 || columns < 0 || p0 + depth > outHeight * outWidth || (long)maps * paddedHeight * paddedWidth > padded.Length)
            throw new ArgumentException("Im2ColPanels.Pack: block outside the columns");
        int nr = TKernel.Columns;
        for (int jr = 0; jr < columns; jr += nr)
        {
            int count = Math.Min(nr, columns - jr);
            Panel(firstRow + j0 + jr, count, GemmPacking.PanelWidth<T, TKernel>(count), p0, depth, ref Unsafe.Add(ref packed, (nint)jr * depth));
        }
    }

    /// <summary>panel[q*width + r] = cols[row0 + r][p0 + q] for r &lt; count, zero for count ≤ r &lt; width.</summary>
    private void Panel(int row0, int count, int width, int p0, int depth, ref T panel)
    {
        int r = 0;
        if (Transposes)
            for (; r + 8 <= count; r += 8) EightTaps(row0 + r, p0, depth, ref Unsafe.As<T, float>(ref Unsafe.Add(ref panel, r)), width);
        for (; r < count; r++) OneTap(row0 + r, p0, depth, ref Unsafe.Add(ref panel, r), width);
        if (count < width)
            for (int q = 0; q < depth; q++) MemoryMarshal.CreateSpan(ref Unsafe.Add(ref panel, (nint)q * width + count), width - count).Clear();
    }

    /// <summary>Offset in <c>padded</c> of tap <paramref name="row"/>'s first value (output position 0).</summary>
    private nint TapOffset(int row)
    {
        int taps = kernelHeight * kernelWidth, c = row / taps, i = row / kernelWidth % kernelHeight, j = row % kernelWidth;
        return ((nint)c * paddedHeight + i) * paddedWidth + j;
    }

    /// <summary>One tap's values for positions p0 .. p0+depth, a group (stride <paramref name="width"/>) apart.</summary>
    private void OneTap(int row, int p0, int depth, ref T destination, int width)
    {
        ref T source = ref Unsafe.Add(ref MemoryMarshal.GetReference(padded), TapOffset(row));
        int oh = p0 / outWidth, ow = p0 - oh * outWidth;
        for (int q = 0; q < depth; q++)
        {
            Unsafe.Add(ref destination, (nint)q * width) = Unsafe.Add(ref source, (nint)oh * paddedWidth + ow);
            if (++ow == outWidth)
            {
                ow = 0;
                oh++;
            }
        }
    }

    /// <summary>
    /// Eight consecutive taps (float): along each output row, eight positions at a time are eight vectors (one per tap) turned
    /// into eight groups; the last eight of a row may overlap the ones before (the same values written twice). Rows with fewer
    /// than eight positions in the block go value by value.
    /// </summary>
    private void EightTaps(int row, int p0, int depth, ref float destination, int width)
    {
        ref float x = ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(padded));
        ref float t0 = ref Unsafe.Add(ref x, TapOffset(row));
        ref float t1 = ref Unsafe.Add(ref x, TapOffset(row + 1));
        ref float t2 = ref Unsafe.Add(ref x, TapOffset(row + 2));
        ref float t3 = ref Unsafe.Add(ref x, TapOffset(row + 3));
        ref float t4 = ref Unsafe.Add(ref x, TapOffset(row + 4));
        ref float t5 = ref Unsafe.Add(ref x, TapOffset(row + 5));
        ref float t6 = ref Unsafe.Add(ref x, TapOffset(row + 6));
        ref float t7 = ref Unsafe.Add(ref x, TapOffset(row + 7));
        int p = p0, end = p0 + depth;
        while (p < end)
        {
            int oh = p / outWidth, ow = p - oh * outWidth;
            int length = Math.Min(end, (oh + 1) * outWidth) - p;
            nint at = (nint)oh * paddedWidth + ow;
            ref float groups = ref Unsafe.Add(ref destination, (nint)(p - p0) * width);
            if (length >= 8)
            {
                for (int s = 0; s < length; s += 8)
                {
                    int u = Math.Min(s, length - 8);
                    nint from = at + u;
                    GemmPacking.Transpose8x8(
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref t0, from)), Vector256.LoadUnsafe(ref Unsafe.Add(ref t1, from)),
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref t2, from)), Vector256.LoadUnsafe(ref Unsafe.Add(ref t3, from)),
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref t4, from)), Vector256.LoadUnsafe(ref Unsafe.Add(ref t5, from)),
                        Vector256.LoadUnsafe(ref Unsafe.Add(ref t6, from)), Vector256.LoadUnsafe(ref Unsafe.Add(ref t7, from)),
                        ref Unsafe.Add(ref groups, (nint)u * width), width);
                }
            }
            else
            {
                for (int s = 0; s < length; s++)
                {
                    ref float group = ref Unsafe.Add(ref groups, (nint)s * width);
                    nint from = at + s;
                    group = Unsafe.Add(ref t0, from);
                    Unsafe.Add(ref group, 1) = Unsafe.Add(ref t1, from);
                    Unsafe.Add(ref group, 2) = Unsafe.Add(ref t2, from);
                    Unsafe.Add(ref group, 3) = Unsafe.Add(ref t3, from);
                    Unsafe.Add(ref group, 4) = Unsafe.Add(ref t4, from);
                    Unsafe.Add(ref group, 5) = Unsafe.Add(ref t5, from);
                    Unsafe.Add(ref group, 6) = Unsafe.Add(ref t6, from);
                    Unsafe.Add(ref group, 7) = Unsafe.Add(ref t7, from);
                }
            }
            p += length;
        }
    }
}
