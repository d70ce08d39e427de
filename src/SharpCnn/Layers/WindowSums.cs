using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// The block sums that mean pooling and LeNet subsampling share:
///   forward  s[p, u, v] = Σ_{i,j} x[p, u·s + i, v·s + j]   over the window's in-bounds inputs,
///   backward ∂x[p, r, c] = Σ_{windows (u,v) holding (r,c)} g[p, u, v] · scale_p
/// for every plane p (a plane is one channel of one sample).
/// </summary>
internal static class WindowSums
{
    /// <summary>Writes the window sums of every plane.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, int planes, Shape input, Shape output, PoolWindow window)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = input.Height, w = input.Width, ho = output.Height, wo = output.Width;
        for (int pl = 0; pl < planes; pl++)
        {
            ReadOnlySpan<T> xp = x.Slice(pl * h * w, h * w);
            Span<T> yp = y.Slice(pl * ho * wo, ho * wo);
            for (int u = 0; u < ho; u++)
            {
                int r0 = u * window.Stride, r1 = Math.Min(r0 + window.Height, h);
                for (int v = 0; v < wo; v++)
                {
                    int c0 = v * window.Stride, c1 = Math.Min(c0 + window.Width, w);
                    T sum = T.Zero;
                    for (int r = r0; r < r1; r++)
                        for (int c = c0; c < c1; c++)
                            sum += xp[r * w + c];
                    yp[u * wo + v] = sum;
                }
            }
        }
    }

    /// <summary>Writes ∂x: each output gradient times its scale, added to every in-bounds input of its window.</summary>
    /// <param name="dy">Gradient of the window sums' consumers, one per output position.</param>
    /// <param name="dx">Input gradient, written (cleared first).</param>
    /// <param name="planes">Number of planes (samples x channels).</param>
    /// <param name="input">Per-sample input shape.</param>
    /// <param name="output">Per-sample output shape.</param>
    /// <param name="window">Window geometry.</param>
    /// <param name="planeScale">Optional per-channel factor (subsampling's beta); indexed by plane % channels.</param>
    /// <param name="scale">A factor for every plane (mean pooling's 1/(kh·kw)).</param>
    public static void Backward<T>(ReadOnlySpan<T> dy, Span<T> dx, int planes, Shape input, Shape output, PoolWindow window,
        ReadOnlySpan<T> planeScale, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = input.Height, w = input.Width, ho = output.Height, wo = output.Width;
        dx[..(planes * h * w)].Clear();
        for (int pl = 0; pl < planes; pl++)
        {
            Span<T> dxp = dx.Slice(pl * h * w, h * w);
            ReadOnlySpan<T> dyp = dy.Slice(pl * ho * wo, ho * wo);
            T factor = planeScale.IsEmpty ? scale : scale * planeScale[pl % input.Channels];
            for (int u = 0; u < ho; u++)
            {
                int r0 = u * window.Stride, r1 = Math.Min(r0 + window.Height, h);
                for (int v = 0; v < wo; v++)
                {
                    int c0 = v * window.Stride, c1 = Math.Min(c0 + window.Width, w);
                    T g = dyp[u * wo + v] * factor;
                    for (int r = r0; r < r1; r++)
                        for (int c = c0; c < c1; c++)
                            dxp[r * w + c] += g;
                }
            }
        }
    }
}
