using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Max pooling over kh x kw windows moved by a stride, per channel.
///
/// Shapes: x [N, C, H, W], y [N, C, Ho, Wo] (Ho, Wo from the edge mode, see <see cref="PoolEdge"/>).
///
/// Forward:  y[n,c,u,v] = max_{i∈[0,kh), j∈[0,kw)} xp[n, c, u·s + i, v·s + j]
///           (xp = x with zero padding at the bottom/right in 'pad' mode; the padded
///           zeros take part in the max, as the seeds' zero-padding does)
/// Backward: the whole gradient of each output goes to the one input that was the max
///           (its arg-max, the first in row-major order on ties); every other input of
///           the window gets 0:
///           ∂L/∂x[n,c,p,q] = Σ_{u,v : argmax(u,v) = (p,q)} ∂L/∂y[n,c,u,v]
/// Seed 003 says the error is copied to all four inputs; that is wrong, and the gradient
/// check (tests/SharpCnn.Tests/Layers/PoolingTests.cs) rejects it. Seeds 000, 001 and 004
/// route it to the arg-max, as here.
/// </summary>
public sealed class MaxPool2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[] argmax = [];

    /// <summary>Creates max pooling with a square window and stride = window unless given.</summary>
    public MaxPool2d(int window, int? stride = null, PoolEdge edge = PoolEdge.Drop)
        : this(window, window, stride ?? window, edge) { }

    /// <summary>Creates max pooling with a kh x kw window.</summary>
    public MaxPool2d(int windowHeight, int windowWidth, int stride, PoolEdge edge)
    {
        Window = new PoolWindow(windowHeight, windowWidth, stride, edge);
    }

    /// <summary>The window geometry.</summary>
    public PoolWindow Window { get; }

    /// <inheritdoc />
    public override string Token => "maxpool" + Window.Suffix;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => argmax = new int[batch * OutputShape.Size];

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * Window.Height * Window.Width;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int h = InputShape.Height, w = InputShape.Width, ho = OutputShape.Height, wo = OutputShape.Width;
        int kh = Window.Height, kw = Window.Width, s = Window.Stride;
        int planes = n * InputShape.Channels;
        for (int pl = 0; pl < planes; pl++)
        {
            ReadOnlySpan<T> xp = x.Slice(pl * h * w, h * w);
            int outBase = pl * ho * wo;
            for (int u = 0; u < ho; u++)
            {
                for (int v = 0; v < wo; v++)
                {
                    int r0 = u * s, c0 = v * s;
                    int r1 = Math.Min(r0 + kh, h), c1 = Math.Min(c0 + kw, w);
                    bool padded = r0 + kh > h || c0 + kw > w; // part of the window is zero padding
                    T best = T.NegativeInfinity;
                    int at = -1;
                    for (int r = r0; r < r1; r++)
                    {
                        for (int c = c0; c < c1; c++)
                        {
                            T val = xp[r * w + c];
                            if (val > best || (T.IsNaN(val) && !T.IsNaN(best)))
                            {
                                best = val;
                                at = r * w + c;
                            }
                        }
                    }
                    if (padded && (at < 0 || best < T.Zero))
                    {
                        // A padded zero is the max; it is not an input, so no gradient flows.
                        best = T.Zero;
                        at = -1;
                    }
                    y[outBase + u * wo + v] = best;
                    argmax[outBase + u * wo + v] = at;
                }
            }
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int inPlane = InputShape.Height * InputShape.Width, outPlane = OutputShape.Height * OutputShape.Width;
        int planes = n * InputShape.Channels;
        dx[..(planes * inPlane)].Clear();
        for (int pl = 0; pl < planes; pl++)
        {
            Span<T> dxp = dx.Slice(pl * inPlane, inPlane);
            for (int o = pl * outPlane, end = o + outPlane; o < end; o++)
            {
                int at = argmax[o];
                if (at >= 0) dxp[at] += dy[o];
            }
        }
    }
}
