using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SharpCnn.Kernels;

/// <summary>
/// im2col / col2im: the rearrangement that turns a convolution into a matrix product.
///
/// For one sample x[C, H, W], a kh x kw kernel, a stride s and zero padding (top, left),
/// the column matrix has K = C*kh*kw rows and P = Ho*Wo columns:
///   cols[(c*kh + i)*kw + j, oh*Wo + ow] = x[c, oh*s + i - top, ow*s + j - left]   (0 outside x)
/// so that the convolution (cross-correlation) is y[Cout, P] = W[Cout, K] · cols[K, P].
/// col2im is its adjoint: it adds every column entry back onto the input position it
/// was copied from, which is exactly what the input gradient needs (a position that
/// several windows overlap receives the sum of their contributions).
/// </summary>
public static class Im2Col
{
    /// <summary>Fills <paramref name="cols"/> (K x P, row-major) from one sample <paramref name="x"/> (C x H x W).</summary>
    public static void Gather<T>(ReadOnlySpan<T> x, int channels, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth, Span<T> cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = outHeight * outWidth;
        for (int c = 0; c < channels; c++)
        {
            ReadOnlySpan<T> plane = x.Slice(c * height * width, height * width);
            for (int i = 0; i < kh; i++)
            {
                for (int j = 0; j < kw; j++)
                {
                    Span<T> row = cols.Slice(((c * kh + i) * kw + j) * p, p);
                    for (int oh = 0; oh < outHeight; oh++)
                    {
                        int ih = oh * stride + i - padTop;
                        Span<T> dst = row.Slice(oh * outWidth, outWidth);
                        if ((uint)ih >= (uint)height)
                        {
                            dst.Clear();
                            continue;
                        }
                        ReadOnlySpan<T> src = plane.Slice(ih * width, width);
                        // Output columns whose input column iw = ow*s + j - left lies inside [0, width).
                        int first = Math.Max(0, CeilDiv(padLeft - j, stride));
                        int last = Math.Min(outWidth - 1, FloorDiv(width - 1 + padLeft - j, stride)); // inclusive
                        if (last < first)
                        {
                            dst.Clear();
                            continue;
                        }
                        dst[..first].Clear();
                        dst[(last + 1)..].Clear();
                        int iw0 = first * stride + j - padLeft;
                        if (stride == 1)
                        {
                            src.Slice(iw0, last - first + 1).CopyTo(dst.Slice(first, last - first + 1));
                        }
                        else
                        {
                            for (int ow = first, iw = iw0; ow <= last; ow++, iw += stride) dst[ow] = src[iw];
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Fills one block of the column matrix: rows <paramref name="firstRow"/> .. + <paramref name="rowCount"/>
    /// (kernel taps (c, i, j)) and columns <paramref name="firstPosition"/> .. + <paramref name="positionCount"/>
    /// (output positions oh*Wo + ow), written row-major into <paramref name="block"/> (rowCount x positionCount):
    ///   block[r, q] = cols[firstRow + r, firstPosition + q]   (cols as in <see cref="Gather{T}"/>)
    /// This is what a parallel partition of a convolution needs (its output positions for the forward
    /// product, its weight columns for the weight gradient) without building the whole matrix. The fast
    /// counterpart of <see cref="Gather{T}"/> (its reference): no division per output row, and each run
    /// of a row is a vector copy between two zero-filled margins.
    /// </summary>
    public static void GatherBlock<T>(ReadOnlySpan<T> x, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth,
        int firstRow, int rowCount, int firstPosition, int positionCount, Span<T> block)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (rowCount == 0 || positionCount == 0) return;
        int channels = (firstRow + rowCount + kh * kw - 1) / (kh * kw);
        if (x.Length < channels * height * width || block.Length < rowCount * positionCount || firstPosition + positionCount > outHeight * outWidth)
            throw new ArgumentException("GatherBlock: x or block is too short for the requested block");
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T br = ref MemoryMarshal.GetReference(block);
        int lastPosition = firstPosition + positionCount; // exclusive
        int ohFirst = firstPosition / outWidth, ohLast = (lastPosition - 1) / outWidth;
        for (int r = 0; r < rowCount; r++)
        {
            int row = firstRow + r;
            int c = row / (kh * kw), i = row / kw % kh, j = row % kw;
            ref T plane = ref Unsafe.Add(ref xr, (nint)c * height * width);
            ref T dst = ref Unsafe.Add(ref br, (nint)r * positionCount);
            // Output columns whose input column iw = ow*s + j - left lies inside [0, width).
            int first = Math.Max(0, CeilDiv(padLeft - j, stride));
            int last = Math.Min(outWidth - 1, FloorDiv(width - 1 + padLeft - j, stride)); // inclusive
            for (int oh = ohFirst; oh <= ohLast; oh++)
            {
                int owStart = oh == ohFirst ? firstPosition - oh * outWidth : 0;
                int owEnd = oh == ohLast ? lastPosition - oh * outWidth : outWidth; // exclusive
                int length = owEnd - owStart;
                int ih = oh * stride + i - padTop;
                int a = Math.Max(first, owStart), b = Math.Min(last, owEnd - 1); // inside run, inclusive
                if ((uint)ih >= (uint)height || b < a)
                {
                    Runs.Clear(ref dst, length);
                }
                else
                {
                    Runs.Clear(ref dst, a - owStart);
                    ref T src = ref Unsafe.Add(ref plane, (nint)ih * width + a * stride + j - padLeft);
                    ref T inside = ref Unsafe.Add(ref dst, a - owStart);
                    if (stride == 1) Runs.Copy(ref src, ref inside, b - a + 1);
                    else for (int t = 0; t <= b - a; t++) Unsafe.Add(ref inside, t) = Unsafe.Add(ref src, (nint)t * stride);
                    Runs.Clear(ref Unsafe.Add(ref dst, b + 1 - owStart), owEnd - 1 - b);
                }
                dst = ref Unsafe.Add(ref dst, length);
            }
        }
    }

    /// <summary>Spare values the fast whole-row path of <see cref="GatherBlock{T}(ReadOnlySpan{T}, int, int, int, int, int, int, int, int, int, int, int, int, int, Span{T}, Span{T}, int, int)"/> needs after the block and after the padded copy.</summary>
    public static int Slack => 64;

    /// <summary>
    /// As <see cref="GatherBlock{T}(ReadOnlySpan{T}, int, int, int, int, int, int, int, int, int, int, int, int, int, Span{T})"/>,
    /// with a faster path for what convolutions ask most (stride 1, every output position): the input maps it
    /// needs are first copied into <paramref name="padded"/> with their zero border (padBottom and padRight
    /// complete it), so that every run of the block is a plain copy of outWidth values from one padded row, done
    /// a whole vector at a time; the last vector of a run may write past it, into the next run, which is
    /// written afterwards. That needs <see cref="Slack"/> spare values after the block in <paramref name="block"/>
    /// and after the copied maps in <paramref name="padded"/>; otherwise (or for other strides or partial
    /// positions) it takes the general path. Same values either way.
    /// </summary>
    public static void GatherBlock<T>(ReadOnlySpan<T> x, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth,
        int firstRow, int rowCount, int firstPosition, int positionCount, Span<T> block, Span<T> padded, int padBottom, int padRight)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int taps = kh * kw, positions = outHeight * outWidth;
        int hp = height + padTop + padBottom, wp = width + padLeft + padRight;
        int c0 = rowCount == 0 ? 0 : firstRow / taps, c1 = rowCount == 0 ? 0 : (firstRow + rowCount - 1) / taps + 1;
        bool fast = Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double))
            && stride == 1 && firstPosition == 0 && positionCount == positions && outWidth >= Vector<T>.Count
            && outHeight + kh - 1 <= hp && outWidth + kw - 1 <= wp
            && block.Length >= rowCount * positions + Slack && padded.Length >= (c1 - c0) * hp * wp + Slack
            && x.Length >= c1 * height * width;
        if (!fast)
        {
            GatherBlock(x, height, width, kh, kw, stride, padTop, padLeft, outHeight, outWidth, firstRow, rowCount, firstPosition, positionCount, block);
            return;
        }

        // The maps c0 .. c1 with their zero border.
        padded.Slice((c1 - c0) * hp * wp, Slack).Clear();
        PadMaps(x, height, width, c0, c1, padTop, padLeft, hp, wp, padded);

        int w = Vector<T>.Count;
        ref T pr = ref MemoryMarshal.GetReference(padded);
        ref T dst = ref MemoryMarshal.GetReference(block);
        for (int r = 0; r < rowCount; r++)
        {
            int row = firstRow + r;
            int c = row / taps, i = row / kw % kh, j = row % kw;
            ref T src = ref Unsafe.Add(ref pr, ((nint)(c - c0) * hp + i) * wp + j);
            for (int oh = 0; oh < outHeight; oh++)
            {
                for (int t = 0; t < outWidth; t += w)
                    Vector.LoadUnsafe(ref src, (nuint)t).StoreUnsafe(ref dst, (nuint)t);
                src = ref Unsafe.Add(ref src, wp);
                dst = ref Unsafe.Add(ref dst, outWidth);
            }
        }
    }

    /// <summary>
    /// Copies input maps <paramref name="c0"/> .. <paramref name="c1"/> (exclusive) of one sample <paramref name="x"/> [C, H, W] into
    /// <paramref name="padded"/> [c1 − c0, hp, wp] with <paramref name="padTop"/> rows and <paramref name="padLeft"/> columns of
    /// zeros before each map's values and zeros after them up to hp x wp.
    /// </summary>
    public static void PadMaps<T>(ReadOnlySpan<T> x, int height, int width, int c0, int c1, int padTop, int padLeft, int hp, int wp, Span<T> padded)
        where T : unmanaged
    {
        if (c0 < 0 || c1 < c0 || padTop < 0 || padLeft < 0 || height + padTop > hp || width + padLeft > wp
            || x.Length < (long)c1 * height * width || padded.Length < (long)(c1 - c0) * hp * wp)
            throw new ArgumentException("PadMaps: maps or spans out of range");
        padded[..((c1 - c0) * hp * wp)].Clear();
        for (int c = c0; c < c1; c++)
        {
            for (int h = 0; h < height; h++)
                x.Slice((c * height + h) * width, width).CopyTo(padded.Slice(((c - c0) * hp + h + padTop) * wp + padLeft, width));
        }
    }

    /// <summary>
    /// The fast counterpart of <see cref="Scatter{T}"/> (its reference) for the input maps of one sample:
    /// adds every column entry back onto the input position it came from (dx must be zeroed by the
    /// caller). Same loops and the same order of additions onto each input value as the reference, so the
    /// same bits; runs of a row with stride 1 are added a vector at a time.
    /// </summary>
    public static void ScatterAdd<T>(ReadOnlySpan<T> cols, int channels, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = outHeight * outWidth;
        if (cols.Length < channels * kh * kw * p || dx.Length < channels * height * width)
            throw new ArgumentException("ScatterAdd: cols or dx is too short");
        ref T colsRef = ref MemoryMarshal.GetReference(cols);
        ref T dxRef = ref MemoryMarshal.GetReference(dx);
        for (int c = 0; c < channels; c++)
        {
            ref T plane = ref Unsafe.Add(ref dxRef, (nint)c * height * width);
            for (int i = 0; i < kh; i++)
            {
                for (int j = 0; j < kw; j++)
                {
                    ref T row = ref Unsafe.Add(ref colsRef, (nint)((c * kh + i) * kw + j) * p);
                    int first = Math.Max(0, CeilDiv(padLeft - j, stride));
                    int last = Math.Min(outWidth - 1, FloorDiv(width - 1 + padLeft - j, stride));
                    if (last < first) continue;
                    int count = last - first + 1, iw0 = first * stride + j - padLeft;
                    for (int oh = 0; oh < outHeight; oh++)
                    {
                        int ih = oh * stride + i - padTop;
                        if ((uint)ih >= (uint)height) continue;
                        ref T dst = ref Unsafe.Add(ref plane, (nint)ih * width + iw0);
                        ref T src = ref Unsafe.Add(ref row, (nint)oh * outWidth + first);
                        if (stride == 1) Runs.Add(ref src, ref dst, count);
                        else for (int t = 0; t < count; t++) Unsafe.Add(ref dst, (nint)t * stride) += Unsafe.Add(ref src, t);
                    }
                }
            }
        }
    }

    /// <summary>Adds the columns back onto the input positions they came from (dx must be zeroed by the caller).</summary>
    public static void Scatter<T>(ReadOnlySpan<T> cols, int channels, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth, Span<T> dx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = outHeight * outWidth;
        for (int c = 0; c < channels; c++)
        {
            Span<T> plane = dx.Slice(c * height * width, height * width);
            for (int i = 0; i < kh; i++)
            {
                for (int j = 0; j < kw; j++)
                {
                    ReadOnlySpan<T> row = cols.Slice(((c * kh + i) * kw + j) * p, p);
                    int first = Math.Max(0, CeilDiv(padLeft - j, stride));
                    int last = Math.Min(outWidth - 1, FloorDiv(width - 1 + padLeft - j, stride));
                    if (last < first) continue;
                    for (int oh = 0; oh < outHeight; oh++)
                    {
                        int ih = oh * stride + i - padTop;
                        if ((uint)ih >= (uint)height) continue;
                        Span<T> dst = plane.Slice(ih * width, width);
                        ReadOnlySpan<T> src = row.Slice(oh * outWidth, outWidth);
                        for (int ow = first, iw = first * stride + j - padLeft; ow <= last; ow++, iw += stride) dst[iw] += src[ow];
                    }
                }
            }
        }
    }

    private static int CeilDiv(int a, int b) => a <= 0 ? -((-a) / b) : (a + b - 1) / b;

    private static int FloorDiv(int a, int b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}

/// <summary>Short contiguous runs (a row of a feature map): clear, copy, add, a Vector&lt;T&gt; at a time where accelerated.</summary>
internal static class Runs
{
    private static bool Vectorised<T>() => Vector.IsHardwareAccelerated && (typeof(T) == typeof(float) || typeof(T) == typeof(double));

    /// <summary>Zeroes count values; the short margins of padded rows (a few values) are stored inline.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Clear<T>(ref T destination, int count)
        where T : unmanaged
    {
        if (count <= 4)
        {
            for (int t = 0; t < count; t++) Unsafe.Add(ref destination, t) = default;
            return;
        }
        MemoryMarshal.CreateSpan(ref destination, count).Clear();
    }

    /// <summary>Copies count values (the ranges must not overlap); the last vector may overlap the one before it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy<T>(ref T source, ref T destination, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Vectorised<T>() && count >= Vector<T>.Count)
        {
            int w = Vector<T>.Count, t = 0;
            for (; t + w <= count; t += w)
                Vector.LoadUnsafe(ref source, (nuint)t).StoreUnsafe(ref destination, (nuint)t);
            if (t < count)
                Vector.LoadUnsafe(ref source, (nuint)(count - w)).StoreUnsafe(ref destination, (nuint)(count - w));
            return;
        }
        for (int t = 0; t < count; t++) Unsafe.Add(ref destination, t) = Unsafe.Add(ref source, t);
    }

    /// <summary>destination[t] += source[t] (one addition per element, as the scalar loop does).</summary>
    public static void Add<T>(ref T source, ref T destination, int count)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int t = 0;
        if (Vectorised<T>())
        {
            for (; t + Vector<T>.Count <= count; t += Vector<T>.Count)
                (Vector.LoadUnsafe(ref destination, (nuint)t) + Vector.LoadUnsafe(ref source, (nuint)t)).StoreUnsafe(ref destination, (nuint)t);
        }
        for (; t < count; t++) Unsafe.Add(ref destination, t) += Unsafe.Add(ref source, t);
    }
}
