namespace SharpCnn.Kernels;

/// <summary>
/// The plain scalar Winograd convolution that <see cref="WinogradConvolution{T}"/> is held to bit for bit in the tests: one
/// sample, one output channel, one tile at a time, reading the unpadded input (zero outside it), with the transforms and
/// the order of WinogradConvolution.cs written out as loops (columns first; the product over input channels from zero,
/// one fused multiply-add per channel in increasing c). The filter transform is <see cref="WinogradConvolution{T}.TransformFilter"/>
/// (double, rounded once); the result is the sums, without the bias.
/// </summary>
internal static class WinogradReference
{
    /// <summary>y[n, o, u, v] = Σ_{c,i,j} w[o, c, i, j]·xp[n, c, u + i, v + j] by F(m x m, r x r), m = 7 − r (r = 3 or 5), stride 1.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> w, Span<T> y, int n, int cin, int h, int wd, int cout, int r,
        int top, int left, int ho, int wo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = 6;
        int m = a + 1 - r;
        var u = new T[cout * cin * a * a];
        var g = new double[r * r];
        var transformed = new double[a * a];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
            {
                for (int i = 0; i < r * r; i++) g[i] = double.CreateTruncating(w[(o * cin + c) * r * r + i]);
                WinogradConvolution<T>.TransformFilter(g, r, transformed);
                for (int f = 0; f < a * a; f++) u[(o * cin + c) * a * a + f] = T.CreateTruncating(transformed[f]);
            }
        var v = new T[cin * a * a];
        var product = new T[a * a];
        Span<T> b = stackalloc T[a];
        Span<T> z = stackalloc T[4 * a];
        int tileRows = (ho + m - 1) / m, tileColumns = (wo + m - 1) / m;
        for (int s = 0; s < n; s++)
            for (int tu = 0; tu < tileRows; tu++)
                for (int tv = 0; tv < tileColumns; tv++)
                {
                    for (int c = 0; c < cin; c++)
                        TransformTile<T>(x.Slice(((s * cin + c) * h) * wd, h * wd), h, wd, tu * m - top, tv * m - left, v.AsSpan(c * a * a, a * a));
                    for (int o = 0; o < cout; o++)
                    {
                        for (int f = 0; f < a * a; f++)
                        {
                            T sum = T.Zero;
                            for (int c = 0; c < cin; c++) sum = T.FusedMultiplyAdd(v[c * a * a + f], u[(o * cin + c) * a * a + f], sum);
                            product[f] = sum;
                        }
                        // Y = Aᵀ M A: the columns first, then the rows.
                        for (int l = 0; l < a; l++)
                        {
                            OutputTransform(m, product[l], product[a + l], product[2 * a + l], product[3 * a + l], product[4 * a + l], product[5 * a + l], b);
                            for (int i = 0; i < m; i++) z[i * a + l] = b[i];
                        }
                        for (int i = 0; i < m; i++)
                        {
                            OutputTransform(m, z[i * a], z[i * a + 1], z[i * a + 2], z[i * a + 3], z[i * a + 4], z[i * a + 5], b);
                            for (int j = 0; j < m; j++)
                            {
                                int row = tu * m + i, col = tv * m + j;
                                if (row < ho && col < wo) y[((s * cout + o) * ho + row) * wo + col] = b[j];
                            }
                        }
                    }
                }
    }

    /// <summary>
    /// ∂w[o, c, i, j] of the <paramref name="n"/> samples by Winograd's transforms, as WinogradConvolution.WeightGradient computes it: per sample in
    /// order and per run of <paramref name="chunkTileRows"/> tile rows, V = Bᵀ d B per tile and input channel (columns first) and Δ̂ = A δ Aᵀ
    /// per tile and output channel (rows first, δ zero past the output), then per frequency ∂U += Δ̂ᵀ V by GemmReference (the canonical
    /// order); at the end ∂w = Gᵀ ∂U G (WinogradConvolution.FilterGradient, double, rounded once), added to <paramref name="dw"/> when
    /// <paramref name="accumulate"/>.
    /// </summary>
    public static void WeightGradient<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dw, int n, int cin, int h, int wd, int cout, int r,
        int top, int left, int ho, int wo, int chunkTileRows, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = 6, frequencies = a * a;
        int m = a + 1 - r, tileRows = (ho + m - 1) / m, tileColumns = (wo + m - 1) / m;
        var du = new T[frequencies * cout * cin];
        var transformed = new T[frequencies];
        var delta = new T[4 * 4];
        var rowsDone = new T[4 * a];
        Span<T> b = stackalloc T[a];
        for (int s = 0; s < n; s++)
            for (int t0 = 0; t0 < tileRows; t0 += chunkTileRows)
            {
                int rows = Math.Min(chunkTileRows, tileRows - t0), tiles = rows * tileColumns;
                var v = new T[frequencies * tiles * cin];
                var dm = new T[frequencies * tiles * cout];
                for (int tu = 0; tu < rows; tu++)
                    for (int tv = 0; tv < tileColumns; tv++)
                    {
                        int t = tu * tileColumns + tv;
                        for (int c = 0; c < cin; c++)
                        {
                            TransformTile<T>(x.Slice(((s * cin + c) * h) * wd, h * wd), h, wd, (t0 + tu) * m - top, tv * m - left, transformed);
                            for (int f = 0; f < frequencies; f++) v[(f * tiles + t) * cin + c] = transformed[f];
                        }
                        for (int o = 0; o < cout; o++)
                        {
                            for (int i = 0; i < m; i++)
                                for (int j = 0; j < m; j++)
                                {
                                    int p = (t0 + tu) * m + i, q = tv * m + j;
                                    delta[i * 4 + j] = p < ho && q < wo ? dy[((s * cout + o) * ho + p) * wo + q] : T.Zero;
                                }
                            // δ Aᵀ: each row of the tile to six values, then A · that: each column.
                            for (int i = 0; i < m; i++)
                            {
                                GradientTransform(m, delta[i * 4], delta[i * 4 + 1], delta[i * 4 + 2], delta[i * 4 + 3], b);
                                for (int l = 0; l < a; l++) rowsDone[i * a + l] = b[l];
                            }
                            for (int l = 0; l < a; l++)
                            {
                                GradientTransform(m, rowsDone[l], rowsDone[a + l], m > 2 ? rowsDone[2 * a + l] : T.Zero, m > 2 ? rowsDone[3 * a + l] : T.Zero, b);
                                for (int k = 0; k < a; k++) dm[((k * a + l) * tiles + t) * cout + o] = b[k];
                            }
                        }
                    }
                for (int xi = 0; xi < frequencies; xi++)
                    GemmReference.Multiply<T>(true, false, cout, cin, tiles, dm.AsSpan(xi * tiles * cout, tiles * cout), cout, v.AsSpan(xi * tiles * cin, tiles * cin), cin,
                        du.AsSpan(xi * cout * cin, cout * cin), cin, accumulate: true);
            }
        var u = new double[frequencies];
        var g = new double[r * r];
        for (int o = 0; o < cout; o++)
            for (int c = 0; c < cin; c++)
            {
                for (int xi = 0; xi < frequencies; xi++) u[xi] = double.CreateTruncating(du[(xi * cout + o) * cin + c]);
                WinogradConvolution<T>.FilterGradient(u, r, g);
                for (int i = 0; i < r * r; i++)
                {
                    ref T target = ref dw[(o * cin + c) * r * r + i];
                    target = accumulate ? target + T.CreateTruncating(g[i]) : T.CreateTruncating(g[i]);
                }
            }
    }

    /// <summary>
    /// V = Bᵀ d B (ξ = 6·k + l) of the 6x6 tile of one input map <paramref name="map"/> [h, wd] whose top left is at row <paramref name="row"/> and
    /// column <paramref name="column"/> (zero outside the map): the columns first, then the rows.
    /// </summary>
    private static void TransformTile<T>(ReadOnlySpan<T> map, int h, int wd, int row, int column, Span<T> v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int a = 6;
        Span<T> d = stackalloc T[a * a];
        Span<T> columns = stackalloc T[a * a];
        Span<T> b = stackalloc T[a];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++)
            {
                int p = row + i, q = column + j;
                d[i * a + j] = p >= 0 && p < h && q >= 0 && q < wd ? map[p * wd + q] : T.Zero;
            }
        for (int j = 0; j < a; j++)
        {
            InputTransform(d[j], d[a + j], d[2 * a + j], d[3 * a + j], d[4 * a + j], d[5 * a + j], b);
            for (int k = 0; k < a; k++) columns[k * a + j] = b[k];
        }
        for (int k = 0; k < a; k++)
        {
            InputTransform(columns[k * a], columns[k * a + 1], columns[k * a + 2], columns[k * a + 3], columns[k * a + 4], columns[k * a + 5], b);
            for (int l = 0; l < a; l++) v[k * a + l] = b[l];
        }
    }

    /// <summary>A (the transpose of Aᵀ) applied to m = 2 or 4 values (WinogradConvolution.GradientTransform).</summary>
    private static void GradientTransform<T>(int m, T d0, T d1, T d2, T d3, Span<T> p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.CreateTruncating(2), four = T.CreateTruncating(4);
        p[0] = d0;
        if (m == 2)
        {
            p[1] = d0 + d1;
            p[2] = d0 - d1;
            p[3] = d0 + two * d1;
            p[4] = d0 - two * d1;
            p[5] = d1;
            return;
        }
        T even = d0 + d2, odd = d1 + d3, even4 = d0 + four * d2, odd4 = two * (d1 + four * d3);
        p[1] = even + odd;
        p[2] = even - odd;
        p[3] = even4 + odd4;
        p[4] = even4 - odd4;
        p[5] = d3;
    }

    private static void InputTransform<T>(T d0, T d1, T d2, T d3, T d4, T d5, Span<T> v)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T two = T.CreateTruncating(2), four = T.CreateTruncating(4);
        T d42 = d4 - d2, d31 = two * (d3 - d1);
        v[0] = four * (d0 - d2) + d42;
        v[1] = (d3 + d4) - four * (d1 + d2);
        v[2] = (d4 - d3) + four * (d1 - d2);
        v[3] = d42 + d31;
        v[4] = d42 - d31;
        v[5] = four * (d1 - d3) + (d5 - d3);
    }

    private static void OutputTransform<T>(int m, T m0, T m1, T m2, T m3, T m4, T m5, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T sum12 = m1 + m2, sum34 = m3 + m4, difference12 = m1 - m2, difference34 = m3 - m4;
        y[0] = m0 + (sum12 + sum34);
        if (m == 2)
        {
            y[1] = (difference12 + T.CreateTruncating(2) * difference34) + m5;
            return;
        }
        y[1] = difference12 + T.CreateTruncating(2) * difference34;
        y[2] = sum12 + T.CreateTruncating(4) * sum34;
        y[3] = (difference12 + T.CreateTruncating(8) * difference34) + m5;
    }
}
