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
    /// product, its weight columns for the weight gradient) without building the whole matrix.
    /// </summary>
    public static void GatherBlock<T>(ReadOnlySpan<T> x, int height, int width,
        int kh, int kw, int stride, int padTop, int padLeft, int outHeight, int outWidth,
        int firstRow, int rowCount, int firstPosition, int positionCount, Span<T> block)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lastPosition = firstPosition + positionCount; // exclusive
        for (int r = 0; r < rowCount; r++)
        {
            int row = firstRow + r;
            int c = row / (kh * kw), i = row / kw % kh, j = row % kw;
            ReadOnlySpan<T> plane = x.Slice(c * height * width, height * width);
            Span<T> dstRow = block.Slice(r * positionCount, positionCount);
            // Output columns whose input column iw = ow*s + j - left lies inside [0, width).
            int first = Math.Max(0, CeilDiv(padLeft - j, stride));
            int last = Math.Min(outWidth - 1, FloorDiv(width - 1 + padLeft - j, stride)); // inclusive
            for (int q = firstPosition; q < lastPosition;)
            {
                int oh = q / outWidth, owStart = q - oh * outWidth;
                int owEnd = Math.Min(outWidth, owStart + (lastPosition - q)); // exclusive
                Span<T> dst = dstRow.Slice(q - firstPosition, owEnd - owStart);
                q += owEnd - owStart;
                int ih = oh * stride + i - padTop;
                int a = Math.Max(first, owStart), b = Math.Min(last, owEnd - 1); // inside run, inclusive
                if ((uint)ih >= (uint)height || b < a)
                {
                    dst.Clear();
                    continue;
                }
                dst[..(a - owStart)].Clear();
                dst[(b + 1 - owStart)..].Clear();
                ReadOnlySpan<T> src = plane.Slice(ih * width, width);
                int iw0 = a * stride + j - padLeft;
                Span<T> inside = dst.Slice(a - owStart, b - a + 1);
                if (stride == 1)
                {
                    src.Slice(iw0, inside.Length).CopyTo(inside);
                }
                else
                {
                    for (int t = 0, iw = iw0; t < inside.Length; t++, iw += stride) inside[t] = src[iw];
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
