namespace SharpCnn.Tests.Seeds;

/// <summary>
/// The seeds' matrix notation on single row-major planes, written as plainly as possible so a
/// seed formula can be transcribed into a test: rot180, zero padding, stride dilation,
/// 'valid' cross-correlation and MATLAB's conv2 (true convolution) with its 'full' / 'same' /
/// 'valid' shapes.
/// </summary>
internal static class SeedNotation
{
    /// <summary>rot180: flip up-down, then left-right (reverse the row-major order).</summary>
    public static double[] Rot180(double[] m) => m.Reverse().ToArray();

    /// <summary>Zero padding per side; the result is (h + top + bottom) x (w + left + right).</summary>
    public static double[] Pad(double[] a, int h, int w, int top, int bottom, int left, int right)
    {
        int ph = h + top + bottom, pw = w + left + right;
        var o = new double[ph * pw];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                o[(i + top) * pw + j + left] = a[i * w + j];
        return o;
    }

    /// <summary>Inserts s - 1 zeros between neighbouring entries: ((h - 1)s + 1) x ((w - 1)s + 1).</summary>
    public static double[] Dilate(double[] a, int h, int w, int s)
    {
        int dh = (h - 1) * s + 1, dw = (w - 1) * s + 1;
        var o = new double[dh * dw];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                o[i * s * dw + j * s] = a[i * w + j];
        return o;
    }

    /// <summary>'valid' cross-correlation: o[u,v] = Σ_{i,j} a[u + i, v + j] k[i, j], size (ah - kh + 1) x (aw - kw + 1).</summary>
    public static double[] CorrelateValid(double[] a, int ah, int aw, double[] k, int kh, int kw)
    {
        int oh = ah - kh + 1, ow = aw - kw + 1;
        var o = new double[oh * ow];
        for (int u = 0; u < oh; u++)
            for (int v = 0; v < ow; v++)
            {
                double s = 0;
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++)
                        s += a[(u + i) * aw + v + j] * k[i * kw + j];
                o[u * ow + v] = s;
            }
        return o;
    }

    /// <summary>
    /// MATLAB's conv2(a, b, shape): true convolution o[m] = Σ_p a[m - p] b[p]. 'full' is
    /// (ah + bh - 1) x (aw + bw - 1); 'same' is the ah x aw part starting at (floor(bh/2), floor(bw/2));
    /// 'valid' the (ah - bh + 1) x (aw - bw + 1) part starting at (bh - 1, bw - 1).
    /// </summary>
    public static double[] Conv2(double[] a, int ah, int aw, double[] b, int bh, int bw, string shape)
    {
        // A true convolution is a correlation with the flipped kernel over the (b - 1)-padded input.
        double[] full = CorrelateValid(Pad(a, ah, aw, bh - 1, bh - 1, bw - 1, bw - 1), ah + 2 * (bh - 1), aw + 2 * (bw - 1), Rot180(b), bh, bw);
        int fh = ah + bh - 1, fw = aw + bw - 1;
        return shape switch
        {
            "full" => full,
            "same" => Window(full, fh, fw, bh / 2, bw / 2, ah, aw),
            "valid" => Window(full, fh, fw, bh - 1, bw - 1, ah - bh + 1, aw - bw + 1),
            _ => throw new ArgumentException($"unknown conv2 shape '{shape}'", nameof(shape)),
        };
    }

    /// <summary>The h x w window of a starting at (top, left); positions outside a read as 0.</summary>
    public static double[] Window(double[] a, int ah, int aw, int top, int left, int h, int w)
    {
        var o = new double[h * w];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
            {
                int r = top + i, c = left + j;
                if (r >= 0 && r < ah && c >= 0 && c < aw) o[i * w + j] = a[r * aw + c];
            }
        return o;
    }
}
