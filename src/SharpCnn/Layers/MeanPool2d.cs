using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Mean (average) pooling over kh x kw windows moved by a stride, per channel.
///
/// Shapes: x [N, C, H, W], y [N, C, Ho, Wo] (Ho, Wo from the edge mode, see <see cref="PoolEdge"/>).
///
/// Forward:  y[n,c,u,v] = 1/(kh·kw) · Σ_{i∈[0,kh), j∈[0,kw)} xp[n, c, u·s + i, v·s + j]
///           (in 'pad' mode the padded zeros count in the mean: the divisor is always kh·kw)
/// Backward: each output's gradient is spread evenly over its window:
///           ∂L/∂x[n,c,p,q] = 1/(kh·kw) · Σ_{u,v : (p,q) in window(u,v)} ∂L/∂y[n,c,u,v]
/// (seed 001's upsample example: δ = [[2,8],[4,6]] → [[.5,.5,2,2],[.5,.5,2,2],[1,1,1.5,1.5],[1,1,1.5,1.5]].)
/// </summary>
public sealed class MeanPool2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates mean pooling with a square window and stride = window unless given.</summary>
    public MeanPool2d(int window, int? stride = null, PoolEdge edge = PoolEdge.Drop)
        : this(window, window, stride ?? window, edge) { }

    /// <summary>Creates mean pooling with a kh x kw window.</summary>
    public MeanPool2d(int windowHeight, int windowWidth, int stride, PoolEdge edge)
    {
        Window = new PoolWindow(windowHeight, windowWidth, stride, edge);
    }

    /// <summary>The window geometry.</summary>
    public PoolWindow Window { get; }

    /// <inheritdoc />
    public override string Token => "meanpool" + Window.Suffix;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * Window.Height * Window.Width;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        WindowSums.Forward(x, y, n * InputShape.Channels, InputShape, OutputShape, Window);
        T scale = T.One / T.CreateChecked(Window.Height * Window.Width);
        foreach (ref T v in y[..(n * OutputShape.Size)]) v *= scale;
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        T scale = T.One / T.CreateChecked(Window.Height * Window.Width);
        WindowSums.Backward(dy, dx, n * InputShape.Channels, InputShape, OutputShape, Window, planeScale: null, scale);
    }
}
